package generate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/comfybatch/comfybatch"
)

// attempt runs one submission of js on in and settles the outcome.
func (rs *runState) attempt(ctx context.Context, in *instance, js *jobState) {
	job := js.task.Job
	js.attempts++
	a := Attempt{JobKey: job.Key, Instance: in.cfg.Name, PromptID: NewPromptID(), Number: js.attempts}
	js.last = a
	if bs := rs.f.opts.BeforeSubmit; bs != nil {
		if err := bs(ctx, a); err != nil {
			if ctx.Err() != nil {
				return
			}
			// Without a durable record a resume could not find the prompt:
			// fail the job rather than generate it untracked.
			rs.settle(ctx, in, js, nil, fmt.Errorf("job %s: record attempt %d: %w", job.Key, a.Number, err), false)
			return
		}
	}
	if rs.f.isDraining() {
		// Recorded but never sent: nothing of it is on a server.
		rs.f.reportCancelled(in, a, nil)
		return
	}
	cands, err := in.generate(ctx, js, a)
	if ctx.Err() != nil {
		// Run returns ctx's error. After Shutdown, whatever it could stop
		// is stopped: the job is left unfinished, and says so.
		if rs.f.isDraining() {
			rs.f.reportCancelled(in, a, ctx.Err())
		}
		return
	}
	if errors.Is(err, errStolen) {
		return // the job belongs to the instance that took it over
	}
	rs.settle(ctx, in, js, cands, err, true)
}

// settle turns an attempt's outcome into a Result or a retry.
func (rs *runState) settle(ctx context.Context, in *instance, js *jobState, cands []comfybatch.Candidate, err error, mayRetry bool) {
	f := rs.f
	key := js.task.Job.Key
	if err == nil {
		f.emit(Event{Kind: EventDone, Instance: in.cfg.Name, JobKey: key, PromptID: cands[0].PromptID, Attempt: cands[0].Attempt})
		rs.finish(ctx, Result{Candidate: cands[0], Candidates: cands, Attempts: js.attempts})
		return
	}
	if f.isDraining() && !errors.Is(err, comfybatch.ErrInvalid) {
		// Stopped by Shutdown: left unfinished, not failed.
		f.reportCancelled(in, js.last, err)
		return
	}
	in.mu.Lock()
	in.st.Failures++
	in.mu.Unlock()
	if mayRetry && rs.requeue(js, in, err) {
		in.log.Warn("attempt failed, retrying", "job", key, "attempt", js.attempts, "err", err)
		f.emit(Event{Kind: EventRetry, Instance: in.cfg.Name, JobKey: key, PromptID: js.last.PromptID, Attempt: js.last.Number, Err: err})
		return
	}
	f.emit(Event{Kind: EventFailed, Instance: in.cfg.Name, JobKey: key, PromptID: js.last.PromptID, Attempt: js.last.Number, Err: err})
	rs.finish(ctx, js.failed(err))
}

// generate submits one attempt, waits for it and downloads its image. While
// the prompt is pending, tail stealing may take it over; generate then
// returns errStolen and must not touch js again.
func (in *instance) generate(ctx context.Context, js *jobState, a Attempt) ([]comfybatch.Candidate, error) {
	job := js.task.Job
	wf, err := in.prepare(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("instance %s: job %s: %w", in.cfg.Name, job.Key, err)
	}
	ch := in.register(a.PromptID)
	defer in.unregister(a.PromptID)
	// Tracked until the image is downloaded: Shutdown waits for a prompt
	// that finished while its image is being fetched.
	in.f.track(a, in)
	defer in.f.untrack(a.PromptID)
	queued := time.Now()
	resp, err := in.c.Submit(ctx, SubmitRequest{
		Prompt:    wf,
		PromptID:  a.PromptID,
		ClientID:  in.currentClientID(),
		ExtraData: map[string]any{"comfybatch": map[string]any{"job": job.Key, "attempt": a.Number}},
	})
	in.observe(err)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A 5xx or a reset may come after the server queued the prompt
		// (§2.5): look before declaring it not submitted.
		if !errors.Is(err, comfybatch.ErrTransient) || !in.received(ctx, a.PromptID) {
			return nil, fmt.Errorf("instance %s: submit job %s: %w", in.cfg.Name, job.Key, err)
		}
	}
	in.f.sent(a.PromptID)
	if len(resp.NodeErrors) > 0 {
		// Accepted with some outputs dropped (§2.2): the remaining output
		// still yields the candidate, but people should know.
		in.log.Warn("prompt partially accepted", "job", job.Key, "prompt_id", a.PromptID, "node_errors", resp.NodeErrors)
	}
	in.mu.Lock()
	in.st.Prompts++
	in.mu.Unlock()
	in.f.emit(Event{Kind: EventSubmitted, Instance: in.cfg.Name, JobKey: job.Key, PromptID: a.PromptID, Attempt: a.Number})

	// Stealable only once the server has it: a delete racing the
	// submission could not prove the prompt gone.
	in.addFlight(js, a)
	h, err := in.await(ctx, job.Key, a, ch)
	in.removeFlight(a.PromptID)
	if errors.Is(err, errStolen) {
		return nil, err
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("instance %s: job %s: %w", in.cfg.Name, job.Key, err)
	}
	in.f.collecting(a.PromptID)
	return in.collect(ctx, job, a, h, queued)
}

// received reports whether a prompt whose submission failed is on the
// server after all.
func (in *instance) received(ctx context.Context, pid string) bool {
	q, err := in.c.Queue(ctx)
	if err != nil {
		return false
	}
	if q.Has(pid) {
		return true
	}
	h, err := in.c.History(ctx, pid)
	return err == nil && h != nil
}

// await waits until the prompt's history entry exists. Completion comes
// from the WebSocket (fast path) or from polling /queue and /history
// (every PollInterval, and at once after a reconnect). A prompt seen in
// neither twice in a row was lost, typically in a restart.
func (in *instance) await(ctx context.Context, jobKey string, a Attempt, ch <-chan Message) (*HistoryEntry, error) {
	pid := a.PromptID
	opts := in.f.opts
	var timeout <-chan time.Time
	if opts.JobTimeout > 0 {
		t := time.NewTimer(opts.JobTimeout)
		defer t.Stop()
		timeout = t.C
	}
	poll := time.NewTicker(opts.PollInterval)
	defer poll.Stop()
	var (
		fast     *time.Timer // history polling after a terminal event
		fastC    <-chan time.Time
		fastWait = 5 * time.Millisecond
		fastEnd  time.Time
		missing  int
		confirm  *time.Timer // a second look soon after a prompt was missing once
		confirmC <-chan time.Time
	)
	defer func() {
		if fast != nil {
			fast.Stop()
		}
		if confirm != nil {
			confirm.Stop()
		}
	}()
	for {
		check := false
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case m := <-ch:
			switch {
			case m.Type == "execution_start":
				in.f.emit(Event{Kind: EventStarted, Instance: in.cfg.Name, JobKey: jobKey, PromptID: pid, Attempt: a.Number})
			case m.Type == "reconcile":
				check = true
			case m.Terminal() && fast == nil:
				fastEnd = time.Now().Add(min(30*time.Second, 20*opts.PollInterval))
				fast = time.NewTimer(0)
				fastC = fast.C
			case m.Terminal() && m.Type == "executing":
				// executing {node: null} follows the history write (§5.3): look now.
				fast.Reset(0)
				fastC = fast.C
			}
		case <-fastC:
			h, err := in.c.History(ctx, pid)
			in.observe(err)
			if h != nil {
				return h, nil
			}
			if time.Now().After(fastEnd) {
				fastC = nil // give up the fast path; the poll decides
				continue
			}
			fastWait = min(fastWait*2, opts.PollInterval)
			fast.Reset(fastWait)
		case <-poll.C:
			check = true
		case <-confirmC:
			confirmC = nil
			check = true
		case <-timeout:
			if stealing, stolen := in.stealState(pid); stealing || stolen {
				// The steal decides; look again soon.
				t := time.NewTimer(opts.PollInterval)
				defer t.Stop()
				timeout = t.C
				check = true
				break
			}
			in.cancelPrompts(ctx, map[string]bool{pid: true})
			return nil, fmt.Errorf("prompt %s timed out after %s: %w", pid, opts.JobTimeout, comfybatch.ErrTransient)
		}
		if !check {
			continue
		}
		if _, stolen := in.stealState(pid); stolen {
			return nil, errStolen
		}
		h, queuedOrRunning, err := in.reconcile(ctx, pid)
		in.observe(err)
		if stealing, stolen := in.stealState(pid); stealing || stolen {
			// The steal may have deleted it: absence is not a loss. If
			// the steal fails the thief nudges us to look again.
			if stolen {
				return nil, errStolen
			}
			if h != nil {
				return h, nil
			}
			missing = 0
			continue
		}
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if in.isDown() {
				in.abandon(pid) // cancelled when the instance is back
				return nil, fmt.Errorf("prompt %s: instance unreachable: %w", pid, err)
			}
		case h != nil:
			return h, nil
		case queuedOrRunning:
			missing = 0
		default:
			missing++
			if missing >= 2 {
				in.forgetUploads()
				return nil, fmt.Errorf("prompt %s is in neither queue nor history (server restarted?): %w", pid, comfybatch.ErrTransient)
			}
			// Confirm soon rather than a PollInterval later: a restarted
			// server must get its slots' work back within seconds.
			d := min(opts.Backoff, opts.PollInterval/4)
			if confirm == nil {
				confirm = time.NewTimer(d)
			} else {
				confirm.Reset(d)
			}
			confirmC = confirm.C
		}
	}
}

// reconcile looks a prompt up: /queue first, then /history, so a prompt
// finishing in between is not taken for lost.
func (in *instance) reconcile(ctx context.Context, pid string) (h *HistoryEntry, queued bool, err error) {
	q, err := in.c.Queue(ctx)
	if err != nil {
		return nil, false, err
	}
	if q.Has(pid) {
		return nil, true, nil
	}
	h, err = in.c.History(ctx, pid)
	return h, false, err
}

func (in *instance) forgetUploads() {
	in.mu.Lock()
	in.uploads = map[string]string{}
	in.mu.Unlock()
}

// collect turns a history entry into the job's candidates: every image
// of its output nodes (Job.Outputs; without them, the first image the
// prompt saved), each downloaded and verified, with the server's
// execution times. Each output node must have saved the same number of
// images, Job.Images in all: a prompt whose images are missing is a
// failed attempt, never a half-recorded batch.
func (in *instance) collect(ctx context.Context, job comfybatch.Job, a Attempt, h *HistoryEntry, queued time.Time) ([]comfybatch.Candidate, error) {
	now := time.Now()
	started, finished := queued, now
	if ms, ok := h.timestamp("execution_start"); ok {
		started = time.UnixMilli(ms)
	}
	for _, ev := range []string{"execution_success", "execution_error", "execution_interrupted"} {
		if ms, ok := h.timestamp(ev); ok {
			finished = time.UnixMilli(ms)
			break
		}
	}
	in.mu.Lock()
	if d := finished.Sub(started); d > 0 {
		in.st.Busy += d
		if !queued.IsZero() {
			in.observeExecLocked(d) // adopted prompts' times are not this run's
		}
	}
	in.mu.Unlock()
	if err := h.Err(); err != nil {
		if isOOM(err) {
			// Out of memory: unload models before the next prompt (§8).
			if ferr := in.c.Free(ctx, true, true); ferr != nil {
				in.log.Warn("free after out-of-memory", "err", ferr)
			}
		}
		return nil, fmt.Errorf("instance %s: job %s: %w", in.cfg.Name, job.Key, err)
	}
	images, err := outputImages(job, h)
	if err != nil {
		return nil, fmt.Errorf("instance %s: job %s: prompt %s: %w", in.cfg.Name, job.Key, a.PromptID, err)
	}
	out := make([]comfybatch.Candidate, 0, len(images))
	for _, img := range images {
		t0 := time.Now()
		data, err := in.fetch(ctx, img.ref)
		if err != nil {
			return nil, fmt.Errorf("instance %s: job %s: prompt %s: %w", in.cfg.Name, job.Key, a.PromptID, err)
		}
		out = append(out, comfybatch.Candidate{
			Job:        job,
			Instance:   in.cfg.Name,
			PromptID:   a.PromptID,
			Attempt:    a.Number,
			Image:      data,
			Filename:   img.ref.Filename,
			Queued:     queued,
			Started:    started,
			Finished:   finished,
			Download:   time.Since(t0),
			Output:     img.node,
			BatchIndex: img.index,
		})
	}
	return out, nil
}

// outputImage is one image a prompt yields as a candidate.
type outputImage struct {
	node  string
	index int
	ref   ImageRef
}

// outputImages lists the images of a history entry that are the job's
// candidates: every image of each of Job.Outputs, in node id then batch
// order; without Outputs, the first image the prompt saved.
func outputImages(job comfybatch.Job, h *HistoryEntry) ([]outputImage, error) {
	if len(job.Outputs) == 0 {
		node, ref, ok := h.firstImage()
		if !ok {
			return nil, fmt.Errorf("finished without an output image: %w", comfybatch.ErrExecution)
		}
		return []outputImage{{node: node, ref: ref}}, nil
	}
	per := job.ImageCount() / len(job.Outputs)
	var out []outputImage
	for _, id := range job.Outputs {
		imgs := h.Outputs[id].Images
		if len(imgs) != per {
			return nil, fmt.Errorf("output node %s saved %d images, want %d (batch size): %w", id, len(imgs), per, comfybatch.ErrExecution)
		}
		for i, ref := range imgs {
			out = append(out, outputImage{node: id, index: i, ref: ref})
		}
	}
	return out, nil
}

// resume adopts the newest prior attempt that is still known to its
// server; when none is, the job is queued for a new attempt.
func (rs *runState) resume(ctx context.Context, js *jobState) {
	prior := append([]Attempt(nil), js.task.Prior...)
	sort.Slice(prior, func(i, j int) bool { return prior[i].Number > prior[j].Number })
	for _, p := range prior {
		in := rs.f.byName(p.Instance)
		if in == nil {
			continue
		}
		h, err := in.lookup(ctx, js.task.Job.Key, p)
		if ctx.Err() != nil {
			if rs.f.isDraining() && h == nil && err != nil {
				rs.f.reportCancelled(in, p, ctx.Err()) // the adoption was cut short
			}
			return
		}
		if err != nil || h == nil {
			continue
		}
		cands, err := in.collect(ctx, js.task.Job, p, h, time.Time{})
		if ctx.Err() != nil {
			return
		}
		js.last = p
		rs.f.emit(Event{Kind: EventAdopted, Instance: in.cfg.Name, JobKey: p.JobKey, PromptID: p.PromptID, Attempt: p.Number, Err: err})
		rs.settle(ctx, in, js, cands, err, true)
		return
	}
	rs.enqueue(js)
}

// lookup finds a prior prompt: its history entry, waiting for it when it
// is still queued or running; nil, nil when the server no longer knows it.
func (in *instance) lookup(ctx context.Context, jobKey string, p Attempt) (*HistoryEntry, error) {
	ch := in.register(p.PromptID)
	defer in.unregister(p.PromptID)
	h, queued, err := in.reconcile(ctx, p.PromptID)
	if err != nil || h != nil || !queued {
		return h, err
	}
	in.f.track(p, in)
	in.f.sent(p.PromptID)
	defer in.f.untrack(p.PromptID)
	return in.await(ctx, jobKey, p, ch)
}

func (f *Fleet) byName(name string) *instance {
	for _, in := range f.insts {
		if in.cfg.Name == name {
			return in
		}
	}
	return nil
}

// viewTries bounds the downloads of one output image in one attempt.
const viewTries = 3

// fetch downloads an output image and checks it is whole (VerifyImage).
// A damaged or interrupted download is fetched again, up to viewTries
// times with a jittered, growing backoff; if it stays bad the error is
// comfybatch.ErrTransient (the attempt is retried, elsewhere when
// possible) and the bytes are never returned. Other HTTP errors are
// returned at once, classified as View classifies them.
func (in *instance) fetch(ctx context.Context, ref ImageRef) ([]byte, error) {
	var last error
	for try := range viewTries {
		if try > 0 && !sleep(ctx, jitter(in.f.opts.Backoff<<(try-1))) {
			return nil, ctx.Err()
		}
		data, err := in.c.View(ctx, ref)
		in.observe(err)
		switch {
		case err != nil && (ctx.Err() != nil || !errors.Is(err, comfybatch.ErrTransient)):
			return nil, err
		case err != nil:
			last = err
		default:
			verr := VerifyImage(data, in.f.opts.MaxImageSide)
			if verr == nil {
				return data, nil
			}
			last = fmt.Errorf("download %s: %w", ref.Filename, verr)
		}
		in.log.Warn("bad download, fetching again", "file", ref.Filename, "try", try+1, "err", last)
	}
	return nil, fmt.Errorf("%w (after %d tries): %w", last, viewTries, comfybatch.ErrTransient)
}

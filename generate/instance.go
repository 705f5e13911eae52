package generate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
)

// downAfter is how many transient failures in a row take an instance out.
const downAfter = 3

// instance is the fleet's view of one server: its client, WebSocket
// state, prompt waiters, health and counters. Fields under mu.
type instance struct {
	cfg Instance
	c   *Client
	f   *Fleet
	log *slog.Logger

	mu        sync.Mutex
	clientID  string                  // id of the live WebSocket, "" while it is down
	waiters   map[string]chan Message // prompt id -> its events
	uploads   map[string]string       // input sha256 -> server file name
	abandoned map[string]bool         // prompts given up while the server was unreachable
	fails     int                     // transient failures in a row
	down      bool
	downSince time.Time
	downTotal time.Duration
	last      string             // affinity of the last job handed out
	flights   map[string]*flight // our Run's submitted prompts not yet settled, for tail stealing
	seq       uint64             // submission order of flights
	exec      time.Duration      // moving average of execution time, 0 before the first sample
	st        InstanceStats
	downErr   error // why it went down, for messages
	checked   bool  // accept is known: given, built from /object_info, or no Check
	accept    func(comfybatch.Job) error
	refusal   error // set when the check itself failed: the instance runs nothing

	probeNow chan struct{} // wakes the prober: the instance just went down
	upNow    chan struct{} // wakes the watcher: the instance just came back
}

func newInstance(cfg Instance, f *Fleet) *instance {
	log := f.log.With("instance", cfg.Name)
	return &instance{
		cfg:       cfg,
		c:         NewClient(cfg.URL, f.opts.HTTPClient, ClientOptions{Headers: cfg.Headers, Logger: log}),
		f:         f,
		log:       log,
		waiters:   map[string]chan Message{},
		uploads:   map[string]string{},
		abandoned: map[string]bool{},
		flights:   map[string]*flight{},
		st:        InstanceStats{Name: cfg.Name},
		checked:   cfg.Accept != nil || f.opts.Check == nil,
		accept:    cfg.Accept,
		probeNow:  make(chan struct{}, 1),
		upNow:     make(chan struct{}, 1),
	}
}

// poke wakes a goroutine waiting on ch without blocking.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// canRun reports whether the instance may run the job: it carries the
// job's tags, its check is done, and it accepts the job.
func (in *instance) canRun(j comfybatch.Job) bool {
	return in.refuses(j) == nil
}

// refuses says why the instance may not run the job, nil when it may;
// errNotChecked while its /object_info check is still to come.
func (in *instance) refuses(j comfybatch.Job) error {
	if !in.hasTags(j.Tags) {
		return fmt.Errorf("it lacks tags %v (it has %v)", j.Tags, in.cfg.Tags)
	}
	in.mu.Lock()
	checked, accept, refusal := in.checked, in.accept, in.refusal
	in.mu.Unlock()
	switch {
	case !checked:
		return errNotChecked
	case refusal != nil:
		return refusal
	case accept != nil:
		return accept(j)
	}
	return nil
}

// errNotChecked: the instance's /object_info has not been checked yet.
var errNotChecked = errors.New("its /object_info is not checked yet")

func (in *instance) stats() InstanceStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.st
	s.Down = in.downTotal
	if in.down {
		s.Down += time.Since(in.downSince)
	}
	return s
}

// weight is Instance.Weight (NewFleet makes it positive).
func (in *instance) weight() float64 { return in.cfg.Weight }

func (in *instance) hasTags(tags []string) bool {
	for _, t := range tags {
		found := false
		for _, have := range in.cfg.Tags {
			if have == t {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (in *instance) isDown() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.down
}

func (in *instance) currentClientID() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.clientID
}

// observe feeds health: a transient failure counts towards taking the
// instance out, anything else (success or a definite answer) resets.
// It reports whether this call took the instance down.
//
// A refusal of our credentials (HTTPError.Auth) takes the instance out at
// once: no request to it can succeed until its headers change, so its
// jobs go elsewhere; the prober keeps asking and brings it back if the
// credentials start working (a proxy's token list was fixed).
func (in *instance) observe(err error) bool {
	transient := err != nil && errors.Is(err, comfybatch.ErrTransient) && !isExec(err)
	auth := err != nil && IsAuth(err)
	in.mu.Lock()
	if !transient && !auth {
		in.fails = 0
		in.mu.Unlock()
		return false
	}
	in.fails++
	if (in.fails < downAfter && !auth) || in.down {
		in.mu.Unlock()
		return false
	}
	in.down, in.downSince, in.downErr = true, time.Now(), err
	in.mu.Unlock()
	in.log.Warn("instance down", "err", err)
	in.f.emit(Event{Kind: EventInstanceDown, Instance: in.cfg.Name, Err: err})
	poke(in.probeNow)
	in.f.wakeAll() // its slots stop; a job avoiding another instance may now run there
	return true
}

func isExec(err error) bool {
	var e *ExecError
	return errors.As(err, &e)
}

// markUp brings the instance back after a successful probe. Uploads are
// forgotten: the server may have restarted and lost its input folder.
func (in *instance) markUp() {
	in.mu.Lock()
	if !in.down {
		in.mu.Unlock()
		return
	}
	in.down, in.fails, in.downErr = false, 0, nil
	in.downTotal += time.Since(in.downSince)
	in.uploads = map[string]string{}
	ab := in.abandoned
	in.abandoned = map[string]bool{}
	in.mu.Unlock()
	in.log.Info("instance up")
	in.f.emit(Event{Kind: EventInstanceUp, Instance: in.cfg.Name})
	// Work first: its slots and its WebSocket need not wait for the
	// clean-up below.
	in.f.wakeAll()
	poke(in.upNow)
	if len(ab) > 0 {
		in.cancelPrompts(context.Background(), ab)
	}
}

// cancelPrompts removes prompts we no longer wait for: deleted if pending,
// interrupted if running. Best effort, bounded by a short timeout. It
// returns the ids it deleted and the ids it interrupted.
func (in *instance) cancelPrompts(ctx context.Context, ids map[string]bool) (deleted, interrupted []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	q, err := in.c.Queue(ctx)
	if err != nil {
		return nil, nil
	}
	var del []string
	for _, it := range q.Pending {
		if ids[it.PromptID] {
			del = append(del, it.PromptID)
		}
	}
	if err := in.c.DeleteQueued(ctx, del...); err != nil {
		in.log.Debug("delete abandoned prompts", "err", err)
	} else {
		deleted = del
	}
	for _, it := range q.Running {
		if ids[it.PromptID] {
			// Best effort; the prompt is not ours to wait for any more.
			if in.c.Interrupt(ctx, it.PromptID) == nil {
				interrupted = append(interrupted, it.PromptID)
			}
		}
	}
	return deleted, interrupted
}

func (in *instance) abandon(pid string) {
	in.mu.Lock()
	in.abandoned[pid] = true
	in.mu.Unlock()
}

// register creates the event channel of a prompt before it is submitted:
// events can arrive before POST /prompt returns (comfyui-protocol.md §4.5).
func (in *instance) register(pid string) chan Message {
	ch := make(chan Message, 16)
	in.mu.Lock()
	in.waiters[pid] = ch
	in.mu.Unlock()
	return ch
}

func (in *instance) unregister(pid string) {
	in.mu.Lock()
	delete(in.waiters, pid)
	in.mu.Unlock()
}

// dispatch hands a message to its prompt's waiter without blocking; a full
// channel drops it (the poll catches up).
func (in *instance) dispatch(m Message) {
	// Only what await acts on: progress chatter would fill the channel and
	// push out the terminal event.
	if m.PromptID == "" || !(m.Terminal() || m.Type == "execution_start") {
		return
	}
	in.mu.Lock()
	ch := in.waiters[m.PromptID]
	if fl := in.flights[m.PromptID]; fl != nil && m.Type == "execution_start" {
		fl.startAt = time.Now() // running prompts are never stolen
	}
	in.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- m:
	default:
	}
}

// nudgeAll asks every waiter to reconcile now (after a reconnect).
func (in *instance) nudgeAll() {
	in.dispatchAll(Message{Type: "reconcile"})
}

func (in *instance) dispatchAll(m Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, ch := range in.waiters {
		select {
		case ch <- m:
		default:
		}
	}
}

// watch keeps one WebSocket open until ctx ends, reconnecting with backoff
// and jitter and a fresh client id each time (a reused id can be silently
// cut off, §4.1). After every (re)connect waiters reconcile with /queue and
// /history, so no completion is missed. The backoff grows up to
// maxRetryDelay, and an instance coming back up reconnects at once.
//
// ready is closed after the first attempt, successful or not, so the first
// prompts carry a client id when a socket is possible.
func (in *instance) watch(ctx context.Context, ready chan<- struct{}) {
	delay := in.f.opts.Backoff
	maxDelay := in.f.maxRetryDelay()
	wait := func() bool {
		t := time.NewTimer(jitter(delay))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-in.upNow:
			delay = in.f.opts.Backoff
		}
		return true
	}
	first := true
	defer func() {
		if first {
			close(ready) // the run ended before the first attempt
		}
	}()
	for ctx.Err() == nil {
		id := "comfybatch-" + strings.ReplaceAll(NewPromptID(), "-", "")
		cctx, cancel := context.WithTimeout(ctx, 10*in.f.opts.Backoff+time.Second)
		w, err := in.c.Connect(cctx, id)
		cancel()
		if first {
			first = false
			if err == nil {
				in.mu.Lock()
				in.clientID = id
				in.mu.Unlock()
			}
			close(ready)
		}
		if err != nil {
			in.log.Debug("websocket connect failed", "err", err)
			if !wait() {
				return
			}
			delay = min(delay*2, maxDelay)
			continue
		}
		in.mu.Lock()
		in.clientID = id
		in.mu.Unlock()
		in.nudgeAll()
		connected := time.Now()
		in.pump(ctx, w)
		w.Close()
		in.mu.Lock()
		in.clientID = ""
		in.mu.Unlock()
		in.nudgeAll()
		if ctx.Err() != nil {
			return
		}
		in.log.Debug("websocket dropped, reconnecting", "err", w.Err())
		if time.Since(connected) > 4*in.f.opts.Backoff {
			delay = in.f.opts.Backoff
		}
		if !wait() {
			return
		}
		delay = min(delay*2, maxDelay)
	}
}

// maxRetryDelay caps the reconnect backoff and is the health probe's
// interval: a server that answers again must get work within a few
// seconds (issue 12), so no wait grows past PollInterval (and past
// 16×Backoff when that is shorter). Against one server, one small request
// a second is nothing.
func (f *Fleet) maxRetryDelay() time.Duration {
	return min(f.opts.PollInterval, 16*f.opts.Backoff)
}

func (in *instance) pump(ctx context.Context, w *Watch) {
	for {
		select {
		case m, ok := <-w.Messages():
			if !ok {
				return
			}
			in.dispatch(m)
		case <-ctx.Done():
			return
		}
	}
}

// probe brings the instance back when it is down: GET /system_stats
// every maxRetryDelay (jittered within its second half) until it answers
// or ctx ends. The delay does not grow: how soon a recovered server gets
// work is the probe interval plus one request. When Options.Check is set
// and the instance was given without Accept, probe also fetches its
// /object_info once it is reachable, before it gets any job.
func (in *instance) probe(ctx context.Context) {
	every := in.f.maxRetryDelay()
	for {
		in.mu.Lock()
		down, checked := in.down, in.checked
		in.mu.Unlock()
		switch {
		case down:
			if !sleep(ctx, every/2+rand.N(every/2+1)) {
				return
			}
			pctx, cancel := context.WithTimeout(ctx, every+time.Second)
			_, err := in.c.SystemStats(pctx)
			cancel()
			if err == nil {
				in.markUp()
			} else if IsAuth(err) {
				in.mu.Lock()
				in.downErr = err
				in.mu.Unlock()
			}
		case !checked:
			if !in.check(ctx) && !sleep(ctx, every/2+rand.N(every/2+1)) {
				return
			}
		default:
			select {
			case <-ctx.Done():
				return
			case <-in.probeNow:
			}
		}
	}
}

// check fetches the instance's /object_info and builds its Accept with
// Options.Check. It reports false when the fetch failed and must be tried
// again; a failure that retrying cannot fix (an unreadable catalogue, a
// refusal) makes the instance refuse every job, with that reason.
func (in *instance) check(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	info, err := in.c.ObjectInfo(cctx)
	cancel()
	in.observe(err)
	if err != nil && (ctx.Err() != nil || errors.Is(err, comfybatch.ErrTransient) || IsAuth(err)) {
		in.log.Debug("fetch /object_info", "err", err)
		return false // again when it answers (an auth refusal took it down)
	}
	var accept func(comfybatch.Job) error
	if err == nil {
		accept, err = in.f.opts.Check(in.cfg.Name, info)
	}
	in.mu.Lock()
	in.checked, in.accept = true, accept
	if err != nil {
		in.refusal = fmt.Errorf("its node catalogue could not be checked: %w", err)
	}
	in.mu.Unlock()
	if err != nil {
		in.log.Warn("instance gets no jobs: /object_info check failed", "err", err)
	} else {
		in.log.Info("instance checked")
	}
	in.f.checkedOne(ctx)
	return true
}

// drainPrompts is Shutdown's work on one instance. Until none of our
// prompts is tracked on it, or ctx ends: it deletes our pending prompts and
// reports those confirmed gone without having run as cancelled; it reports
// a prompt in neither queue nor history as cancelled (it never ran, or was
// lost in a restart); and it waits for the others (running, on their way
// in, or finished and being collected by their Run). When ctx ends it
// deletes or interrupts what is left; their attempts report them.
func (in *instance) drainPrompts(ctx context.Context) error {
	for {
		ours := in.f.ours(in)
		if len(ours) == 0 {
			return nil
		}
		if q, err := in.c.Queue(ctx); err == nil {
			var del []string
			for _, it := range q.Pending {
				if _, ok := ours[it.PromptID]; ok {
					del = append(del, it.PromptID)
				}
			}
			if len(del) > 0 {
				if err := in.c.DeleteQueued(ctx, del...); err != nil {
					if ctx.Err() == nil {
						in.log.Warn("delete our pending prompts", "err", err)
					}
				} else {
					in.confirmDeleted(ctx, del, ours)
				}
			}
			for pid, t := range ours {
				if !t.sent || t.collecting || q.Has(pid) {
					continue // on its way in, being collected, or queued or running
				}
				// Finished (its Run collects it), never ran, or lost.
				if h, err := in.c.History(ctx, pid); err == nil && h == nil {
					in.f.reportCancelled(in, t.a, nil)
				}
			}
		}
		select {
		case <-ctx.Done():
			// Whatever is left belongs to a live attempt, which reports it
			// when it ends (a Result if the prompt finished after all,
			// else an EventCancelled): note why, so that it can say so.
			ours = in.f.ours(in)
			ids := map[string]bool{}
			for pid := range ours {
				ids[pid] = true
			}
			deleted, interrupted := in.cancelPrompts(ctx, ids)
			for _, pid := range deleted {
				in.f.noteGivenUp(pid, errors.New("deleted from the queue when the shutdown grace period ended"))
			}
			for _, pid := range interrupted {
				in.f.noteGivenUp(pid, fmt.Errorf("interrupted when the shutdown grace period ended: %w", comfybatch.ErrInterrupted))
			}
			return nil
		case <-time.After(in.f.opts.PollInterval / 4):
		}
	}
}

// confirmDeleted reports the deleted prompts that are now neither queued
// nor running and have no history entry: they never executed. One that
// started meanwhile is left to finish (or to be interrupted at the end of
// the grace period).
func (in *instance) confirmDeleted(ctx context.Context, del []string, ours map[string]tracked) {
	q, err := in.c.Queue(ctx)
	if err != nil {
		return // the next round looks again
	}
	for _, pid := range del {
		if q.Has(pid) {
			continue
		}
		if h, err := in.c.History(ctx, pid); err == nil && h == nil {
			in.f.reportCancelled(in, ours[pid].a, nil)
		}
	}
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d over [d/2, 3d/2).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

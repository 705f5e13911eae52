package generate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
	"golang.org/x/sync/errgroup"
)

// runState is the work of one Run: the pending jobs and who waits for them.
type runState struct {
	f       *Fleet
	results chan<- Result

	mu        sync.Mutex
	pending   []*jobState        // a window of the tasks: taken, in backoff, or not yet handed out
	window    int                // the most tasks pending holds before the feeder waits
	changed   chan struct{}      // closed and replaced whenever pending or health changes
	remaining int                // tasks received without a Result
	received  int                // tasks received so far
	inputDone bool               // every task has been received: the tail policy may start
	primed    chan struct{}      // closed once the window is first full (or the input done, or the run over)
	busy      map[*instance]int  // slots working on a job
	stop      context.CancelFunc // ends the run's helper goroutines
	tiered    bool               // some instance has Tier > 0
	abandoned error              // set when every instance stayed down too long
}

func (f *Fleet) wakeAll() {
	f.mu.Lock()
	rs := f.run
	f.mu.Unlock()
	if rs != nil {
		rs.wake()
	}
}

func (rs *runState) wake() {
	rs.mu.Lock()
	rs.wakeLocked()
	rs.mu.Unlock()
}

func (rs *runState) wakeLocked() {
	close(rs.changed)
	rs.changed = make(chan struct{})
}

// Run is RunStream over a slice of tasks.
func (f *Fleet) Run(ctx context.Context, tasks []Task, results chan<- Result) error {
	in := make(chan Task)
	var feed sync.WaitGroup
	feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
	feed.Go(func() {
		defer close(in)
		for _, t := range tasks {
			select {
			case in <- t:
			case <-feedCtx.Done():
				return
			}
		}
	})
	err := f.RunStream(ctx, in, results)
	stopFeed()
	feed.Wait()
	return err
}

// RunStream generates the tasks it receives until tasks is closed, and
// sends exactly one Result per task received on results as each finishes,
// except for tasks left unfinished when ctx ends or Shutdown stops the run
// (Shutdown reports each of their attempts with an EventCancelled); it
// never closes results. It takes tasks as slots need them, holding a
// window of a few per slot (affinity and the tail policy choose within
// it), so a stream of a million tasks costs the memory of its window. It
// returns nil when tasks is closed and every task received has a Result,
// ctx's error when ctx ends first, and another error only when the run
// cannot continue: every instance stayed down for Options.GiveUpAfter
// (the tasks in the window then get a Result with ErrOutage first; tasks
// not received yet stay with the caller), or Shutdown stopped it with
// tasks unfinished.
//
// A job that no instance can run (tags, Instance.Accept, the
// Options.Check of its /object_info) gets a Result with ErrInvalid at
// once, or as soon as the last instance's check is done.
//
// RunStream starts, per instance, one worker per InFlight slot, one
// WebSocket watcher and one health prober, plus one feeder that receives
// the tasks, all in one errgroup that it waits for.
func (f *Fleet) RunStream(ctx context.Context, tasks <-chan Task, results chan<- Result) error {
	f.runMu.Lock()
	defer f.runMu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	hctx, stop := context.WithCancel(gctx) // helpers: watchers, probers, the give-up watch
	defer stop()
	rs := &runState{f: f, results: results, changed: make(chan struct{}), busy: map[*instance]int{}, stop: stop,
		primed: make(chan struct{})}
	slots := 0
	for _, in := range f.insts {
		rs.tiered = rs.tiered || in.cfg.Tier > 0
		slots += in.cfg.InFlight
	}
	rs.window = max(64, 4*slots)
	f.mu.Lock()
	f.run = rs
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.run = nil
		f.mu.Unlock()
	}()

	// The feeder, workers and resumers are the run's work; when all of
	// them are done (every task has a Result, ctx ended, or Shutdown), the
	// helpers (watchers, probers, the give-up watch) are stopped. The work
	// group is owned by the goroutine that waits for it, itself in g.
	var work sync.WaitGroup
	for _, in := range f.insts {
		ready := make(chan struct{})
		g.Go(func() error { in.watch(hctx, ready); return nil })
		g.Go(func() error { in.probe(hctx); return nil })
		for range in.cfg.InFlight {
			work.Go(func() {
				// The first hand-out sees a full window: affinity and the
				// tail policy decide among the first tasks, not the first one.
				for _, ch := range []<-chan struct{}{ready, rs.primed} {
					select {
					case <-ch:
					case <-hctx.Done():
					}
				}
				rs.worker(gctx, in)
			})
		}
	}
	g.Go(func() error { rs.watchGiveUp(hctx, gctx); return nil })
	work.Go(func() { rs.feed(gctx, tasks) })
	g.Go(func() error {
		work.Wait()
		stop()
		return nil
	})
	_ = g.Wait() // every goroutine returns nil; ctx is checked below
	if err := ctx.Err(); err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.abandoned != nil {
		return rs.abandoned
	}
	if rs.remaining > 0 || !rs.inputDone {
		return fmt.Errorf("fleet shut down with %d of %d tasks received unfinished: %w", rs.remaining, rs.received, context.Canceled)
	}
	return nil
}

// feed receives the tasks into the pending window as it has room, until
// tasks is closed, ctx ends, Shutdown begins or the run is abandoned.
// Tasks with prior attempts are looked up (a few at a time) before they
// join the window; a job no instance can run gets its Result at once.
func (rs *runState) feed(ctx context.Context, tasks <-chan Task) {
	var resumers errgroup.Group
	resumers.SetLimit(8)
	var primeOnce sync.Once
	prime := func() { primeOnce.Do(func() { close(rs.primed) }) }
	defer func() {
		prime()
		_ = resumers.Wait()
	}()
	for {
		rs.mu.Lock()
		if rs.received >= rs.window {
			prime()
		}
		for len(rs.pending) >= rs.window && ctx.Err() == nil && !rs.f.isDraining() && rs.abandoned == nil {
			ch := rs.changed
			rs.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
			case <-rs.f.drain:
			}
			rs.mu.Lock()
		}
		stopped := ctx.Err() != nil || rs.f.isDraining() || rs.abandoned != nil
		rs.mu.Unlock()
		if stopped {
			return
		}
		var t Task
		var ok bool
		select {
		case t, ok = <-tasks:
		case <-ctx.Done():
			return
		case <-rs.f.drain:
			return
		}
		if !ok {
			rs.mu.Lock()
			rs.inputDone = true
			if rs.remaining == 0 {
				rs.stop()
			}
			rs.wakeLocked()
			rs.mu.Unlock()
			return
		}
		js := &jobState{task: t, attempts: max(len(t.Prior), t.Attempted)}
		for _, a := range t.Prior {
			js.attempts = max(js.attempts, a.Number)
		}
		js.before = js.attempts
		rs.mu.Lock()
		rs.remaining++
		rs.received++
		if rs.received == 1 {
			// A slow stream must not hold the slots back for long.
			primer := time.AfterFunc(250*time.Millisecond, prime)
			defer primer.Stop()
		}
		rs.mu.Unlock()
		switch err := rs.f.runnable(t.Job); {
		case err != nil:
			rs.finish(ctx, js.failed(err))
		case len(t.Prior) > 0:
			resumers.Go(func() error { rs.resume(ctx, js); return nil })
		default:
			rs.enqueue(js)
		}
	}
}

// worker is one InFlight slot of an instance: take a job, run one attempt,
// repeat until no work is left.
func (rs *runState) worker(ctx context.Context, in *instance) {
	for {
		js := rs.next(ctx, in)
		if js == nil {
			return
		}
		rs.attempt(ctx, in, js)
		rs.mu.Lock()
		rs.busy[in]--
		if rs.tiered {
			rs.wakeLocked() // a free primary slot changes what overflow tiers may take
		}
		rs.mu.Unlock()
	}
}

// next blocks until a job for in is ready, and returns nil when the run
// is over (every task has a Result, ctx ended, or Shutdown began).
func (rs *runState) next(ctx context.Context, in *instance) *jobState {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for {
		if rs.inputDone && rs.remaining == 0 || ctx.Err() != nil || rs.f.isDraining() || rs.abandoned != nil {
			return nil
		}
		now := time.Now()
		var recheck time.Duration
		if !in.isDown() {
			if d := rs.leaveToFasterLocked(in, now); d > 0 {
				recheck = d // the last jobs finish sooner elsewhere
			} else if js := rs.pickLocked(in, now); js != nil {
				rs.busy[in]++
				if rs.tiered || rs.busy[in] == 1 || len(rs.pending) == rs.window-1 {
					// (The feeder may be waiting for room in the window.)
					// A busier primary may let an overflow tier take work,
					// and a slot that left work to this idle instance
					// (breadth first) may now take it.
					rs.wakeLocked()
				}
				return js
			}
			if rs.inputDone && len(rs.pending) == 0 && !rs.f.opts.NoSteal {
				js, unlocked := rs.stealLocked(ctx, in, now)
				if js != nil {
					return js
				}
				if unlocked {
					continue // rs.mu was released: a wake-up may have been missed
				}
				// Estimates grow while prompts run: look again now and then.
				recheck = rs.f.opts.PollInterval / 4
			}
		}
		var t *time.Timer
		var wait <-chan time.Time
		soon := rs.earliestLocked(now)
		if recheck > 0 && (soon == 0 || recheck < soon) {
			soon = recheck
		}
		if soon > 0 {
			t = time.NewTimer(soon)
			wait = t.C
		}
		ch := rs.changed
		rs.mu.Unlock()
		select {
		case <-ch:
		case <-wait:
		case <-ctx.Done():
		case <-rs.f.drain:
		}
		if t != nil {
			t.Stop()
		}
		rs.mu.Lock()
	}
}

// stealLocked tries tail stealing for a free slot of in (see steal.go)
// and returns the job taken over, its slot counted busy, or nil. unlocked
// reports that rs.mu was released for the requests (it is held again on
// return), so the caller must look at the pending jobs again.
func (rs *runState) stealLocked(ctx context.Context, in *instance, now time.Time) (js *jobState, unlocked bool) {
	v, fl := rs.claimStealLocked(in, now)
	if fl == nil {
		return nil, false
	}
	rs.busy[in]++ // reserve the slot, so other thieves count it
	rs.mu.Unlock()
	ok := rs.steal(ctx, in, v, fl)
	rs.mu.Lock()
	rs.wakeLocked() // the victim's slot or other thieves may see a new state
	if ok && ctx.Err() == nil && !rs.f.isDraining() {
		fl.js.steals++
		return fl.js, true
	}
	// Abandoned (the prompt started, or a request failed; that prompt is
	// never tried again), or taken off the queue while Run is ending: then
	// the job stays unfinished, as Shutdown's other pending jobs do.
	rs.busy[in]--
	return nil, true
}

// earliestLocked is how long until the first job in backoff is ready, 0
// when none is waiting.
func (rs *runState) earliestLocked(now time.Time) time.Duration {
	var d time.Duration
	for _, js := range rs.pending {
		if w := js.notBefore.Sub(now); w > 0 && (d == 0 || w < d) {
			d = w
		}
	}
	return d
}

// finish sends the one Result of a task.
func (rs *runState) finish(ctx context.Context, r Result) {
	// A result that can be delivered is: a prompt that finished as ctx
	// ended must not be lost to select's random choice between two ready
	// cases.
	select {
	case rs.results <- r:
	default:
		select {
		case rs.results <- r:
		case <-ctx.Done():
			return
		}
	}
	rs.mu.Lock()
	rs.remaining--
	if rs.remaining == 0 && rs.inputDone {
		rs.stop()
	}
	rs.wakeLocked()
	rs.mu.Unlock()
}

// requeue puts a job back after a failed attempt, or returns false when
// the retry policy says it is over.
//
// The job's retry state (avoid, notBefore and what retryable counts) is
// written under rs.mu: the schedulers of other instances read it there
// (mayTry, when they look for a prompt to steal).
func (rs *runState) requeue(js *jobState, in *instance, err error) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.f.retryable(js, in, err) || rs.f.isDraining() {
		return false
	}
	js.avoid = in.cfg.Name
	js.notBefore = time.Now().Add(jitter(rs.f.opts.Backoff << min(js.attempts-1, 5)))
	if rs.abandoned != nil {
		return false // the run gave up: this failure is the job's Result
	}
	rs.pending = append(rs.pending, js)
	rs.wakeLocked()
	return true
}

// retryable is the one retry decision. Invalid input is never retried; a
// refusal of our credentials is the instance's problem, not the job's: it
// is taken out and the job goes elsewhere. Transient failures (network,
// 5xx, lost prompts, damaged downloads, out-of-memory and device faults)
// and foreign interrupts are retried, elsewhere when possible. A node
// exception is retried at most once, and only on another instance that
// may run the job (never twice on one server): when no other instance
// can, the job fails with the exception. MaxAttempts bounds everything but
// the attempts tail stealing took over and those refused for credentials
// (each refusal takes an instance down, so they are bounded by the
// number of instances). The caller holds the run's lock (requeue).
func (f *Fleet) retryable(js *jobState, in *instance, err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case IsAuth(err):
		js.refused++ // the instance is down now; another one takes the job
		return true
	case errors.Is(err, comfybatch.ErrInvalid):
		return false
	case errors.Is(err, comfybatch.ErrExecution):
		js.execFails++
		js.execOn = append(js.execOn, in.cfg.Name)
		if js.execFails >= 2 || js.spent() >= f.opts.MaxAttempts {
			return false
		}
		for _, o := range f.insts {
			if !o.isDown() && js.mayTryLater(o) {
				return true
			}
		}
		return false
	case js.spent() >= f.opts.MaxAttempts:
		return false
	case errors.Is(err, comfybatch.ErrTransient), errors.Is(err, comfybatch.ErrInterrupted):
		return true
	}
	return false
}

// watchGiveUp fails every remaining task when all instances have been
// down for GiveUpAfter. It watches until ctx ends and delivers the
// failures under runCtx: once the run is abandoned the workers return and
// ctx is cancelled, and the Results must still be sent.
func (rs *runState) watchGiveUp(ctx, runCtx context.Context) {
	tick := time.NewTicker(max(rs.f.opts.GiveUpAfter/20, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		allDown := true
		var since time.Time
		var why []string
		for _, in := range rs.f.insts {
			in.mu.Lock()
			if !in.down {
				allDown = false
			} else if in.downSince.After(since) {
				since = in.downSince
			}
			if in.downErr != nil {
				why = append(why, fmt.Sprintf("instance %s: %v", in.cfg.Name, in.downErr))
			}
			in.mu.Unlock()
		}
		if !allDown || time.Since(since) < rs.f.opts.GiveUpAfter {
			continue
		}
		cause := ""
		if len(why) > 0 {
			cause = " (" + strings.Join(why, "; ") + ")"
		}
		err := fmt.Errorf("every instance has been down for %s%s: %w (%w)", rs.f.opts.GiveUpAfter, cause, comfybatch.ErrOutage, comfybatch.ErrTransient)
		rs.mu.Lock()
		rs.abandoned = err
		left := rs.pending
		rs.pending = nil
		rs.wakeLocked()
		rs.mu.Unlock()
		for _, js := range left {
			rs.finish(runCtx, js.failed(fmt.Errorf("job %s: %w", js.task.Job.Key, err)))
		}
		return
	}
}

func (rs *runState) enqueue(js *jobState) {
	rs.mu.Lock()
	rs.pending = append(rs.pending, js)
	rs.wakeLocked()
	rs.mu.Unlock()
}

// checkedOne is told by an instance's prober that its /object_info check
// is done: its slots may take work now, and once every instance is
// checked, the jobs none of them accepts get their Result.
func (f *Fleet) checkedOne(ctx context.Context) {
	f.mu.Lock()
	rs := f.run
	f.mu.Unlock()
	if rs == nil {
		return
	}
	rs.wake()
	if !f.allChecked() {
		return
	}
	rs.mu.Lock()
	var keep []*jobState
	var refused []Result
	for _, js := range rs.pending {
		if err := f.runnable(js.task.Job); err != nil {
			refused = append(refused, js.failed(err))
			continue
		}
		keep = append(keep, js)
	}
	rs.pending = keep
	rs.mu.Unlock()
	for _, r := range refused {
		f.emit(Event{Kind: EventFailed, JobKey: r.Candidate.Job.Key, Err: r.Err})
		rs.finish(ctx, r)
	}
}

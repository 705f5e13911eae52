package generate

import (
	"context"
	"errors"
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
	}
}

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
func (in *instance) observe(err error) bool {
	transient := err != nil && errors.Is(err, comfybatch.ErrTransient) && !isExec(err)
	in.mu.Lock()
	if !transient {
		in.fails = 0
		in.mu.Unlock()
		return false
	}
	in.fails++
	if in.fails < downAfter || in.down {
		in.mu.Unlock()
		return false
	}
	in.down, in.downSince = true, time.Now()
	in.mu.Unlock()
	in.log.Warn("instance down", "err", err)
	in.f.emit(Event{Kind: EventInstanceDown, Instance: in.cfg.Name, Err: err})
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
	in.down, in.fails = false, 0
	in.downTotal += time.Since(in.downSince)
	in.uploads = map[string]string{}
	ab := in.abandoned
	in.abandoned = map[string]bool{}
	in.mu.Unlock()
	in.log.Info("instance up")
	in.f.emit(Event{Kind: EventInstanceUp, Instance: in.cfg.Name})
	if len(ab) > 0 {
		in.cancelPrompts(context.Background(), ab)
	}
}

// cancelPrompts removes prompts we no longer wait for: deleted if pending,
// interrupted if running. Best effort, bounded by a short timeout.
func (in *instance) cancelPrompts(ctx context.Context, ids map[string]bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	q, err := in.c.Queue(ctx)
	if err != nil {
		return
	}
	var del []string
	for _, it := range q.Pending {
		if ids[it.PromptID] {
			del = append(del, it.PromptID)
		}
	}
	if err := in.c.DeleteQueued(ctx, del...); err != nil {
		in.log.Debug("delete abandoned prompts", "err", err)
	}
	for _, it := range q.Running {
		if ids[it.PromptID] {
			_ = in.c.Interrupt(ctx, it.PromptID) // best effort; the prompt is not ours to wait for any more
		}
	}
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
// /history, so no completion is missed.
//
// ready is closed after the first attempt, successful or not, so the first
// prompts carry a client id when a socket is possible.
func (in *instance) watch(ctx context.Context, ready chan<- struct{}) {
	delay := in.f.opts.Backoff
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
			if !sleep(ctx, jitter(delay)) {
				return
			}
			delay = min(delay*2, 16*in.f.opts.Backoff)
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
		if !sleep(ctx, jitter(delay)) {
			return
		}
		delay = min(delay*2, 16*in.f.opts.Backoff)
	}
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

// probe brings the instance back when it is down: GET /system_stats with
// growing, jittered delays until it answers or ctx ends.
func (in *instance) probe(ctx context.Context) {
	delay := in.f.opts.Backoff
	for {
		if !in.isDown() {
			delay = in.f.opts.Backoff
			select {
			case <-ctx.Done():
				return
			case <-time.After(in.f.opts.PollInterval):
			}
			continue
		}
		if !sleep(ctx, jitter(delay)) {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 10*in.f.opts.Backoff+time.Second)
		_, err := in.c.SystemStats(pctx)
		cancel()
		if err == nil {
			in.markUp()
			in.f.wakeAll()
			continue
		}
		delay = min(delay*2, 16*in.f.opts.Backoff)
	}
}

// drainPrompts is Shutdown's work on one instance.
func (in *instance) drainPrompts(ctx context.Context) error {
	for {
		ids := in.f.ours(in)
		if len(ids) == 0 {
			return nil
		}
		q, err := in.c.Queue(ctx)
		if err == nil {
			var del []string
			left := false
			for _, it := range q.Pending {
				if ids[it.PromptID] {
					del = append(del, it.PromptID)
				}
			}
			if err := in.c.DeleteQueued(ctx, del...); err != nil && ctx.Err() == nil {
				in.log.Warn("delete our pending prompts", "err", err)
			}
			for _, it := range q.Running {
				left = left || ids[it.PromptID]
			}
			if !left && len(del) == 0 {
				for pid := range ids {
					in.f.untrack(pid) // in neither pending nor running: nothing left to stop
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			in.cancelPrompts(ctx, ids)
			return nil
		case <-time.After(in.f.opts.PollInterval / 4):
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

package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
)

// scorerWatch tracks which scorers are unavailable (an outage: unreachable,
// timeouts, 5xx, 429, refused credentials) during a run. A candidate that
// an unavailable scorer could not score is recorded as scoring pending,
// never rejected. While a scorer is out:
//   - it is not called for new candidates (they go straight to pending);
//   - generation pauses once limit candidates wait for scoring
//     (waitToSubmit blocks the fleet's submissions);
//   - it is probed with backoff, and when it answers again the pending
//     candidates are scored (see recoverScorers);
//   - if it stays out longer than deadline, the run stops with an
//     ErrOutage naming it (expired).
//
// It is safe for concurrent use.
type scorerWatch struct {
	limit    int
	deadline time.Duration
	now      func() time.Time

	mu       sync.Mutex
	down     map[string]outage
	unscored int           // candidates of the run waiting for a scorer
	changed  chan struct{} // closed and replaced when down or unscored change
}

// outage is one scorer's current unavailability.
type outage struct {
	since time.Time
	err   error // the latest error, for messages
}

func newScorerWatch(limit int, deadline time.Duration, unscored int) *scorerWatch {
	if limit <= 0 {
		limit = 64
	}
	if deadline <= 0 {
		deadline = 10 * time.Minute
	}
	return &scorerWatch{limit: limit, deadline: deadline, now: time.Now, down: map[string]outage{},
		unscored: unscored, changed: make(chan struct{})}
}

func (w *scorerWatch) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// isDown reports whether the named scorer is known to be out.
func (w *scorerWatch) isDown(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.down[name]
	return ok
}

// fail records an outage of the named scorer.
func (w *scorerWatch) fail(name string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	o, ok := w.down[name]
	if !ok {
		o.since = w.now()
	}
	o.err = err
	w.down[name] = o
	w.notifyLocked()
}

// recovered records that the named scorer answers again.
func (w *scorerWatch) recovered(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.down[name]; ok {
		delete(w.down, name)
		w.notifyLocked()
	}
}

// downNames returns the scorers currently out, sorted.
func (w *scorerWatch) downNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.down))
	for n := range w.down {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// addUnscored counts candidates recorded as scoring pending (n > 0) or
// scored after all (n < 0).
func (w *scorerWatch) addUnscored(n int) {
	if n == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unscored += n
	w.notifyLocked()
}

// pendingCount is how many candidates wait for a scorer.
func (w *scorerWatch) pendingCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unscored
}

// waitToSubmit blocks while a scorer is out and limit candidates already
// wait for scoring, so that an outage does not turn the whole batch into
// unscored images. It returns ctx's error if ctx ends first.
func (w *scorerWatch) waitToSubmit(ctx context.Context) error {
	for {
		w.mu.Lock()
		blocked := len(w.down) > 0 && w.unscored >= w.limit
		ch := w.changed
		w.mu.Unlock()
		if !blocked {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// expired returns an ErrOutage naming every scorer that has been out for
// longer than the deadline, or nil.
func (w *scorerWatch) expired() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	now := w.now()
	for name, o := range w.down {
		if d := now.Sub(o.since); d >= w.deadline {
			parts = append(parts, fmt.Sprintf("scorer %q has been unavailable for %s (%v)", name, d.Round(time.Second), o.err))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	sort.Strings(parts)
	return fmt.Errorf("%s; %d candidates wait for scoring: rerun the same command when it is back (or batch rescore RUN --pending): %w",
		strings.Join(parts, "; "), w.unscored, comfybatch.ErrOutage)
}

// wait blocks until the watch changes, d passes or ctx ends.
func (w *scorerWatch) wait(ctx context.Context, d time.Duration) {
	w.mu.Lock()
	ch := w.changed
	w.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

// windowKind says what a timed fault of batch sim does to its instance.
type windowKind int

const (
	// downWindow: the instance is unreachable (503, sockets refused) and
	// comes back as it was.
	downWindow windowKind = iota
	// restartWindow: the instance dies (its queue, running prompt, history
	// and caches are lost) and comes back empty.
	restartWindow
)

// flag is the batch sim flag that sets windows of the kind.
func (k windowKind) flag() string {
	if k == restartWindow {
		return "--restart"
	}
	return "--down"
}

// A faultWindow is one timed fault of batch sim: instance is unreachable
// from at (wall time since sim started, not scaled by --time-scale) for
// dur. A restart window also empties the instance at its start. dur 0
// means a down window that lasts until sim stops, or a restart that comes
// back at once.
type faultWindow struct {
	kind     windowKind
	instance int
	at, dur  time.Duration
}

// windowSyntax is how --down and --restart take a window, for messages.
const windowSyntax = "INSTANCE@START[+LENGTH], e.g. 1@10s+20s"

// parseWindow parses a --down or --restart value, INSTANCE@START[+LENGTH]:
// the instance index (0 for the first, below instances), then Go durations
// ("10s", "1m30s", "500ms"). A down window needs a positive LENGTH or
// none (down until sim stops); a restart window may omit it (back at once).
func parseWindow(kind windowKind, spec string, instances int) (faultWindow, error) {
	w := faultWindow{kind: kind}
	idx, rest, ok := strings.Cut(spec, "@")
	if !ok {
		return w, fmt.Errorf("no @ in %q", spec)
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return w, fmt.Errorf("instance %q is not an index (0, 1, ...)", idx)
	}
	if n >= instances {
		return w, fmt.Errorf("instance %d does not exist: --instance-count is %d, so indexes go from 0 to %d", n, instances, instances-1)
	}
	w.instance = n
	start, length, hasLength := strings.Cut(rest, "+")
	if w.at, err = parseOffset("START", start); err != nil {
		return w, err
	}
	if hasLength {
		if w.dur, err = parseOffset("LENGTH", length); err != nil {
			return w, err
		}
		if w.dur == 0 && kind == downWindow {
			return w, errors.New("LENGTH must be positive (leave out +LENGTH to stay down until sim stops)")
		}
	}
	return w, nil
}

// parseOffset parses a non-negative duration named name.
func parseOffset(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a duration such as 10s or 1m30s", name, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s %q is negative", name, s)
	}
	return d, nil
}

// simTarget is what a faultSchedule drives: one simulated instance
// (*comfytest.Server).
type simTarget interface {
	SetFaults(comfytest.Faults)
	Restart()
}

// faultSchedule is the timed faults of batch sim: windows during which an
// instance is down, or dies and comes back empty.
type faultSchedule struct {
	windows []faultWindow
}

// scheduleEvent is a window's start or end.
type scheduleEvent struct {
	at    time.Duration
	start bool
	w     faultWindow
}

// events returns the windows' starts and ends in time order; at the same
// instant starts come first, so that windows that meet leave no gap.
func (s faultSchedule) events() []scheduleEvent {
	var evs []scheduleEvent
	for _, w := range s.windows {
		evs = append(evs, scheduleEvent{at: w.at, start: true, w: w})
		if w.dur > 0 || w.kind == restartWindow {
			evs = append(evs, scheduleEvent{at: w.at + w.dur, w: w})
		}
	}
	slices.SortStableFunc(evs, func(a, b scheduleEvent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		switch {
		case a.start && !b.start:
			return -1
		case !a.start && b.start:
			return 1
		}
		return 0
	})
	return evs
}

// run applies the schedule to targets (instance i is targets[i]; base[i]
// are its faults outside any window) from now on, and writes a line to
// log each time an instance goes down, restarts or comes back. Windows of
// one instance may overlap: it is down while any of them lasts. run
// returns when ctx is done or the last window has ended.
func (s faultSchedule) run(ctx context.Context, targets []simTarget, base []comfytest.Faults, log io.Writer) {
	start := time.Now()
	depth := make([]int, len(targets)) // windows in force per instance
	for _, ev := range s.events() {
		t := time.NewTimer(time.Until(start.Add(ev.at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		i, tg := ev.w.instance, targets[ev.w.instance]
		if ev.start {
			depth[i]++
			if depth[i] == 1 {
				f := base[i]
				f.Down = true
				tg.SetFaults(f)
			}
			switch {
			case ev.w.kind == restartWindow:
				tg.Restart()
				fmt.Fprintf(log, "sim: instance %d down, restarting: its queue, history and cache are lost\n", i)
			case depth[i] == 1:
				fmt.Fprintf(log, "sim: instance %d down\n", i)
			}
			continue
		}
		depth[i]--
		if depth[i] == 0 {
			tg.SetFaults(base[i])
			fmt.Fprintf(log, "sim: instance %d up\n", i)
		}
	}
}

// clipOutage takes batch sim's fake CLIP server down (503) once it has
// answered after images, and brings it back dur later (0 = never). Its
// handler notices the count; its run goroutine does the timing.
type clipOutage struct {
	srv     *cliptest.Server
	after   int
	dur     time.Duration
	healthy scoretest.Faults // the faults once it is back
	down    chan struct{}    // closed when the server has gone down
	once    sync.Once
}

// newClipOutage sets srv's faults to f and arranges for it to go down
// once it has answered after images. After recovery it keeps f's token and
// Retry-After but not its rate limit, which was spent before.
func newClipOutage(srv *cliptest.Server, f scoretest.Faults, after int, dur time.Duration) *clipOutage {
	healthy := f
	healthy.RateLimited = 0
	f.Down, f.DownAfter = scoretest.Unavailable, after
	srv.SetFaults(f)
	c := &clipOutage{srv: srv, after: after, dur: dur, healthy: healthy, down: make(chan struct{})}
	if after == 0 {
		c.wentDown()
	}
	return c
}

// wentDown marks the server down, once.
func (c *clipOutage) wentDown() { c.once.Do(func() { close(c.down) }) }

// handler serves the fake CLIP server and notices when it has answered
// enough images to be down: the answer that crosses the count is the last.
func (c *clipOutage) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.srv.ServeHTTP(w, r)
		if c.srv.Stats().Images >= c.after {
			c.wentDown()
		}
	})
}

// run reports the outage on log when it starts, and ends it after dur. It
// returns when ctx is done or the server is back.
func (c *clipOutage) run(ctx context.Context, log io.Writer) {
	select {
	case <-ctx.Done():
		return
	case <-c.down:
	}
	fmt.Fprintf(log, "sim: CLIP down after %d images\n", c.after)
	if c.dur == 0 {
		return
	}
	t := time.NewTimer(c.dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	c.srv.SetFaults(c.healthy)
	fmt.Fprintln(log, "sim: CLIP up")
}

// lockedWriter serialises writes to w: batch sim's fault goroutines and
// its main one share stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

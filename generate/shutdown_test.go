package generate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// TestShutdownReportsCancelledPrompts: after Shutdown every task has
// either a Result or an EventCancelled for its last attempt, never both
// and never neither; every prompt reported as deleted (Err nil) is gone
// from its server without having run; nothing of ours is left anywhere.
// With a grace period too short for the running prompts, those are
// interrupted and reported as cancelled with ErrInterrupted (one that
// finished anyway is adopted by the rerun, which looks it up first).
func TestShutdownReportsCancelledPrompts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		grace       time.Duration
		interrupted bool // running prompts are interrupted, not awaited
	}{
		{"running prompts finish", time.Minute, false},
		{"grace ends", time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.3})...) // ~0.3s a prompt
			insts := instancesOf(sim)
			for i := range insts {
				insts[i].InFlight = 3
			}
			ev := newEvents()
			log := newAttemptLog()
			f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond,
				Backoff: 10 * time.Millisecond, OnEvent: ev.add, BeforeSubmit: log.record})
			if err != nil {
				t.Fatal(err)
			}
			tasks := testTasks(t, 40)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			results := make(chan Result, len(tasks))
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx, tasks, results) }() // owned here: waited for on done
			ev.waitFor(t, func(e Event) bool { return e.Kind == EventDone })

			grace, stop := context.WithTimeout(t.Context(), tc.grace)
			if err := f.Shutdown(grace); err != nil {
				t.Errorf("Shutdown = %v", err)
			}
			stop()
			cancel() // as the pipeline does once Shutdown returned
			if err := <-done; err == nil {
				t.Error("Run after Shutdown = nil, want an error: tasks are unfinished")
			}
			close(results)

			finished := map[string]bool{}
			for r := range results {
				finished[r.Candidate.Job.Key] = true
			}
			cancelled := map[string]Event{}
			for _, e := range ev.snapshot() {
				if e.Kind != EventCancelled {
					continue
				}
				if _, dup := cancelled[e.PromptID]; dup {
					t.Errorf("prompt %s reported cancelled twice", e.PromptID)
				}
				cancelled[e.PromptID] = e
				if a, ok := log.byPID[e.PromptID]; !ok || a.JobKey != e.JobKey || a.Number != e.Attempt || a.Instance != e.Instance {
					t.Errorf("cancelled event %+v does not match the recorded attempt %+v", e, a)
				}
			}
			submitted := 0
			for _, tk := range tasks {
				as := log.byJob[tk.Job.Key]
				if len(as) == 0 {
					if finished[tk.Job.Key] {
						t.Errorf("job %d has a Result but was never submitted", tk.Job.Index)
					}
					continue
				}
				submitted++
				last := as[len(as)-1]
				_, isCancelled := cancelled[last.PromptID]
				if isCancelled == finished[tk.Job.Key] {
					t.Errorf("job %d: Result %v, last attempt reported cancelled %v; want exactly one", tk.Job.Index, finished[tk.Job.Key], isCancelled)
				}
			}
			if len(cancelled) == 0 || len(finished) == 0 {
				t.Errorf("%d results, %d cancelled of %d submitted jobs; want both kinds", len(finished), len(cancelled), submitted)
			}
			// Nothing is left, and what was reported cancelled after a
			// delete never ran.
			for i, s := range sim.Servers() {
				wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
				if err := s.WaitIdle(wctx); err != nil {
					t.Errorf("instance %d still has prompts: %v", i, err)
				}
				wcancel()
			}
			interrupted := 0
			for pid, e := range cancelled {
				in := f.byName(e.Instance)
				h, err := in.c.History(t.Context(), pid)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case errors.Is(e.Err, comfybatch.ErrInterrupted):
					interrupted++
				case e.Err == nil && h != nil:
					// Reported as deleted from the queue: it must never have run.
					t.Errorf("prompt %s reported cancelled has a history entry (%s)", pid, h.Status.StatusStr)
				}
			}
			if tc.interrupted != (interrupted > 0) {
				t.Errorf("%d prompts reported interrupted at the end of a %v grace period", interrupted, tc.grace)
			}
		})
	}
}

// TestFinishDeliversAfterCancel: a Result that has room in the results
// channel is delivered even when ctx is already done (a prompt that
// finished as the run was cancelled), every time, not by select's coin.
func TestFinishDeliversAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	const n = 200
	results := make(chan Result, n)
	rs := &runState{results: results, remaining: n, changed: make(chan struct{})}
	for i := range n {
		rs.finish(ctx, Result{Attempts: i})
	}
	if len(results) != n {
		t.Errorf("%d of %d results delivered after cancel", len(results), n)
	}
}

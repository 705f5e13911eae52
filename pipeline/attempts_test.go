package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// simFleet starts one simulated instance per Options, named a, b, ...
func simFleet(t testing.TB, opts ...comfytest.Options) (*comfytest.Fleet, []generate.Instance) {
	t.Helper()
	fleet, err := comfytest.StartFleetEach(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() })
	var out []generate.Instance
	for i, u := range fleet.URLs() {
		out = append(out, generate.Instance{Name: string(rune('a' + i)), URL: u})
	}
	return fleet, out
}

// TestCtrlCLeavesNoJobSubmitted: after Ctrl-C, whether the running
// prompts finish within the grace period or are interrupted at its end,
// nothing of ours is queued anywhere and the database lists no job as
// submitted: the jobs whose prompts were taken off a queue are pending
// again with their attempts marked cancelled (an attempt that may have
// run stays in flight, for the rerun to look up), and the rerun generates
// each remaining job exactly once.
func TestCtrlCLeavesNoJobSubmitted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{
		{"running prompts finish", time.Minute},
		{"running prompts interrupted", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fleet, inst := simFleet(t, comfytest.Options{TimeScale: 0.5}, comfytest.Options{TimeScale: 0.5}) // ~400ms an image
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var done atomic.Int32
			first, err := Run(ctx, Options{Manifest: smallManifest(t, dir), Instances: inst, Grace: tc.grace, Logger: testLogger(t),
				OnFleetEvent: func(e generate.Event) {
					if e.Kind == generate.EventDone && done.Add(1) == 2 {
						cancel() // Ctrl-C while both instances have work queued and running
					}
				}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled Run = %v, want context.Canceled", err)
			}
			for i, s := range fleet.Servers() {
				wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
				if err := s.WaitIdle(wctx); err != nil {
					t.Errorf("instance %d still has prompts after the run returned: %v", i, err)
				}
				wcancel()
			}
			st := openStore(t, first.Database)
			c, err := st.Counts(t.Context(), first.Run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c.All.Submitted != 0 || c.All.Pending == 0 || c.All.Done < 2 {
				t.Errorf("after Ctrl-C: %+v; want no job submitted, some pending, at least 2 done", c.All)
			}
			states, err := st.JobStates(t.Context(), first.Run.ID)
			if err != nil {
				t.Fatal(err)
			}
			cancelled := 0
			for key, s := range states {
				for _, a := range s.Attempts {
					switch a.Outcome {
					case "":
						if s.Status != comfybatch.StatusPending {
							t.Errorf("job %.8s (%s): attempt %d (%s) still in flight after Ctrl-C", key, s.Status, a.Number, a.PromptID)
						}
					case "cancelled":
						cancelled++
						if s.Status != comfybatch.StatusPending && s.Status != comfybatch.StatusDone {
							t.Errorf("job %.8s has a cancelled attempt and status %s", key, s.Status)
						}
					}
				}
			}
			// With a long grace, the queued prompts are deleted at once and
			// confirmed never to have run. With a grace of a millisecond the
			// deletion can come only when it ends, and an attempt that may
			// have run stays in flight (its job pending) for the rerun.
			if cancelled == 0 && tc.grace > time.Second {
				t.Error("no attempt recorded as cancelled")
			}
			st.Close()

			second, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
			if err != nil {
				t.Fatal(err)
			}
			if second.Skipped+second.Done != second.Total {
				t.Errorf("rerun skipped %d, generated %d of %d", second.Skipped, second.Done, second.Total)
			}
			succeeded := 0
			for _, s := range fleet.Servers() {
				succeeded += s.Stats().Succeeded
			}
			if succeeded != second.Total {
				t.Errorf("servers completed %d prompts for %d jobs; want each job once", succeeded, second.Total)
			}
		})
	}
}

// TestPreflightChecksEachInstance: before anything is written or sent, an
// instance that refuses our credentials is reported with the header to
// set (and works once it is set), an instance that lacks the workflow's
// checkpoint gets none of its jobs, and when no instance can run the jobs
// the run is bad input naming the node, the input, the value and the
// instances.
func TestPreflightChecksEachInstance(t *testing.T) {
	ckpts := comfytest.DefaultCheckpoints() // the small manifest uses ckpts[0]
	t.Run("credentials refused", func(t *testing.T) {
		fleet, inst := simFleet(t, comfytest.Options{TimeScale: 0.001}, comfytest.Options{TimeScale: 0.001})
		for _, s := range fleet.Servers() {
			s.SetFaults(comfytest.Faults{AuthToken: "s3cret"})
		}
		dir := t.TempDir()
		_, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
		if !errors.Is(err, comfybatch.ErrInvalid) {
			t.Fatalf("Run = %v, want ErrInvalid", err)
		}
		for _, want := range []string{"instance a (", "instance b (", "refused our credentials", "HTTP 401", `headers: {Authorization: "Bearer ${COMFY_TOKEN}"}`, "--header"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %q, want it to say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "unreachable") {
			t.Errorf("Run = %q: a refusal is not an unreachable instance", err)
		}
		if _, err := os.Stat(smallManifest(t, dir).Output.Database); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused start-up created the database (%v)", err)
		}
		for i := range inst {
			inst[i].Headers = map[string]string{"Authorization": "Bearer s3cret"}
		}
		if _, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst}); err != nil {
			t.Errorf("Run with the token = %v", err)
		}
	})
	t.Run("every instance unavailable", func(t *testing.T) {
		fleet, inst := simFleet(t, comfytest.Options{TimeScale: 0.001}, comfytest.Options{TimeScale: 0.001})
		for _, s := range fleet.Servers() {
			s.SetFaults(comfytest.Faults{Down: true}) // 503 to everything
		}
		dir := t.TempDir()
		_, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
		if !errors.Is(err, comfybatch.ErrOutage) || errors.Is(err, comfybatch.ErrInvalid) {
			t.Fatalf("Run = %v, want ErrOutage (rerun later), not bad input", err)
		}
		for _, want := range []string{"instance a (", "answers but is unavailable (HTTP 503)", "/system_stats"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %q, want it to say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "unreachable") {
			t.Errorf("Run = %q: a server that answers 503 is not unreachable", err)
		}
		if _, err := os.Stat(smallManifest(t, dir).Output.Database); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the failed start-up created the database (%v)", err)
		}
	})
	t.Run("one instance lacks the checkpoint", func(t *testing.T) {
		_, inst := simFleet(t, comfytest.Options{TimeScale: 0.001, Checkpoints: ckpts[1:]}, comfytest.Options{TimeScale: 0.001})
		out, err := Run(t.Context(), Options{Manifest: smallManifest(t, t.TempDir()), Instances: inst})
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		for _, s := range out.Instances {
			if s.Name == "a" && (s.Prompts != 0 || s.Failures != 0) {
				t.Errorf("instance a, which lacks the checkpoint, got %d prompts (%d failed)", s.Prompts, s.Failures)
			}
		}
		if out.Done != out.Total {
			t.Errorf("done %d of %d", out.Done, out.Total)
		}
	})
	t.Run("no instance can run the jobs", func(t *testing.T) {
		fleet, inst := simFleet(t, comfytest.Options{TimeScale: 0.001, Checkpoints: ckpts[1:]}, comfytest.Options{TimeScale: 0.001, Checkpoints: ckpts[2:]})
		dir := t.TempDir()
		_, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
		if !errors.Is(err, comfybatch.ErrInvalid) {
			t.Fatalf("Run = %v, want ErrInvalid", err)
		}
		for _, want := range []string{"16 jobs", "cannot run on any instance", `node "4"`, `input "ckpt_name"`, ckpts[0], "instance a", "instance b", "nothing was submitted"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Run = %q, want it to say %q", err, want)
			}
		}
		for i, s := range fleet.Servers() {
			if n := s.Stats().Prompts; n != 0 {
				t.Errorf("instance %d ran %d prompts, want none", i, n)
			}
		}
		if _, err := os.Stat(smallManifest(t, dir).Output.Database); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused start-up created the database (%v)", err)
		}
	})
}

// TestMovedAttemptsAreNotFailures: the attempts tail stealing took over
// are recorded as moved, and the run records no failed attempt.
func TestMovedAttemptsAreNotFailures(t *testing.T) {
	slow := comfytest.Options{TimeScale: 0.2, Speed: 0.25}
	fast := comfytest.Options{TimeScale: 0.2, Speed: 4}
	_, inst := simFleet(t, slow, fast)
	for i := range inst {
		inst[i].InFlight = 4
	}
	inst[0].Weight, inst[1].Weight = 1, 16
	var stolen atomic.Int32
	out, err := Run(t.Context(), Options{Manifest: smallManifest(t, t.TempDir()), Instances: inst, Logger: testLogger(t),
		OnFleetEvent: func(e generate.Event) {
			if e.Kind == generate.EventStolen {
				stolen.Add(1)
			}
		}})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	db, err := sql.Open("sqlite", out.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counts := map[string]int{}
	rows, err := db.Query(`SELECT outcome, count(*) FROM attempts GROUP BY outcome`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o string
		var n int
		if err := rows.Scan(&o, &n); err != nil {
			t.Fatal(err)
		}
		counts[o] = n
	}
	rows.Close()
	if stolen.Load() == 0 {
		t.Skip("no prompt was taken over in this run; nothing to check")
	}
	if counts["moved"] != int(stolen.Load()) || counts["failed"] != 0 || counts[""] != 0 || counts["done"] != out.Total {
		t.Errorf("attempt outcomes %v after %d steals; want %d moved, %d done, none failed or in flight", counts, stolen.Load(), stolen.Load(), out.Total)
	}
}

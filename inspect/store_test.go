package inspect_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

func TestRunsOfEmptyDatabase(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "runs.sqlite"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := inspect.Runs(t.Context(), st)
	if err != nil || len(runs) != 0 {
		t.Errorf("Runs = %v, %v; want none", runs, err)
	}
}

func TestRunsNewestFirstAndRunningElapsed(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	running, err := f.st.CreateRun(ctx, store.Run{Name: "live", ManifestPath: "live.yaml",
		Started: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := inspect.Runs(ctx, f.st)
	if err != nil {
		t.Fatalf("Runs = %v", err)
	}
	var ids []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if want := []int64{running.ID, f.smoke.ID, f.nightly.ID}; !slices.Equal(ids, want) {
		t.Fatalf("Runs ids = %v, want %v", ids, want)
	}
	if d := runs[0].Duration; d < time.Minute {
		t.Errorf("running run's Duration = %v, want at least the minute since it started", d)
	}
	if !runs[0].Finished.IsZero() || runs[0].Status != store.RunRunning {
		t.Errorf("running run = %+v, want no finish time and status running", runs[0])
	}
}

// TestShowGroupAddsUp checks that the per-group reports of a run add up
// to the report of the whole run.
func TestShowGroupAddsUp(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	run := f.open(t, f.nightly.ID)
	all, err := inspect.Show(ctx, run, "", inspect.ShowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cands, passed, selected, failures int
	for _, g := range all.Groups {
		r, err := inspect.Show(ctx, run, g.Name, inspect.ShowOptions{})
		if err != nil {
			t.Fatalf("Show(%s) = %v", g.Name, err)
		}
		if len(r.Groups) != 1 || !reflect.DeepEqual(r.Groups[0], g) {
			t.Errorf("Show(%s).Groups = %+v, want [%+v]", g.Name, r.Groups, g)
		}
		for _, s := range r.Selected {
			if s.Group != g.Name {
				t.Errorf("Show(%s) selected %+v of another group", g.Name, s)
			}
		}
		for _, x := range r.Failures {
			if x.Group != g.Name {
				t.Errorf("Show(%s) lists failure %+v of another group", g.Name, x)
			}
		}
		cands += r.Candidates
		passed += r.Passed
		selected += len(r.Selected)
		failures += len(r.Failures)
		if r.Failed != len(r.Failures) {
			t.Errorf("Show(%s) lists %d failures of %d", g.Name, len(r.Failures), r.Failed)
		}
	}
	if cands != all.Candidates || passed != all.Passed || selected != len(all.Selected) || failures != len(all.Failures) {
		t.Errorf("groups add up to %d candidates, %d passed, %d selected, %d failures; run has %d, %d, %d, %d",
			cands, passed, selected, failures, all.Candidates, all.Passed, len(all.Selected), len(all.Failures))
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	run := f.open(t, f.nightly.ID)
	for _, tc := range []struct {
		name    string
		call    func() error
		mention string
	}{
		{"unknown run", func() error { _, err := runview.Open(ctx, f.st, 99); return err }, "99"},
		{"show unknown group", func() error {
			_, err := inspect.Show(ctx, run, "cows", inspect.ShowOptions{})
			return err
		}, `no group "cows" (it has "cats", "dogs")`},
		{"compare unknown group", func() error {
			_, err := inspect.Compare(ctx, run, []string{"seed"}, "cows", inspect.CompareOptions{})
			return err
		}, `no group "cows"`},
		{"compare unknown param", func() error {
			_, err := inspect.Compare(ctx, run, []string{"sampler"}, "", inspect.CompareOptions{})
			return err
		}, `param "sampler" (they have cfg, sampler_name, seed, steps)`},
		{"compare second unknown param", func() error {
			_, err := inspect.Compare(ctx, run, []string{"seed", "cfgg"}, "", inspect.CompareOptions{})
			return err
		}, `param "cfgg"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error = %v, want one wrapping store.ErrNotFound that mentions %s", err, tc.mention)
			}
		})
	}
}

func TestCompareParamOfNoCandidateInEmptyRun(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	empty, err := f.st.CreateRun(ctx, store.Run{Name: "empty", ManifestPath: "e.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := inspect.Compare(ctx, f.open(t, empty.ID), []string{"anything"}, "", inspect.CompareOptions{})
	if err != nil || len(c.Rows) != 0 || c.Candidates != 0 {
		t.Errorf("Compare(empty run) = %+v, %v; want no rows and no error", c, err)
	}
}

// TestShowWhileRunWrites reads a run while candidates are being recorded
// into it, as batch show does during a nightly build.
func TestShowWhileRunWrites(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	live, err := f.st.CreateRun(ctx, store.Run{Name: "live", ManifestPath: "live.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	jobs := make([]comfybatch.Job, n)
	for i := range jobs {
		jobs[i] = fixtureJob(t, i, "cats", params(uint64(i), "euler", 20, 7)...)
	}
	if err := f.st.PlanJobs(ctx, live.ID, jobs); err != nil {
		t.Fatal(err)
	}
	show := func(id int64) (*inspect.RunReport, error) {
		r, err := runview.Open(ctx, f.st, id)
		if err != nil {
			return nil, err
		}
		return inspect.Show(ctx, r, "", inspect.ShowOptions{})
	}
	var wg sync.WaitGroup
	done := make(chan error, 1)
	wg.Go(func() { // the writer; waited for below
		for _, j := range jobs {
			if err := f.st.RecordCandidate(ctx, live.ID, scored(j, 0.5, 100, "")); err != nil {
				done <- err
				return
			}
			if err := f.st.Flush(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	})
	defer wg.Wait()
	last := 0
	for writing := true; writing; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			writing = false
		default:
		}
		r, err := show(live.ID)
		if err != nil {
			t.Fatalf("Show while writing = %v", err)
		}
		// Counts and candidates come from separate reads, so they may be
		// apart by what was committed in between, but never backwards.
		if r.Candidates < last || r.Candidates > n || r.Groups[0].Done < last {
			t.Fatalf("Show while writing: %d candidates, %d done (previously %d); want growing counts",
				r.Candidates, r.Groups[0].Done, last)
		}
		last = r.Candidates
	}
	r, err := show(live.ID)
	if err != nil {
		t.Fatalf("Show after the writer finished = %v", err)
	}
	if r.Candidates != n || r.Groups[0].Done != n {
		t.Errorf("Show after the writer finished: %d candidates, %d done; want %d of each",
			r.Candidates, r.Groups[0].Done, n)
	}
}

package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// flaky wraps a scorer with a switch: while down, Score and Check fail
// with an outage, as an unreachable scoring server does.
type flaky struct {
	inner   Scorer
	down    atomic.Bool
	outages atomic.Int64 // Score calls answered with an outage
	calls   atomic.Int64 // Score calls
	// downAfter, when positive, takes the scorer down at that Score call,
	// and onDown (if set) is called then.
	downAfter int64
	onDown    func()
}

func (f *flaky) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	if n := f.calls.Add(1); f.downAfter > 0 && n == f.downAfter {
		if f.onDown != nil {
			f.onDown()
		}
		f.down.Store(true)
	}
	if f.down.Load() {
		f.outages.Add(1)
		return comfybatch.Score{}, fmt.Errorf("clip: dial tcp 127.0.0.1:7997: connection refused: %w", comfybatch.ErrOutage)
	}
	return f.inner.Score(ctx, c)
}

func (f *flaky) Check(ctx context.Context) error {
	if f.down.Load() {
		return fmt.Errorf("connection refused: %w", comfybatch.ErrOutage)
	}
	return nil
}

// withFlaky wraps the scorer named name of every run in f.
func withFlaky(opts Options, name string, f *flaky) Options {
	opts.wrapScorer = func(n string, s Scorer) Scorer {
		if n != name {
			return s
		}
		f.inner = s
		return f
	}
	return opts
}

// submitted counts the prompts that may have run: submissions, less
// those tail stealing took off a queue before they started (their jobs are
// submitted again elsewhere).
type submitted struct{ n atomic.Int64 }

func (s *submitted) event(e generate.Event) {
	switch e.Kind {
	case generate.EventSubmitted:
		s.n.Add(1)
	case generate.EventStolen:
		s.n.Add(-1)
	}
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestScorerOutageMidRunPendsThenRecovers: the CLIP server goes down
// mid-run. Candidates are recorded as scoring pending (not rejected),
// generation pauses once MaxUnscored wait, and when the server is back the
// pending candidates are scored and the run completes with exit 0.
func TestScorerOutageMidRunPendsThenRecovers(t *testing.T) {
	dir := t.TempDir()
	m := smallManifest(t, dir)
	subs := &submitted{}
	const limit = 3
	var atDown, stalled atomic.Int64
	stalled.Store(-1)
	clip := &flaky{downAfter: 4, onDown: func() { atDown.Store(subs.n.Load()) }}
	// Bring the scorer back once submissions have stopped for a while.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		last, since := int64(-1), time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if !clip.down.Load() {
				continue
			}
			if n := subs.n.Load(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > 400*time.Millisecond {
				stalled.Store(n)
				clip.down.Store(false)
				return
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	// Prompts of ~20ms: slow enough that the pause shows before the last
	// job is submitted, however loaded the machine is.
	_, inst := simFleet(t, comfytest.Options{TimeScale: 0.025}, comfytest.Options{TimeScale: 0.025})
	opts := withFlaky(Options{Manifest: m, Instances: inst, MaxUnscored: limit, OnFleetEvent: subs.event,
		OutageDeadline: time.Minute, Logger: testLogger(t)}, "clip", clip)
	out, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("Run = %v (summary %+v), want a complete run once the scorer is back", err, out.Summary)
	}
	if clip.outages.Load() == 0 || stalled.Load() < 0 {
		t.Fatalf("the scorer was never out long enough (outages %d, stalled at %d)", clip.outages.Load(), stalled.Load())
	}
	// Submissions go on until MaxUnscored candidates wait: the prompts in
	// flight (2 instances x 2 slots) finish into pending candidates, and
	// each slot may have passed the gate just before the last one counted.
	const slots = 4
	if extra := stalled.Load() - atDown.Load(); extra > limit+2*slots {
		t.Errorf("%d prompts submitted while the scorer was out, want at most %d (MaxUnscored + twice the slots)", extra, limit+2*slots)
	}
	if stalled.Load() >= int64(out.Total) {
		t.Errorf("every job was submitted during the outage; generation never paused")
	}
	if out.Summary.Unscored != 0 || out.Summary.Rescored == 0 || out.Done != out.Total {
		t.Errorf("summary %+v, done %d of %d; want every candidate scored, some after the outage", out.Summary, out.Done, out.Total)
	}
	st := openStore(t, m.Output.Database)
	cands, err := st.Candidates(t.Context(), out.Run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if _, ok := c.Metric("clip", "similarity"); !ok || c.Pending != nil || strings.Contains(c.Rejected, "scoring error") {
			t.Errorf("candidate %d: scores %+v pending %v rejected %q; want a clip score", c.Candidate.Job.Index, c.Scores, c.Pending, c.Rejected)
		}
	}
}

// TestScorerOutageDeadlineStopsRunAndRerunScores: an outage longer than
// the deadline stops the run cleanly (ErrOutage naming the scorer, status
// stopped); the rerun, with the scorer back, scores the pending candidates
// without generating them again and finishes the rest.
func TestScorerOutageDeadlineStopsRunAndRerunScores(t *testing.T) {
	dir := t.TempDir()
	inst := startFleet(t, 2)
	clip := &flaky{downAfter: 3}
	subs := &submitted{}
	out, err := Run(t.Context(), withFlaky(Options{Manifest: smallManifest(t, dir), Instances: inst, MaxUnscored: 4,
		OutageDeadline: 300 * time.Millisecond, OnFleetEvent: subs.event}, "clip", clip))
	if !errors.Is(err, comfybatch.ErrOutage) || !strings.Contains(err.Error(), `scorer "clip"`) {
		t.Fatalf("Run = %v, want an ErrOutage naming scorer clip", err)
	}
	if out.Run.Status != store.RunStopped || out.Summary.Unscored == 0 || out.Summary.UnscoredBy["clip"] != out.Summary.Unscored {
		t.Errorf("status %s, summary %+v; want stopped with candidates waiting for clip", out.Run.Status, out.Summary)
	}
	pending := out.Summary.Unscored

	second, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst, OnFleetEvent: subs.event})
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if second.Summary.Rescored != pending || second.Summary.Unscored != 0 {
		t.Errorf("rerun rescored %d, %d left; want the %d pending scored", second.Summary.Rescored, second.Summary.Unscored, pending)
	}
	if got := subs.n.Load(); got != int64(second.Total) {
		t.Errorf("%d prompts submitted over both runs for %d jobs: pending candidates must not be generated again", got, second.Total)
	}
}

// TestRescoreIsAllOrNothing: rescoring while a scorer is down, or when it
// goes down half-way, changes nothing stored.
func TestRescoreIsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	m := smallManifest(t, dir)
	first, err := Run(t.Context(), Options{Manifest: m, Instances: startFleet(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	read := func() []comfybatch.Scored {
		st := openStore(t, m.Output.Database)
		defer st.Close()
		c, err := st.Candidates(t.Context(), first.Run.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := read()
	for _, tc := range []struct {
		name string
		f    *flaky
	}{{"down from the start", func() *flaky { f := &flaky{}; f.down.Store(true); return f }()}, {"down half-way", &flaky{downAfter: 5}}} {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := Rescore(t.Context(), m, first.Run.ID, RescoreOptions{}, withFlaky(Options{}, "clip", tc.f))
			if !errors.Is(err, comfybatch.ErrOutage) {
				t.Fatalf("Rescore = %d, %v; want an ErrOutage", n, err)
			}
			if after := read(); !reflect.DeepEqual(after, before) {
				t.Errorf("a failed rescore changed the stored scores")
			}
			noSpool(t, m.Output.Database)
		})
	}
}

// noSpool fails t when a rescore left its spool file next to the
// database.
func noSpool(t *testing.T, db string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(db), ".comfybatch-rescore-*")); len(left) > 0 {
		t.Errorf("rescore left %v behind", left)
	}
}

// failSome is a Generator that turns the results of chosen jobs into
// failures of the given kinds, as if their attempts had failed.
type failSome struct {
	inner Generator
	fail  map[int]error // job index -> error
}

func (f *failSome) RunStream(ctx context.Context, tasks <-chan generate.Task, results chan<- generate.Result) error {
	mid := make(chan generate.Result)
	errc := make(chan error, 1)
	go func() { errc <- f.inner.RunStream(ctx, tasks, mid) }() // owned here: we wait on errc below
	for {
		select {
		case r := <-mid:
			if err, ok := f.fail[r.Candidate.Job.Index]; ok {
				r = generate.Result{Candidate: comfybatch.Candidate{Job: r.Candidate.Job}, Err: err, Attempts: r.Attempts}
			}
			results <- r
		case err := <-errc:
			return err
		}
	}
}

// TestRerunRetriesTransientFailures: a rerun retries jobs that failed
// transiently but not a node's own exception; --retry-failed retries that
// too. Until every job is done the run is incomplete.
func TestRerunRetriesTransientFailures(t *testing.T) {
	dir := t.TempDir()
	inst := startFleet(t, 2)
	failing := func(in []generate.Instance, o generate.Options) (Generator, error) {
		f, err := generate.NewFleet(in, o)
		return &failSome{inner: f, fail: map[int]error{
			1: fmt.Errorf("instance a: prompt lost: %w", comfybatch.ErrTransient),
			2: fmt.Errorf("instance a: every instance has been down: %w", comfybatch.ErrOutage),
			3: fmt.Errorf("instance b: node 8 (VAEDecode): ValueError: bad: %w", comfybatch.ErrExecution),
		}}, err
	}
	first, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst, NewGenerator: failing})
	if !errors.Is(err, comfybatch.ErrIncomplete) {
		t.Fatalf("first Run = %v, want ErrIncomplete", err)
	}
	want := map[string]int{comfybatch.ClassTransient: 1, comfybatch.ClassOutage: 1, comfybatch.ClassExecution: 1}
	if !reflect.DeepEqual(first.Summary.Failed, want) || first.Run.Status != store.RunIncomplete {
		t.Errorf("first Run failed %v status %s, want %v incomplete", first.Summary.Failed, first.Run.Status, want)
	}
	second, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
	if !errors.Is(err, comfybatch.ErrIncomplete) {
		t.Fatalf("rerun = %v, want ErrIncomplete (the execution error is not retried)", err)
	}
	if second.Done != 2 || !reflect.DeepEqual(second.Summary.Retried, map[string]int{comfybatch.ClassTransient: 1, comfybatch.ClassOutage: 1}) ||
		!reflect.DeepEqual(second.Summary.Failed, map[string]int{comfybatch.ClassExecution: 1}) {
		t.Errorf("rerun done %d, retried %v, failed %v; want the transient and outage jobs done, the execution one failed",
			second.Done, second.Summary.Retried, second.Summary.Failed)
	}
	third, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst, RetryFailed: true})
	if err != nil {
		t.Fatalf("--retry-failed rerun = %v, want a complete run", err)
	}
	if third.Done != 1 || third.Summary.Retried[comfybatch.ClassExecution] != 1 || third.Run.Status != store.RunDone {
		t.Errorf("--retry-failed rerun done %d retried %v status %s", third.Done, third.Summary.Retried, third.Run.Status)
	}
	// Attempt numbers go on across processes.
	st := openStore(t, filepath.Join(dir, "comfybatch-runs", "comfybatch.db"))
	states, err := st.JobStates(t.Context(), first.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		seen := map[int]bool{}
		for _, a := range s.Attempts {
			if seen[a.Number] {
				t.Errorf("job %s: attempt number %d used twice: %+v", s.Key[:8], a.Number, s.Attempts)
			}
			seen[a.Number] = true
		}
	}
}

// TestFailedStartupWritesNothing: when no instance answers, or a scorer
// does not work, the run stops before writing anything: no database file
// for a new one, no run row in an existing one.
func TestFailedStartupWritesNothing(t *testing.T) {
	dir := t.TempDir()
	m := smallManifest(t, dir)
	dead := []generate.Instance{{Name: "dead", URL: "http://127.0.0.1:1"}}
	if _, err := Run(t.Context(), Options{Manifest: m, Instances: dead}); err == nil {
		t.Fatal("Run against a dead instance = nil")
	}
	if _, err := os.Stat(m.Output.Database); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed start-up created %s (%v)", m.Output.Database, err)
	}
	// An existing database gains no run either.
	if _, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: startFleet(t, 1)}); err != nil {
		t.Fatal(err)
	}
	m2 := smallManifest(t, dir)
	m2.Hash = "changed"
	clip := &flaky{}
	clip.down.Store(true)
	_, err := Run(t.Context(), withFlaky(Options{Manifest: m2, Instances: startFleet(t, 1), NewRun: true}, "clip", clip))
	if err == nil {
		t.Fatal("Run with a dead scorer = nil")
	}
	db, err := sql.Open("sqlite", m.Output.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var runs, jobs int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM jobs)`).Scan(&runs, &jobs); err != nil {
		t.Fatal(err)
	}
	if runs != 1 || jobs != 16 {
		t.Errorf("after a failed start-up: %d runs, %d jobs; want the first run's 1 and 16", runs, jobs)
	}
}

// TestShortfallIsAProblemUnlessAccepted: a gate that rejects every image
// leaves its groups short; the run says which gate, and is incomplete
// unless the manifest accepts shortfalls.
func TestShortfallIsAProblemUnlessAccepted(t *testing.T) {
	inst := startFleet(t, 2)
	for _, accept := range []bool{false, true} {
		t.Run(fmt.Sprint("accept=", accept), func(t *testing.T) {
			m := smallManifest(t, t.TempDir())
			for _, s := range m.Scorers {
				if o, ok := s.Options.(*manifests.SizeOptions); ok {
					o.Width = 4096 // the images are 64x64: the gate never passes
				}
			}
			m.Select.AcceptShortfall = accept
			out, err := Run(t.Context(), Options{Manifest: m, Instances: inst})
			if accept != (err == nil) || !accept && !errors.Is(err, comfybatch.ErrIncomplete) {
				t.Fatalf("Run = %v, want ErrIncomplete unless shortfalls are accepted", err)
			}
			if len(out.Summary.Shortfalls) != 2 {
				t.Fatalf("shortfalls %+v, want both groups", out.Summary.Shortfalls)
			}
			sf := out.Summary.Shortfalls[0]
			if sf.Selected != 0 || sf.Reason != "gate size.ok" || sf.Rejected != 8 || sf.Accepted != accept {
				t.Errorf("shortfall %+v, want 0 selected, gate size.ok rejecting all 8", sf)
			}
			if lines := out.Summary.Lines("m.yaml", out.Run.ID); len(lines) != 2 || !strings.Contains(lines[0], "gate size.ok rejected 8") {
				t.Errorf("Lines = %q", lines)
			}
		})
	}
}

package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
)

func TestConcurrentRecordCandidate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.sqlite")
	// Small batches and a long interval: batches end by size or by an
	// acked write, so the test exercises many transactions.
	s, err := Open(t.Context(), path, Options{BatchSize: 7, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	run, err := s.CreateRun(ctx, Run{OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 25
	var jobs []comfybatch.Job
	for i := range workers * per {
		jobs = append(jobs, testJob(i, fmt.Sprintf("g%d", i%3)))
	}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(jobs); i += workers {
				j := jobs[i]
				a := Attempt{Instance: "gpu", PromptID: "p-" + j.Key[:8], Number: 1}
				if err := s.RecordAttempt(ctx, run.ID, j.Key, a); err != nil {
					errs[w] = err
					return
				}
				if err := s.RecordCandidate(ctx, run.ID, testScored(j, float64(i))); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	// Readers run alongside the writers (WAL).
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Candidates(ctx, run.ID, "")
		readErr <- err
	}()
	wg.Wait()
	if err := <-readErr; err != nil {
		t.Errorf("concurrent Candidates = %v", err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Candidates(ctx, run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(jobs) {
		t.Fatalf("Candidates = %d, want %d", len(got), len(jobs))
	}
	for i, c := range got {
		if c.Candidate.Job.Index != i || c.Total != float64(i) || len(c.Scores) != 3 {
			t.Errorf("Candidates()[%d] = index %d total %v scores %d", i, c.Candidate.Job.Index, c.Total, len(c.Scores))
		}
	}
	c, _ := s.Counts(ctx, run.ID)
	if c.All != (Tally{Total: len(jobs), Done: len(jobs)}) {
		t.Errorf("Counts = %+v, want all %d done", c.All, len(jobs))
	}
}

func TestCloseFlushesQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.sqlite")
	s, err := Open(t.Context(), path, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.CreateRun(t.Context(), Run{OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.RecordCandidate(t.Context(), run.ID, testScored(testJob(i, "a"), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := s.RecordCandidate(t.Context(), run.ID, testScored(testJob(99, "a"), 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("RecordCandidate after Close = %v, want ErrClosed", err)
	}
	s, err = Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Candidates(t.Context(), run.ID, "")
	if err != nil || len(got) != 10 {
		t.Errorf("after Close and reopen: %d candidates, %v; want 10", len(got), err)
	}
}

func TestBadRecordCostsOnlyItself(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	// One batch: a candidate, a failure for a job never planned, another
	// candidate. The bad record is reported by Flush; the others commit.
	if err := s.RecordCandidate(ctx, run.ID, testScored(testJob(0, "a"), 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFailure(ctx, run.ID, "unplanned", 1, comfybatch.ErrTransient); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCandidate(ctx, run.ID, testScored(testJob(1, "a"), 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Flush = %v, want the failure's ErrNotFound", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Errorf("second Flush = %v, want nil (errors are reported once)", err)
	}
	got, err := s.Candidates(ctx, run.ID, "")
	if err != nil || len(got) != 2 {
		t.Errorf("Candidates = %d, %v; want both good records", len(got), err)
	}
}

// TestSetTotals writes totals in statements of setTotalsRows candidates:
// more than two statements' worth here, the last one short.
func TestSetTotals(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	n := 2*setTotalsRows + 44
	for i := range n {
		if err := s.RecordCandidate(ctx, run.ID, testScored(testJob(i, "a"), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	read, ids, err := s.RankingCandidates(ctx, run.ID, "a")
	if err != nil || len(read) != n || len(ids) != n {
		t.Fatalf("RankingCandidates = %d candidates, %d ids, %v; want %d", len(read), len(ids), err, n)
	}
	totals := make([]Total, n)
	for i := range totals {
		totals[i] = Total{Candidate: ids[i], Total: float64(i) / 8}
		if i%3 == 0 {
			totals[i].Rejected = fmt.Sprintf("near-duplicate of job %d", i)
		}
	}
	if err := s.SetTotals(ctx, totals); err != nil {
		t.Fatal(err)
	}
	got, err := s.Candidates(ctx, run.ID, "a")
	if err != nil || len(got) != n {
		t.Fatalf("Candidates = %d, %v", len(got), err)
	}
	for i, c := range got {
		if c.Candidate.Job.Index != i || c.Total != totals[i].Total || c.Rejected != totals[i].Rejected {
			t.Fatalf("candidate %d (job %d) after SetTotals: total %v, rejected %q; want %v, %q",
				i, c.Candidate.Job.Index, c.Total, c.Rejected, totals[i].Total, totals[i].Rejected)
		}
	}
	// One unknown id in the middle of a statement: nothing changes.
	again := []Total{{ids[0], 99, ""}, {ids[n-1] + 100, 1, ""}, {ids[1], 99, ""}}
	if err := s.SetTotals(ctx, again); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetTotals(unknown candidate) = %v, want ErrNotFound", err)
	}
	if got, _ := s.Candidates(ctx, run.ID, "a"); got[0].Total != totals[0].Total || got[1].Total != totals[1].Total {
		t.Errorf("failed SetTotals changed totals to %v, %v", got[0].Total, got[1].Total)
	}
}

func TestInstanceStats(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	first := []InstanceStat{{Instance: "b", Prompts: 3}, {Instance: "a", Prompts: 5, Failures: 1, Busy: 1500 * time.Millisecond, ModelLoads: 2, Down: time.Second}}
	if err := s.SaveInstanceStats(ctx, run.ID, first); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveInstanceStats(ctx, run.ID, []InstanceStat{{Instance: "b", Prompts: 4}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.InstanceStats(ctx, run.ID)
	want := []InstanceStat{first[1], {Instance: "b", Prompts: 4}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("InstanceStats = %+v, %v; want %+v", got, err, want)
	}
}

func TestFlushIntervalCommitsWithoutFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.sqlite")
	s, err := Open(t.Context(), path, Options{BatchSize: 1000, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run, err := s.CreateRun(t.Context(), Run{OutputDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCandidate(t.Context(), run.ID, testScored(testJob(0, "a"), 1)); err != nil {
		t.Fatal(err)
	}
	// No Flush: the batch is far from full, so only the interval commits it.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		got, err := s.Candidates(t.Context(), run.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 {
			return
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal("candidate never committed by the flush interval")
		}
	}
}

func TestDoneJobStaysDone(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	j := testJob(0, "a")
	if err := s.RecordCandidate(ctx, run.ID, testScored(j, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, run.ID, j.Key, Attempt{Instance: "gpu-2", PromptID: "again", Number: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFailure(ctx, run.ID, j.Key, 2, comfybatch.ErrTransient); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := s.JobStates(ctx, run.ID)
	got, _ := s.Candidates(ctx, run.ID, "")
	if st[j.Key].Status != comfybatch.StatusDone || len(got) != 1 {
		t.Errorf("after a failed re-submission: status %q, %d candidates; want done, 1", st[j.Key].Status, len(got))
	}
}

// TestRankingCandidatesFilledReadAsCandidates: a group read for ranking
// (RankingCandidates) and then filled in (FillJobs) is what Candidates
// returns for it, field for field: the end-of-run table and --json show
// the instance, prompt and times of the candidates they list.
func TestRankingCandidatesFilledReadAsCandidates(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	for i := range 4 {
		sc := testScored(testJob(i, "g"), float64(i))
		sc.Candidate.Instance = fmt.Sprintf("gpu-%d", i)
		sc.Candidate.Attempt = i + 1
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordCandidate(ctx, run.ID, testScored(testJob(9, "other"), 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want, err := s.Candidates(ctx, run.ID, "g")
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := s.RankingCandidates(ctx, run.ID, "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("RankingCandidates = %d, Candidates = %d; want 4 each", len(got), len(want))
	}
	if got[0].Candidate.Instance != "" {
		t.Fatalf("RankingCandidates read the instance (%q): this test no longer tests FillJobs", got[0].Candidate.Instance)
	}
	if err := s.FillJobs(ctx, run, got[1:]); err != nil { // a subset, as selection fills only what it keeps
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("candidate %d filled:\n%+v\nwant (Candidates):\n%+v", i, got[i], want[i])
		}
	}
	gone := got[1]
	gone.Candidate.Job.Key = testJob(42, "g").Key
	if err := s.FillJobs(ctx, run, []comfybatch.Scored{gone}); !errors.Is(err, ErrNotFound) {
		t.Errorf("FillJobs(unknown candidate) = %v, want ErrNotFound", err)
	}
}

// TestReplaceScoresSeq: candidates streamed into one transaction are all
// written, counted and read back in plan order by EachScored; a sequence
// that fails half-way, or names a candidate the run does not have, changes
// nothing; and the sequence's own error comes back as it is.
func TestReplaceScoresSeq(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	const n = 150
	for i := range n {
		if err := s.RecordCandidate(ctx, run.ID, testScored(testJob(i, "a"), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var stored []comfybatch.Scored
	if err := s.EachScored(ctx, run.ID, false, func(c comfybatch.Scored) error {
		stored = append(stored, c)
		return nil
	}); err != nil || len(stored) != n {
		t.Fatalf("EachScored = %d candidates, %v; want %d", len(stored), err, n)
	}
	rescored := func(i int) comfybatch.Scored {
		c := stored[i]
		c.Scores = []comfybatch.Score{{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": float64(1000 + i)}}}
		return c
	}
	metric := func(c comfybatch.Scored) float64 {
		if len(c.Scores) != 1 {
			return -1
		}
		return c.Scores[0].Metrics["laplacian_var"]
	}
	before := stored // what EachScored read is what Candidates returns
	stop := errors.New("scorer went away")
	for _, tc := range []struct {
		name string
		seq  func(yield func(comfybatch.Scored, error) bool)
		want error
	}{
		{"error half-way", func(yield func(comfybatch.Scored, error) bool) {
			for i := range n / 2 {
				if !yield(rescored(i), nil) {
					return
				}
			}
			yield(comfybatch.Scored{}, stop)
		}, stop},
		{"unknown candidate", func(yield func(comfybatch.Scored, error) bool) {
			for i := range n / 2 {
				if !yield(rescored(i), nil) {
					return
				}
			}
			c := rescored(0)
			c.Candidate.Job.Key = "not-a-job"
			yield(c, nil)
		}, ErrNotFound},
	} {
		got, err := s.ReplaceScoresSeq(ctx, run.ID, tc.seq)
		if !errors.Is(err, tc.want) || got != 0 {
			t.Errorf("%s: ReplaceScoresSeq = %d, %v; want 0, %v", tc.name, got, err, tc.want)
		}
		if tc.want == stop && err != stop {
			t.Errorf("%s: error %v is not the sequence's own", tc.name, err)
		}
		if after, _ := s.Candidates(ctx, run.ID, ""); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: a failed replacement changed the stored candidates", tc.name)
		}
	}
	got, err := s.ReplaceScoresSeq(ctx, run.ID, func(yield func(comfybatch.Scored, error) bool) {
		for i := range n {
			if !yield(rescored(i), nil) {
				return
			}
		}
	})
	if err != nil || got != n {
		t.Fatalf("ReplaceScoresSeq = %d, %v; want %d", got, err, n)
	}
	i := 0
	if err := s.EachScored(ctx, run.ID, false, func(c comfybatch.Scored) error {
		if c.Candidate.Job.Index != i || metric(c) != float64(1000+i) {
			return fmt.Errorf("candidate %d is job %d with laplacian_var %v, want job %d with %d", i, c.Candidate.Job.Index, metric(c), i, 1000+i)
		}
		i++
		return nil
	}); err != nil || i != n {
		t.Fatalf("after the replacement: %v (%d candidates read)", err, i)
	}
}

// TestPendingCounts: candidates waiting for a scorer are counted by each
// scorer they wait for, the scored ones not at all.
func TestPendingCounts(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	for i, pending := range [][]string{nil, {"clip"}, {"clip", "aesthetic"}, {"aesthetic"}, {"clip"}} {
		sc := testScored(testJob(i, "a"), 0)
		sc.Pending = pending
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.PendingCounts(ctx, run.ID)
	if want := map[string]int{"clip": 3, "aesthetic": 2}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("PendingCounts = %v, %v; want %v", got, err, want)
	}
}

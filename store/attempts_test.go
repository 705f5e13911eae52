package store

import (
	"errors"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// outcomes returns the recorded outcome of each attempt of a job, by
// prompt id.
func outcomes(t *testing.T, s *Store, runID int64, key string) (string, map[string]string) {
	t.Helper()
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, err := s.JobStates(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range st[key].Attempts {
		out[a.PromptID] = a.Outcome
	}
	return st[key].Status, out
}

// TestMovedAttemptsKeepTheirOutcome: moved and retried-failed attempts
// keep their outcome when the job later gets its candidate or fails; only
// attempts still in flight are settled then, and a done attempt is never
// overwritten.
func TestMovedAttemptsKeepTheirOutcome(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	done, failed := testJob(0, "a"), testJob(1, "a")
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{done, failed}); err != nil {
		t.Fatal(err)
	}
	for i, pid := range []string{"d1", "d2", "d3"} {
		if err := s.RecordAttempt(ctx, run.ID, done.Key, Attempt{Instance: "gpu", PromptID: pid, Number: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	for i, pid := range []string{"f1", "f2", "f3"} {
		if err := s.RecordAttempt(ctx, run.ID, failed.Key, Attempt{Instance: "gpu", PromptID: pid, Number: i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []struct{ key, pid, outcome string }{
		{done.Key, "d1", OutcomeFailed}, {done.Key, "d2", OutcomeMoved},
		{failed.Key, "f1", OutcomeMoved}, {failed.Key, "f2", OutcomeFailed},
	} {
		if err := s.SetAttemptOutcome(ctx, run.ID, o.key, o.pid, o.outcome); err != nil {
			t.Fatal(err)
		}
	}
	sc := testScored(done, 0.5)
	sc.Candidate.PromptID = "d3"
	if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFailure(ctx, run.ID, failed.Key, 3, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A late report must not hide the attempt that produced the candidate.
	if err := s.SetAttemptOutcome(ctx, run.ID, done.Key, "d3", OutcomeCancelled); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want map[string]string
	}{
		{done.Key, map[string]string{"d1": "failed", "d2": "moved", "d3": "done"}},
		{failed.Key, map[string]string{"f1": "moved", "f2": "failed", "f3": "failed"}},
	} {
		_, got := outcomes(t, s, run.ID, tc.key)
		for pid, want := range tc.want {
			if got[pid] != want {
				t.Errorf("attempt %s outcome %q, want %q (all: %v)", pid, got[pid], want, got)
			}
		}
	}
	if err := s.SetAttemptOutcome(ctx, run.ID, done.Key, "d1", OutcomeDone); err == nil {
		t.Error("SetAttemptOutcome(done) = nil, want an error: only RecordCandidate makes an attempt done")
	}
	if err := s.SetAttemptOutcome(ctx, run.ID, done.Key, "d1", "lost"); err == nil {
		t.Error("SetAttemptOutcome with an unknown outcome = nil, want an error")
	}
}

// TestCancelledJobIsPendingAgain: a submitted job whose latest attempt
// was cancelled is pending again even when an older attempt was never
// settled (a resume found it lost); so is one whose latest attempt a
// shutdown gave up although it may have run (outcome "", kept for the
// rerun to look up); a job whose older attempt was cancelled while a newer
// one is in flight stays submitted; a done job stays done.
func TestCancelledJobIsPendingAgain(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	jobs := []comfybatch.Job{testJob(0, "a"), testJob(1, "a"), testJob(2, "a"), testJob(3, "a")}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		for n, pid := range []string{"p1", "p2"} {
			if err := s.RecordAttempt(ctx, run.ID, j.Key, Attempt{Instance: "gpu", PromptID: pid + string(rune('a'+i)), Number: n + 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sc := testScored(jobs[1], 0.5)
	sc.Candidate.PromptID = "p2b"
	if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		job          int
		pid, outcome string
	}{{0, "p2a", OutcomeCancelled}, {1, "p2b", OutcomeCancelled}, {2, "p1c", OutcomeCancelled}, {3, "p2d", ""}} {
		if err := s.SetAttemptOutcome(ctx, run.ID, jobs[r.job].Key, r.pid, r.outcome); err != nil {
			t.Fatal(err)
		}
	}
	if _, got := outcomes(t, s, run.ID, jobs[3].Key); got["p2d"] != "" {
		t.Errorf("an attempt given up although it may have run is %q, want in flight (\"\")", got["p2d"])
	}
	for i, want := range []string{comfybatch.StatusPending, comfybatch.StatusDone, comfybatch.StatusSubmitted, comfybatch.StatusPending} {
		if got, _ := outcomes(t, s, run.ID, jobs[i].Key); got != want {
			t.Errorf("job %d status %q, want %q", i, got, want)
		}
	}
	if _, got := outcomes(t, s, run.ID, jobs[1].Key); got["p2b"] != OutcomeDone {
		t.Errorf("the attempt that produced job 1's candidate is %q after a late cancel, want done", got["p2b"])
	}
	c, err := s.Counts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.All.Pending != 2 || c.All.Submitted != 1 || c.All.Done != 1 {
		t.Errorf("Counts = %+v, want 2 pending, 1 submitted, 1 done", c.All)
	}
}

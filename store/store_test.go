package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
)

// openTest opens a fresh store in a temporary folder and closes it when
// the test ends.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "db", "runs.sqlite")
	s, err := Open(t.Context(), path, Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s, dir
}

func createRun(t testing.TB, s *Store, dir string) Run {
	t.Helper()
	r, err := s.CreateRun(context.Background(), Run{Name: "test", ManifestPath: "m.yaml", OutputDir: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatalf("CreateRun = %v", err)
	}
	return r
}

// testJob returns job i of group g with a seed and a few params.
func testJob(i int, g string) comfybatch.Job {
	wf := fmt.Sprintf(`{"3":{"class_type":"KSampler","inputs":{"seed":%d}}}`, i)
	key, _ := comfybatch.KeyOf([]byte(wf), nil)
	return comfybatch.Job{
		Key: key, Index: i, Group: g, Workflow: json.RawMessage(wf), Affinity: "sdxl.safetensors",
		Params: []comfybatch.Param{
			{Name: "seed", Value: uint64(1)<<63 + uint64(i)},
			{Name: "sampler_name", Value: "euler"},
			{Name: "cfg", Value: 7.0},
			{Name: "steps", Value: int64(20)},
			{Name: "hires", Value: true},
		},
	}
}

func testScored(j comfybatch.Job, total float64) comfybatch.Scored {
	base := time.UnixMilli(1_700_000_000_000).UTC()
	return comfybatch.Scored{
		Candidate: comfybatch.Candidate{
			Job: j, Instance: "gpu-1", PromptID: "p-" + j.Key[:8], Attempt: 1,
			Path: "images/ab/" + j.Key + ".png", SHA256: j.Key,
			Queued: base, Started: base.Add(time.Second), Finished: base.Add(3 * time.Second),
			Download: 40 * time.Millisecond,
		},
		Scores: []comfybatch.Score{
			{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": 123.5}},
			{Scorer: "phash", Metrics: map[string]float64{}, Values: map[string]string{"hash": "f0f0"}},
			{Scorer: "clip", Metrics: map[string]float64{}, Err: "connection refused"}, // Candidates returns non-nil Metrics
		},
		Total: total,
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTest(t)
	for _, db := range []struct {
		name string
		q    func(string) (string, error)
	}{
		{"read", func(p string) (v string, err error) { return v, s.read.QueryRow("PRAGMA " + p).Scan(&v) }},
		{"write", func(p string) (v string, err error) { return v, s.write.QueryRow("PRAGMA " + p).Scan(&v) }},
	} {
		for p, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1"} {
			got, err := db.q(p)
			if err != nil || got != want {
				t.Errorf("%s pool: PRAGMA %s = %q, %v; want %q", db.name, p, got, err, want)
			}
		}
	}
}

func TestReadPoolIsReadOnly(t *testing.T) {
	s, _ := openTest(t)
	if _, err := s.read.Exec(`INSERT INTO runs (status, started_ms) VALUES ('running', 0)`); err == nil {
		t.Errorf("insert through the read pool succeeded, want query_only to refuse it")
	}
}

func TestRunRoundTrip(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	in := Run{Name: "portraits", ManifestPath: "a.yaml", ManifestText: "name: portraits\n", ManifestHash: "abc",
		MasterSeed: 18446744073709551615, OutputDir: dir, ToolVersion: "v0.1.0",
		Started: time.Date(2026, 11, 23, 10, 0, 0, 123_456_789, time.UTC)}
	r, err := s.CreateRun(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.Status, want.Started = r.ID, RunRunning, time.Date(2026, 11, 23, 10, 0, 0, 123_000_000, time.UTC)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(r, want) {
		t.Errorf("Run(%d) = %+v\nCreateRun returned %+v\nwant %+v", r.ID, got, r, want)
	}
	if _, err := s.Run(ctx, r.ID+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(missing) = %v, want ErrNotFound", err)
	}
	if err := s.SetRunStatus(ctx, r.ID, RunDone); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Run(ctx, r.ID)
	if got.Status != RunDone || got.Finished.IsZero() {
		t.Errorf("after SetRunStatus(done): status %q finished %v", got.Status, got.Finished)
	}
	if err := s.SetRunStatus(ctx, r.ID, "bogus"); err == nil {
		t.Errorf("SetRunStatus(bogus) = nil, want error")
	}
	if err := s.SetRunStatus(ctx, r.ID+1, RunDone); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetRunStatus(missing) = %v, want ErrNotFound", err)
	}
}

func TestLatestRunAndRuns(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	if _, ok, err := s.LatestRun(ctx, "a.yaml"); ok || err != nil {
		t.Errorf("LatestRun on empty db = %v, %v; want false, nil", ok, err)
	}
	t0 := time.UnixMilli(1_000_000).UTC()
	var ids []int64
	for i, p := range []string{"a.yaml", "b.yaml", "a.yaml", "a.yaml"} {
		r, err := s.CreateRun(ctx, Run{ManifestPath: p, OutputDir: dir, Started: t0.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	r, ok, err := s.LatestRun(ctx, "a.yaml")
	if err != nil || !ok || r.ID != ids[3] {
		t.Errorf("LatestRun(a.yaml) = %d, %v, %v; want %d", r.ID, ok, err, ids[3])
	}
	all, err := s.Runs(ctx)
	if err != nil || len(all) != 4 {
		t.Fatalf("Runs = %d runs, %v; want 4", len(all), err)
	}
	for i, r := range all {
		if r.ID != ids[i] {
			t.Errorf("Runs()[%d].ID = %d, want %d", i, r.ID, ids[i])
		}
	}
}

func TestPlanJobsIdempotent(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	jobs := []comfybatch.Job{testJob(0, "a"), testJob(1, "a"), testJob(2, "b")}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, run.ID, jobs[0].Key, Attempt{Instance: "gpu-1", PromptID: "p1", Number: 1}); err != nil {
		t.Fatal(err)
	}
	changed := jobs[0]
	changed.Group = "other"
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{changed, jobs[1], jobs[2], testJob(3, "b")}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{All: Tally{Total: 4, Pending: 3, Submitted: 1},
		Groups: map[string]Tally{"a": {Total: 2, Pending: 1, Submitted: 1}, "b": {Total: 2, Pending: 2}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Counts after planning twice = %+v, want %+v", c, want)
	}
	if err := s.PlanJobs(ctx, run.ID+1, jobs); err == nil {
		t.Errorf("PlanJobs(missing run) = nil, want a foreign key error")
	}
}

func TestJobStatesAndAttempts(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	jobs := []comfybatch.Job{testJob(0, "a"), testJob(1, "a"), testJob(2, "a")}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(5_000).UTC()
	a1 := Attempt{Instance: "gpu-1", PromptID: "p1", Number: 1, Submitted: t0}
	a2 := Attempt{Instance: "gpu-2", PromptID: "p2", Number: 2, Submitted: t0.Add(time.Second)}
	for _, a := range []Attempt{a1, a2, a1} { // a1 twice: idempotent by prompt id
		if err := s.RecordAttempt(ctx, run.ID, jobs[0].Key, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAttempt(ctx, run.ID, jobs[1].Key, Attempt{Instance: "gpu-1", PromptID: "p3", Number: 1, Submitted: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, run.ID, "nope", a1); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordAttempt(unplanned) = %v, want ErrNotFound", err)
	}
	if err := s.RecordFailure(ctx, run.ID, jobs[1].Key, 1, fmt.Errorf("node 3: %w", comfybatch.ErrExecution)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.JobStates(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]JobState{
		jobs[0].Key: {Key: jobs[0].Key, Status: comfybatch.StatusSubmitted, Attempts: []Attempt{a1, a2}},
		jobs[1].Key: {Key: jobs[1].Key, Status: comfybatch.StatusFailed, ErrorClass: comfybatch.ClassExecution, Attempts: []Attempt{
			{Instance: "gpu-1", PromptID: "p3", Number: 1, Submitted: t0, Outcome: "failed"}}},
		jobs[2].Key: {Key: jobs[2].Key, Status: comfybatch.StatusPending},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("JobStates = %+v\nwant %+v", st, want)
	}
	fs, err := s.Failures(ctx, run.ID)
	if err != nil || len(fs) != 1 {
		t.Fatalf("Failures = %+v, %v; want one", fs, err)
	}
	if f := fs[0]; f.JobKey != jobs[1].Key || f.Class != comfybatch.ClassExecution || f.Message != "node 3: execution error" ||
		f.Attempts != 1 || f.Instance != "gpu-1" || f.PromptID != "p3" || f.Finished.IsZero() {
		t.Errorf("Failures()[0] = %+v", f)
	}
}

func TestCandidateRoundTrip(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	j := testJob(0, "a")
	j.Params[0].Value = uint64(18446744073709551615)
	j.Inputs = []comfybatch.Input{{Node: "10", Input: "image", Path: "ref.png", SHA256: "ff"}}
	j.Tags = []string{"sdxl"}
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{j}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, run.ID, j.Key, Attempt{Instance: "gpu-1", PromptID: "p-" + j.Key[:8], Number: 1}); err != nil {
		t.Fatal(err)
	}
	in := testScored(j, 0.75)
	in.Rejected = "gate sharpness.laplacian_var < 50"
	if err := s.RecordCandidate(ctx, run.ID, in); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Candidates(ctx, run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Candidates = %d, want 1", len(got))
	}
	wf, err := s.JobWorkflow(ctx, run.ID, j.Key)
	if err != nil || string(wf) != string(j.Workflow) {
		t.Errorf("JobWorkflow = %s, %v; want %s", wf, err, j.Workflow)
	}
	in.Candidate.Job.Workflow = nil // Candidates does not load workflows
	if !reflect.DeepEqual(got[0], in) {
		t.Errorf("Candidates()[0] =\n%+v\nwant\n%+v", got[0], in)
	}
	if seed, ok := got[0].Candidate.Job.Seed(); !ok || seed != 18446744073709551615 {
		t.Errorf("Seed() = %d, %v; want 18446744073709551615", seed, ok)
	}
	st, _ := s.JobStates(ctx, run.ID)
	if a := st[j.Key].Attempts; len(a) != 1 || a[0].Outcome != "done" {
		t.Errorf("attempts after RecordCandidate = %+v, want one with outcome done", a)
	}
}

func TestRecordCandidateIdempotent(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	j := testJob(0, "a")
	// Not planned first: RecordCandidate inserts the row.
	first := testScored(j, 0.5)
	second := testScored(j, 0.9)
	second.Candidate.Instance = "gpu-2"
	second.Scores = second.Scores[:1]
	for _, sc := range []comfybatch.Scored{first, second} {
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Candidates(ctx, run.ID, "a")
	if err != nil {
		t.Fatal(err)
	}
	second.Candidate.Job.Workflow = nil // Candidates does not load workflows
	if len(got) != 1 || !reflect.DeepEqual(got[0], second) {
		t.Errorf("Candidates after recording twice = %+v, want only %+v", got, second)
	}
	var n int
	if err := s.read.QueryRow(`SELECT sum(json_array_length(scores)) FROM candidates`).Scan(&n); err != nil || n != 1 {
		t.Errorf("score rows = %d, %v; want 1", n, err)
	}
}

func TestCandidatesOrderAndGroups(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	// Recorded out of order; read back by index.
	for _, i := range []int{5, 2, 9, 0, 7, 1} {
		g := "even"
		if i%2 == 1 {
			g = "odd"
		}
		if err := s.RecordCandidate(ctx, run.ID, testScored(testJob(i, g), float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group string
		want  []int
	}{{"", []int{0, 1, 2, 5, 7, 9}}, {"odd", []int{1, 5, 7, 9}}, {"even", []int{0, 2}}, {"none", nil}} {
		got, err := s.Candidates(ctx, run.ID, tc.group)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, c := range got {
			idx = append(idx, c.Candidate.Job.Index)
		}
		if !reflect.DeepEqual(idx, tc.want) {
			t.Errorf("Candidates(%q) indexes = %v, want %v", tc.group, idx, tc.want)
		}
	}
}

func TestSelectionsReplace(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	jobs := []comfybatch.Job{testJob(0, "a"), testJob(1, "a"), testJob(2, "b")}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := s.RecordCandidate(ctx, run.ID, testScored(j, 0.5)); err != nil {
			t.Fatal(err)
		}
	}
	a1 := []comfybatch.Selection{{Group: "a", Rank: 1, JobKey: jobs[0].Key, Total: 0.9}, {Group: "a", Rank: 2, JobKey: jobs[1].Key, Total: 0.5}}
	b := []comfybatch.Selection{{Group: "b", Rank: 1, JobKey: jobs[2].Key, Total: 0.4, Reason: "top"}}
	a2 := []comfybatch.Selection{{Group: "a", Rank: 1, JobKey: jobs[1].Key, Total: 0.8}}
	for _, x := range []struct {
		g   string
		sel []comfybatch.Selection
	}{{"a", a1}, {"b", b}, {"a", a2}} {
		if err := s.SaveSelections(ctx, run.ID, x.g, x.sel); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Selections(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]comfybatch.Selection{}, a2...), b...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Selections = %+v, want %+v", got, want)
	}
	if err := s.SaveSelections(ctx, run.ID, "a", b); err == nil {
		t.Errorf("SaveSelections(a, entries of b) = nil, want error")
	}
	bad := []comfybatch.Selection{{Group: "a", Rank: 1, JobKey: "missing"}}
	if err := s.SaveSelections(ctx, run.ID, "a", bad); err == nil {
		t.Errorf("SaveSelections(unknown job) = nil, want error")
	}
	if got2, _ := s.Selections(ctx, run.ID); !reflect.DeepEqual(got2, want) {
		t.Errorf("a failed SaveSelections changed the selection: %+v", got2)
	}
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// TestMigrateSchema1 opens a database written by schema 1 (a demo run and a
// partial run with failed jobs, made by the build before schema 2) and
// checks that every row survived the rebuild with its meaning.
func TestMigrateSchema1(t *testing.T) { testMigrate(t, "testdata/schema1.db") }

// TestMigrateSchema2 does the same from schema 2 (schema1.db as the build
// with schema 2, before scores became a column, migrated it): scorer
// results and metric rows become the scores column.
func TestMigrateSchema2(t *testing.T) { testMigrate(t, "testdata/schema2.db") }

func testMigrate(t *testing.T, fixture string) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for q, want := range map[string]int{
		"SELECT count(*) FROM jobs":       78,
		"SELECT count(*) FROM candidates": 71,
		"SELECT count(*) FROM attempts":   79,
		// 167 scorer results with 311 metrics, now one JSON column a candidate
		"SELECT sum(json_array_length(scores)) FROM candidates":                                            167,
		"SELECT count(*) FROM candidates, json_each(candidates.scores) r, json_each(r.value, '$.metrics')": 311,
		"SELECT count(*) FROM selections":                                                                  35,
		"SELECT count(*) FROM instance_stats":                                                              5,
		"SELECT count(*) FROM run_groups":                                                                  3,
		"SELECT count(*) FROM candidates WHERE rel_path = ''":                                              0,
		"SELECT count(*) FROM jobs WHERE workflow IS NULL":                                                 0,
		"SELECT count(*) FROM attempts WHERE outcome = ''":                                                 0,
		"SELECT count(*) FROM jobs WHERE status = 'failed' AND error_class = 'execution'":                  7,
	} {
		var got int
		if err := s.read.QueryRowContext(ctx, q).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", q, got, err, want)
		}
	}
	var version int
	if err := s.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion() {
		t.Errorf("user_version = %d, %v; want %d", version, err, SchemaVersion())
	}
	cands, err := s.Candidates(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 48 {
		t.Fatalf("run 1 candidates = %d, want 48", len(cands))
	}
	for _, c := range cands {
		if _, ok := c.Candidate.Job.Seed(); !ok || len(c.Scores) == 0 || c.Candidate.Path == "" || c.Pending != nil {
			t.Fatalf("migrated candidate %+v lacks its seed, scores or image", c)
		}
		wf, err := s.JobWorkflow(ctx, 1, c.Candidate.Job.Key)
		if err != nil {
			t.Fatal(err)
		}
		if key, _ := comfybatch.KeyOf(wf, c.Candidate.Job.Inputs); key != c.Candidate.Job.Key {
			t.Fatalf("job %s: KeyOf(stored workflow) = %s", c.Candidate.Job.Key, key)
		}
	}
	sel, err := s.Selections(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel) != 12 || sel[0].Group != "fox" || sel[0].Rank != 1 ||
		sel[0].JobKey != "a2be47d0ff3b597db176c0d99efb1e89818c89ab326d0de5f1196b1adeeb487a" || sel[0].Total != 1.9565217391304348 {
		t.Errorf("Selections(1) = %+v", sel)
	}
	fails, err := s.Failures(ctx, 2)
	if err != nil || len(fails) != 7 {
		t.Errorf("Failures(2) = %d, %v; want 7", len(fails), err)
	}
	st, err := s.JobStates(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 30 || len(st[fails[0].JobKey].Attempts) != 1 {
		t.Errorf("JobStates(2) = %d jobs, failed one has %+v", len(st), st[fails[0].JobKey].Attempts)
	}
	// A migrated run can go on: a new attempt and a new result of a failed job.
	key := fails[0].JobKey
	if err := s.RecordAttempt(ctx, 2, key, Attempt{Instance: "i", PromptID: "new", Number: 2}); err != nil {
		t.Fatal(err)
	}
	j := comfybatch.Job{Key: key, Index: fails[0].Index, Group: fails[0].Group}
	if err := s.RecordCandidate(ctx, 2, comfybatch.Scored{Candidate: comfybatch.Candidate{Job: j, PromptID: "new", Path: "images/x.png"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.Counts(ctx, 2)
	if err != nil || c.All.Done != 24 || c.All.Failed != 6 {
		t.Errorf("Counts(2) = %+v, %v; want 24 done, 6 failed", c.All, err)
	}
}

// compactRun creates a run with a base workflow whose jobs sweep seed and
// cfg, with a fixed prompt per group.
func compactRun(t *testing.T, s *Store, dir string) (Run, []comfybatch.Job) {
	t.Helper()
	base := `{"3":{"class_type":"KSampler","inputs":{"seed":0,"cfg":8,"steps":20}},"6":{"class_type":"CLIPTextEncode","inputs":{"text":""}}}`
	run, err := s.CreateRun(t.Context(), Run{Name: "c", OutputDir: filepath.Join(dir, "out"), Workflow: json.RawMessage(base),
		Sweep: []string{"seed", "cfg"},
		Bindings: map[string]Binding{
			"seed":   {Node: "3", Input: "seed", Kind: comfybatch.KindSeed},
			"cfg":    {Node: "3", Input: "cfg", Kind: comfybatch.KindFloat},
			"prompt": {Node: "6", Input: "text", Kind: comfybatch.KindString},
		}})
	if err != nil {
		t.Fatal(err)
	}
	var jobs []comfybatch.Job
	for i, g := range []string{"fox", "fox", "owl"} {
		seed := uint64(1)<<63 + uint64(i)
		cfg := []string{"8", "5.5", "8"}[i]
		prompt := "a " + g + ", \"quoted\""
		praw, _ := json.Marshal(prompt)
		wf := fmt.Sprintf(`{"3":{"class_type":"KSampler","inputs":{"cfg":%s,"seed":%d,"steps":20}},"6":{"class_type":"CLIPTextEncode","inputs":{"text":%s}}}`, cfg, seed, praw)
		key, err := comfybatch.KeyOf([]byte(wf), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfgv, _ := comfybatch.DecodeValue(json.RawMessage(cfg), comfybatch.KindFloat)
		jobs = append(jobs, comfybatch.Job{Key: key, Index: i, Group: g, Workflow: json.RawMessage(wf), Tags: []string{"gpu"},
			Params: []comfybatch.Param{
				{Name: "prompt", Value: prompt, Raw: praw},
				{Name: "seed", Value: seed, Raw: json.RawMessage(fmt.Sprint(seed))},
				{Name: "cfg", Value: cfgv, Raw: json.RawMessage(cfg)},
			}})
	}
	if err := s.PlanJobs(t.Context(), run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	return run, jobs
}

func TestCompactJobRows(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run, jobs := compactRun(t, s, dir)
	var params string
	var wf *string
	if err := s.read.QueryRowContext(ctx, `SELECT params, workflow FROM jobs WHERE job_key = ?`, jobs[1].Key).Scan(&params, &wf); err != nil {
		t.Fatal(err)
	}
	if params != `[9223372036854775809,5.5]` || wf != nil {
		t.Errorf("job row params = %s, workflow = %v; want only the swept raw values", params, wf)
	}
	groups, err := s.Groups(ctx, run.ID)
	if err != nil || len(groups) != 2 || groups[0].Name != "fox" || len(groups[0].Params) != 1 ||
		groups[0].Params[0].Value != `a fox, "quoted"` || !reflect.DeepEqual(groups[0].Tags, []string{"gpu"}) {
		t.Errorf("Groups = %+v, %v", groups, err)
	}
	for _, j := range jobs {
		got, err := s.JobWorkflow(ctx, run.ID, j.Key)
		if err != nil {
			t.Fatal(err)
		}
		if key, _ := comfybatch.KeyOf(got, nil); key != j.Key {
			t.Errorf("rebuilt workflow %s has key %s, want %s", got, key, j.Key)
		}
		if err := s.RecordCandidate(ctx, run.ID, comfybatch.Scored{Candidate: comfybatch.Candidate{Job: j, Path: "x.png"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cands, err := s.Candidates(ctx, run.ID, "")
	if err != nil || len(cands) != 3 {
		t.Fatalf("Candidates = %d, %v", len(cands), err)
	}
	for i, c := range cands {
		got := c.Candidate.Job
		if !reflect.DeepEqual(got.Params, jobs[i].Params) || !reflect.DeepEqual(got.Tags, jobs[i].Tags) {
			t.Errorf("candidate %d: params %+v tags %v, want %+v %v", i, got.Params, got.Tags, jobs[i].Params, jobs[i].Tags)
		}
	}
	if v := cands[0].Candidate.Job.Params[2].Value; v != 8.0 {
		t.Errorf("cfg written as 8 reads back as %#v, want float64 8", v)
	}
	// Reads of one group, and fills across groups, decode with only the
	// groups they name and still give each job its own group's prompt.
	owl, err := s.Candidates(ctx, run.ID, "owl")
	if err != nil || len(owl) != 1 || !reflect.DeepEqual(owl[0].Candidate.Job.Params, jobs[2].Params) {
		t.Errorf("Candidates(owl) = %+v, %v; want job 2 with params %+v", owl, err, jobs[2].Params)
	}
	var lean []comfybatch.Scored
	for _, g := range []string{"owl", "fox"} {
		r, _, err := s.RankingCandidates(ctx, run.ID, g)
		if err != nil {
			t.Fatal(err)
		}
		lean = append(lean, r...)
	}
	if err := s.FillJobs(ctx, run, lean); err != nil {
		t.Fatal(err)
	}
	for _, c := range lean {
		j := jobs[c.Candidate.Job.Index]
		if !reflect.DeepEqual(c.Candidate.Job.Params, j.Params) || !reflect.DeepEqual(c.Candidate.Job.Tags, j.Tags) {
			t.Errorf("filled job %d: params %+v tags %v, want %+v %v", j.Index, c.Candidate.Job.Params, c.Candidate.Job.Tags, j.Params, j.Tags)
		}
	}
}

func TestCandidatesPerImage(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	j := testJob(0, "a")
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{j}); err != nil {
		t.Fatal(err)
	}
	var batch []comfybatch.Scored
	for _, ref := range []struct {
		node string
		i    int
	}{{"9", 0}, {"9", 1}, {"9", 2}, {"12", 0}} {
		sc := testScored(j, float64(ref.i))
		sc.Candidate.Output, sc.Candidate.BatchIndex = ref.node, ref.i
		sc.Candidate.Path = fmt.Sprintf("images/%s-%d.png", ref.node, ref.i)
		batch = append(batch, sc)
	}
	batch[3].Pending = []string{"clip", "http"}
	if err := s.RecordCandidates(ctx, run.ID, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Candidates(ctx, run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, c := range got {
		refs = append(refs, c.Candidate.Ref().String()[64:]+fmt.Sprint(c.Pending))
	}
	if want := "/12[clip http] /9[] /9/1[] /9/2[]"; strings.Join(refs, " ") != want {
		t.Errorf("candidates = %s, want %s", strings.Join(refs, " "), want)
	}
	c, err := s.Counts(ctx, run.ID)
	if err != nil || c.All.Done != 1 || c.All.Unscored != 1 {
		t.Errorf("Counts = %+v, %v; want 1 done job with 1 unscored candidate", c.All, err)
	}
	sel := []comfybatch.Selection{{Group: "a", Rank: 1, JobKey: j.Key, Output: "9", BatchIndex: 2, Total: 2}}
	if err := s.SaveSelections(ctx, run.ID, "a", sel); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Selections(ctx, run.ID); err != nil || !reflect.DeepEqual(got, sel) {
		t.Errorf("Selections = %+v, %v; want %+v", got, err, sel)
	}
	// Recording the job again with fewer images keeps exactly those.
	if err := s.RecordCandidates(ctx, run.ID, batch[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Candidates(ctx, run.ID, ""); len(got) != 1 || got[0].Candidate.Output != "9" || got[0].Candidate.BatchIndex != 0 {
		t.Errorf("after re-recording one image: %d candidates", len(got))
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM candidates`).Scan(&n); err != nil || n != 1 {
		t.Errorf("candidate rows left = %d, %v; want the one recorded again", n, err)
	}
}

func TestSetAttemptOutcome(t *testing.T) {
	s, dir := openTest(t)
	ctx := context.Background()
	run := createRun(t, s, dir)
	j := testJob(0, "a")
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{j}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []Attempt{{Instance: "a", PromptID: "p1", Number: 1}, {Instance: "b", PromptID: "p2", Number: 2}} {
		if err := s.RecordAttempt(ctx, run.ID, j.Key, a); err != nil {
			t.Fatal(err)
		}
	}
	status := func() string {
		st, err := s.JobStates(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st[j.Key].Status
	}
	if err := s.SetAttemptOutcome(ctx, run.ID, j.Key, "p1", OutcomeMoved); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != comfybatch.StatusSubmitted {
		t.Errorf("status with p2 still in flight = %s, want submitted", got)
	}
	if err := s.SetAttemptOutcome(ctx, run.ID, j.Key, "p2", OutcomeCancelled); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != comfybatch.StatusPending {
		t.Errorf("status with every prompt taken off its queue = %s, want pending", got)
	}
	if err := s.RecordFailure(ctx, run.ID, j.Key, 2, fmt.Errorf("x: %w", comfybatch.ErrTransient)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := s.JobStates(ctx, run.ID)
	var outcomes []string
	for _, a := range st[j.Key].Attempts {
		outcomes = append(outcomes, a.Outcome)
	}
	if strings.Join(outcomes, " ") != "moved cancelled" {
		t.Errorf("outcomes after a failure = %v; moved and cancelled must stay", outcomes)
	}
	if err := s.SetAttemptOutcome(ctx, run.ID, j.Key, "nope", OutcomeMoved); err == nil {
		t.Error("SetAttemptOutcome(unknown prompt) = nil, want an error")
	}
}

// TestJobStatesReadInChunksAndInOrder: JobStatesOf gives what JobStates
// gives for the keys asked, and a StatusCursor walks the run in plan order,
// answering only for indexes the run has.
func TestJobStatesReadInChunksAndInOrder(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	var jobs []comfybatch.Job
	for i := range 10 {
		if i == 4 {
			continue // a gap in the plan indexes
		}
		jobs = append(jobs, testJob(i, "a"))
	}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs[:3] {
		if err := s.RecordAttempt(ctx, run.ID, j.Key, Attempt{Instance: "x", PromptID: fmt.Sprint("p", i), Number: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordFailure(ctx, run.ID, jobs[1].Key, 1, fmt.Errorf("boom: %w", comfybatch.ErrExecution)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := s.JobStates(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	some, err := s.JobStatesOf(ctx, run.ID, []string{jobs[0].Key, jobs[1].Key, jobs[5].Key, "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 3 {
		t.Errorf("JobStatesOf = %d states, want 3 (the unknown key left out)", len(some))
	}
	for k, st := range some {
		if !reflect.DeepEqual(st, all[k]) {
			t.Errorf("JobStatesOf[%.8s] = %+v, JobStates has %+v", k, st, all[k])
		}
	}
	cur, err := s.JobStatuses(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	for i := range 12 {
		st, ok := cur.At(i)
		if want := i != 4 && i < 10; ok != want {
			t.Errorf("At(%d) found %v, want %v", i, ok, want)
			continue
		}
		if ok && (st.Index != i || st.Key != testJob(i, "a").Key) {
			t.Errorf("At(%d) = %+v", i, st)
		}
		if ok && i == 1 && (st.Status != comfybatch.StatusFailed || st.ErrorClass != comfybatch.ClassExecution) {
			t.Errorf("At(1) = %+v, want failed execution", st)
		}
	}
	if cur.Err() != nil {
		t.Error(cur.Err())
	}
}

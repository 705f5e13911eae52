package inspect_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// batchedWorkflow saves every image twice: SaveImage 9 "Base" and,
// upscaled, SaveImage 12 "Upscaled".
const batchedWorkflow = `{
  "3": {"class_type": "KSampler", "inputs": {"seed": 1, "latent_image": ["5", 0]}},
  "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
  "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0]}},
  "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}, "_meta": {"title": "Base"}},
  "10": {"class_type": "ImageScale", "inputs": {"image": ["8", 0]}},
  "12": {"class_type": "SaveImage", "inputs": {"images": ["10", 0]}, "_meta": {"title": "Upscaled"}}
}`

// batchedImage is one image of a job of the batched fixture.
type batchedImage struct {
	output string
	batch  int
	total  float64
	reject string
}

// newBatchedFixture records run "foxes", whose prompts save batches of
// images at two output nodes: group "fox" sweeps seed × batch_size, so
// jobs 0 and 1 (batch size 1) yield two candidates each and jobs 2 and 3
// (batch size 2) four; job 4 failed. It selects three images, two of them
// from one job.
func newBatchedFixture(t *testing.T) (*store.Store, *runview.Run) {
	t.Helper()
	ctx := t.Context()
	now := base
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "runs.sqlite"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	run, err := st.CreateRun(ctx, store.Run{Name: "foxes", ManifestPath: "foxes.yaml", OutputDir: "/srv/runs/foxes",
		Started: base, Workflow: []byte(batchedWorkflow), Sweep: []string{"seed", "batch_size"},
		Bindings: map[string]store.Binding{"seed": {Node: "3", Input: "seed", Kind: comfybatch.KindSeed},
			"batch_size": {Node: "5", Input: "batch_size", Kind: comfybatch.KindInt}}})
	must(err)
	var jobs []comfybatch.Job
	for i, size := range []int64{1, 1, 2, 2, 2} {
		j := fixtureJob(t, i, "fox", comfybatch.Param{Name: "seed", Value: uint64(i%2 + 1)},
			comfybatch.Param{Name: "batch_size", Value: size}, comfybatch.Param{Name: "sampler_name", Value: "euler"})
		j.Outputs, j.Images = []string{"9", "12"}, 2*int(size)
		jobs = append(jobs, j)
	}
	must(st.PlanJobs(ctx, run.ID, jobs))
	gate := comfybatch.GateReason("sharpness.laplacian_var", 12, "<", "min", 50)
	images := [][]batchedImage{
		{{"9", 0, 0.50, ""}, {"12", 0, 0.55, ""}},
		{{"9", 0, 0.30, gate}, {"12", 0, 0.35, ""}},
		{{"9", 0, 0.90, ""}, {"9", 1, 0.60, ""}, {"12", 0, 0.85, comfybatch.NearDuplicateReason(2)}, {"12", 1, 0.70, ""}},
		{{"9", 0, 0.40, ""}, {"9", 1, 0.80, ""}, {"12", 0, 0.45, ""}, {"12", 1, 0.75, comfybatch.NearDuplicateReason(3)}},
	}
	for i, imgs := range images {
		j := jobs[i]
		var batch []comfybatch.Scored
		for _, im := range imgs {
			sc := scored(j, im.total, 100+100*im.total, im.reject)
			sc.Candidate.Output, sc.Candidate.BatchIndex = im.output, im.batch
			sc.Candidate.SHA256 = fmt.Sprintf("%s%s%d", j.Key[:56], im.output, im.batch)
			sc.Candidate.Path = "images/" + sc.Candidate.SHA256[:2] + "/" + sc.Candidate.SHA256 + ".png"
			batch = append(batch, sc)
		}
		must(st.RecordAttempt(ctx, run.ID, j.Key, store.Attempt{Instance: "gpu-1", PromptID: batch[0].Candidate.PromptID, Number: 1}))
		must(st.RecordCandidates(ctx, run.ID, batch))
	}
	must(st.RecordAttempt(ctx, run.ID, jobs[4].Key, store.Attempt{Instance: "gpu-1", PromptID: "p4", Number: 1}))
	must(st.RecordFailure(ctx, run.ID, jobs[4].Key, 1, fmt.Errorf("run on gpu-1: out of memory: %w", comfybatch.ErrExecution)))
	must(st.Flush(ctx))
	must(st.SaveSelections(ctx, run.ID, "fox", []comfybatch.Selection{
		{Group: "fox", Rank: 1, JobKey: jobs[2].Key, Output: "9", Total: 0.9, Reason: "top 3 by total"},
		{Group: "fox", Rank: 2, JobKey: jobs[3].Key, Output: "9", BatchIndex: 1, Total: 0.8, Reason: "top 3 by total"},
		{Group: "fox", Rank: 3, JobKey: jobs[2].Key, Output: "12", BatchIndex: 1, Total: 0.7, Reason: "top 3 by total"},
	}))
	now = base.Add(20 * time.Minute)
	must(st.SetRunStatus(ctx, run.ID, store.RunIncomplete))
	r, err := runview.Open(ctx, st, run.ID)
	must(err)
	return st, r
}

// TestGoldenBatched: show names each selected image by seed, batch index
// and output node, and its selected/ path; compare counts every image as
// a candidate and compares by batch_size, output or batch_index.
func TestGoldenBatched(t *testing.T) {
	_, r := newBatchedFixture(t)
	ctx := t.Context()
	rep, err := inspect.Show(ctx, r, "", inspect.ShowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("show_batched", func(t *testing.T) { checkReport(t, "show_batched", rep) })
	if rep.Candidates != 12 || rep.Groups[0].Jobs != 5 || rep.Groups[0].Candidates != 12 {
		t.Errorf("show: %d candidates, group %+v; want 12 candidates of 5 jobs", rep.Candidates, rep.Groups[0])
	}
	var paths []string
	for _, c := range rep.Selected {
		paths = append(paths, c.SelectedPath)
	}
	if got, want := strings.Join(paths, " "), "selected/fox/1_1.png selected/fox/2_2_1.png selected/fox/3_1_1.png"; got != want {
		t.Errorf("selected paths %s, want %s", got, want)
	}

	for _, tc := range []struct {
		name string
		by   []string
		n    map[string]int // candidates per value
	}{
		{"compare_batched_batch_size", []string{"batch_size"}, map[string]int{"1": 4, "2": 8}},
		{"compare_batched_output", []string{"output"}, map[string]int{"9": 6, "12": 6}},
		{"compare_batched_seed_output", []string{"seed", "output"}, nil},
		{"compare_batched_batch_index", []string{"batch_index"}, map[string]int{"0": 8, "1": 4}},
	} {
		c, err := inspect.Compare(ctx, r, tc.by, "", inspect.CompareOptions{})
		if err != nil {
			t.Fatalf("Compare(%v) = %v", tc.by, err)
		}
		if c.Candidates != 12 {
			t.Errorf("Compare(%v) counted %d candidates, want 12 (every image)", tc.by, c.Candidates)
		}
		for _, row := range c.Rows {
			if want, ok := tc.n[runview.FormatValue(row.Value)]; tc.n != nil && (!ok || row.N != want) {
				t.Errorf("Compare(%v) row %v has %d candidates, want %d", tc.by, row.Value, row.N, want)
			}
		}
		t.Run(tc.name, func(t *testing.T) { checkReport(t, tc.name, c) })
	}
	_, err = inspect.Compare(ctx, r, []string{"steps"}, "", inspect.CompareOptions{})
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "batch_index, batch_size, output, sampler_name, seed") {
		t.Errorf("Compare(steps) = %v, want ErrNotFound listing the params and image fields", err)
	}
}

package runviewtest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// Started is when the fixture run started; it took ten minutes.
var Started = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// Spec is one candidate of the fixture, or a failed job. Specs with the
// same Index are the images of one job (one prompt), recorded together;
// they differ in Output and BatchIndex.
type Spec struct {
	Index int
	// Output is the id of the output node that saved the image ("" as in
	// runs recorded before images had an identity) and BatchIndex its
	// index in that node's batch.
	Output     string
	BatchIndex int
	// Group, Seed and Sampler make the job's params; a batched fixture
	// takes its jobs from its manifest's plan instead.
	Group    string
	Seed     uint64
	Sampler  string
	Sharp    float64 // sharpness.laplacian_var
	Clip     float64 // clip.similarity
	Total    float64
	Rank     int    // selection rank, 0 when not selected
	Rejected string // the rejection reason
	ScoreErr string // the clip scorer's error
	// Failed makes the job a failure (class execution) instead of a
	// candidate.
	Failed bool
	// Path, when set, replaces the stored image path (to test unreadable
	// or hostile paths); no image is written for it.
	Path string
}

// Prompts are the groups' fixed prompts.
var Prompts = map[string]string{
	"portrait":  "a studio portrait, soft light",
	"landscape": "mountains at dawn",
}

// Specs returns the fixture's jobs:
//
//   - group "portrait" (top_k 2): seeds 1, 2, 10 × samplers euler and
//     dpmpp_2m, where (10, dpmpp_2m), job 5, failed: 5 candidates. Job 0
//     is rank 1, job 3 rank 2, job 1 a near-duplicate of job 0, job 4
//     rejected by the gate sharpness.laplacian_var.
//   - group "landscape" (top_k 1): seeds 1 and 2 with euler; job 6 is
//     selected, job 7 has a scoring error.
func Specs() []Spec {
	return []Spec{
		{Index: 0, Group: "portrait", Seed: 1, Sampler: "euler", Sharp: 310, Clip: 0.31, Total: 0.92, Rank: 1},
		{Index: 1, Group: "portrait", Seed: 1, Sampler: "dpmpp_2m", Sharp: 290, Clip: 0.30, Total: 0.81,
			Rejected: comfybatch.NearDuplicateReason(0)},
		{Index: 2, Group: "portrait", Seed: 2, Sampler: "euler", Sharp: 150, Clip: 0.24, Total: 0.40},
		{Index: 3, Group: "portrait", Seed: 2, Sampler: "dpmpp_2m", Sharp: 250, Clip: 0.29, Total: 0.66, Rank: 2},
		{Index: 4, Group: "portrait", Seed: 10, Sampler: "euler", Sharp: 12, Clip: 0.33, Total: 0.35,
			Rejected: comfybatch.GateReason("sharpness.laplacian_var", 12, "<", "min", 50)},
		{Index: 5, Group: "portrait", Seed: 10, Sampler: "dpmpp_2m", Failed: true},
		{Index: 6, Group: "landscape", Seed: 1, Sampler: "euler", Sharp: 400, Clip: 0.27, Total: 0.75, Rank: 1},
		{Index: 7, Group: "landscape", Seed: 2, Sampler: "euler", Sharp: 380, Total: 0.50,
			Rejected: comfybatch.ScoringErrorReason([]string{"clip: connection refused"}), ScoreErr: "connection refused"},
	}
}

// BatchedGroup is the one group of the batched fixture, BatchedPrompt its
// prompt.
const (
	BatchedGroup  = "fox"
	BatchedPrompt = "a red fox in fresh snow"
)

// BatchedSpecs returns the candidates of the batched fixture (see
// Options.Batched), whose manifest sweeps batch_size [1, 2] × seed
// [1, 2] and whose workflow saves every image twice, at SaveImage 9
// "Base" and SaveImage 12 "Upscaled": jobs 0 and 1 (batch size 1) yield
// two candidates each, jobs 2 and 3 (batch size 2) four. Group "fox"
// (top_k 3) selects job 2's 9/0 (rank 1), job 3's 9/1 (rank 2) and job
// 2's 12/1 (rank 3); job 2's 12/0 and job 3's 12/1 are near-duplicates
// of their own job, both images of job 1 fail the sharpness gate.
func BatchedSpecs() []Spec {
	g := BatchedGroup
	return []Spec{
		{Index: 0, Output: "9", Group: g, Sharp: 300, Clip: 0.30, Total: 0.50},
		{Index: 0, Output: "12", Group: g, Sharp: 310, Clip: 0.30, Total: 0.55},
		{Index: 1, Output: "9", Group: g, Sharp: 12, Clip: 0.25, Total: 0.30,
			Rejected: comfybatch.GateReason("sharpness.laplacian_var", 12, "<", "min", 50)},
		{Index: 1, Output: "12", Group: g, Sharp: 12, Clip: 0.25, Total: 0.35,
			Rejected: comfybatch.GateReason("sharpness.laplacian_var", 12, "<", "min", 50)},
		{Index: 2, Output: "9", Group: g, Sharp: 400, Clip: 0.33, Total: 0.90, Rank: 1},
		{Index: 2, Output: "9", BatchIndex: 1, Group: g, Sharp: 280, Clip: 0.29, Total: 0.60},
		{Index: 2, Output: "12", Group: g, Sharp: 390, Clip: 0.33, Total: 0.85, Rejected: comfybatch.NearDuplicateReason(2)},
		{Index: 2, Output: "12", BatchIndex: 1, Group: g, Sharp: 270, Clip: 0.30, Total: 0.70, Rank: 3},
		{Index: 3, Output: "9", Group: g, Sharp: 200, Clip: 0.27, Total: 0.40},
		{Index: 3, Output: "9", BatchIndex: 1, Group: g, Sharp: 350, Clip: 0.32, Total: 0.80, Rank: 2},
		{Index: 3, Output: "12", Group: g, Sharp: 210, Clip: 0.27, Total: 0.45},
		{Index: 3, Output: "12", BatchIndex: 1, Group: g, Sharp: 340, Clip: 0.32, Total: 0.75, Rejected: comfybatch.NearDuplicateReason(3)},
	}
}

// Options change the fixture.
type Options struct {
	// Batched records the batched fixture: its manifest (outputs and
	// batches), jobs planned from it as the pipeline plans them, with a
	// base workflow and compact job rows, and BatchedSpecs unless Specs
	// are given.
	Batched bool
	// Width and Height of every image; default 64×48.
	Width, Height int
	// Specs replace Specs() (or BatchedSpecs()).
	Specs []Spec
	// NoThumbs records the run as one made before thumbnails were: no
	// thumbs/ folder.
	NoThumbs bool
	// NoManifest leaves out the manifest file, as when a run's manifest
	// was moved away: top_k and gates are then unknown.
	NoManifest bool
}

// Fixture is a recorded run.
type Fixture struct {
	Store *store.Store
	// DB is the database file; Dir the folder holding it, the manifest
	// and the run folder (Run.OutputDir).
	DB, Dir string
	Run     *runview.Run
	// Record is the store's record of the run.
	Record store.Run
	// Jobs are the planned jobs by index.
	Jobs map[int]comfybatch.Job
}

// Build records the default fixture.
func Build(t testing.TB) *Fixture { return BuildWith(t, Options{}) }

// manifest is the fixture's manifest; its workflow is wf.json beside it.
const manifest = `name: headshots
workflow: wf.json
params:
  prompt: {title: Positive, input: text}
groups:
  - name: portrait
    set: {prompt: "a studio portrait, soft light"}
    top_k: 2
  - name: landscape
    set: {prompt: "mountains at dawn"}
    top_k: 1
sweep:
  seed: [1, 2, 10]
  sampler_name: [euler, dpmpp_2m]
scorers:
  - type: sharpness
    min: 50
`

const workflow = `{
  "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7.5, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0],
        "latent_image": ["5", 0]}},
  "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
  "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
  "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}, "_meta": {"title": "Positive"}},
  "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
  "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["8", 0]}}
}`

// batchedManifest is the batched fixture's manifest; its workflow is
// batchedWorkflow, in wf.json beside it.
const batchedManifest = `name: foxes
workflow: wf.json
params:
  prompt: {title: Positive, input: text}
groups:
  - name: fox
    set: {prompt: "a red fox in fresh snow"}
    top_k: 3
sweep:
  batch_size: [1, 2]
  seed: [1, 2]
scorers:
  - type: sharpness
    min: 50
`

const batchedWorkflow = `{
  "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7.5, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0],
        "latent_image": ["5", 0]}},
  "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
  "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
  "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}, "_meta": {"title": "Positive"}},
  "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
  "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "base", "images": ["8", 0]}, "_meta": {"title": "Base"}},
  "10": {"class_type": "ImageScale", "inputs": {"image": ["8", 0], "width": 1024, "height": 1024,
        "upscale_method": "lanczos", "crop": "disabled"}},
  "12": {"class_type": "SaveImage", "inputs": {"filename_prefix": "big", "images": ["10", 0]}, "_meta": {"title": "Upscaled"}},
  "13": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}, "_meta": {"title": "Peek"}}
}`

// BuildWith records the fixture with opts.
func BuildWith(t testing.TB, opts Options) *Fixture {
	t.Helper()
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 64, 48
	}
	text, wfText := manifest, workflow
	if opts.Batched {
		text, wfText = batchedManifest, batchedWorkflow
	}
	if opts.Specs == nil {
		opts.Specs = Specs()
		if opts.Batched {
			opts.Specs = BatchedSpecs()
		}
	}
	ctx := t.Context()
	dir := t.TempDir()
	f := &Fixture{DB: filepath.Join(dir, "runs.db"), Dir: dir, Jobs: map[int]comfybatch.Job{}}
	mpath := filepath.Join(dir, "headshots.yaml")
	if !opts.NoManifest {
		must(t, os.WriteFile(mpath, []byte(text), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "wf.json"), []byte(wfText), 0o644))
	}
	now := Started
	st, err := store.Open(ctx, f.DB, store.Options{Now: func() time.Time { return now }})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	f.Store = st
	rec := store.Run{Name: "headshots", ManifestPath: mpath, ManifestText: text, MasterSeed: 1234,
		OutputDir: filepath.Join(dir, "headshots-run"), ToolVersion: "test", Started: Started}
	var planned map[int]comfybatch.Job
	if opts.Batched {
		rec.Name = "foxes"
		planned = plan(t, text, wfText, &rec)
	}
	f.Record, err = st.CreateRun(ctx, rec)
	must(t, err)
	run := f.Record

	// One job per Index, in the order the specs first name it.
	var (
		jobs  []comfybatch.Job
		specs = map[int][]int{} // index -> positions in opts.Specs
	)
	for i, s := range opts.Specs {
		if _, ok := specs[s.Index]; !ok {
			j, ok := planned[s.Index]
			if !ok {
				j = fabricated(t, s)
			}
			jobs = append(jobs, j)
		}
		specs[s.Index] = append(specs[s.Index], i)
	}
	for i := range jobs {
		j := &jobs[i]
		j.Images = len(specs[j.Index])
		f.Jobs[j.Index] = *j
	}
	must(t, st.PlanJobs(ctx, run.ID, jobs))
	sel := map[string][]comfybatch.Selection{}
	var groups []string
	for _, j := range jobs {
		if !slices.Contains(groups, j.Group) {
			groups = append(groups, j.Group)
		}
		first := opts.Specs[specs[j.Index][0]]
		now = Started.Add(time.Duration(j.Index+1) * time.Minute)
		pid := fmt.Sprintf("prompt-%02d", j.Index)
		must(t, st.RecordAttempt(ctx, run.ID, j.Key, store.Attempt{Instance: "gpu-a", PromptID: pid, Number: 1}))
		if first.Failed {
			err := fmt.Errorf("run on gpu-a: node 3 (KSampler): CUDA error: an illegal memory access was encountered: %w", comfybatch.ErrExecution)
			must(t, st.RecordFailure(ctx, run.ID, j.Key, 3, err))
			continue
		}
		var batch []comfybatch.Scored
		for _, pos := range specs[j.Index] {
			s := opts.Specs[pos]
			c := comfybatch.Candidate{Job: j, Instance: "gpu-a", PromptID: pid, Attempt: 1,
				Filename: "ComfyUI_00001_.png", // a server name: must never be used
				Queued:   now.Add(-40 * time.Second), Started: now.Add(-30 * time.Second), Finished: now,
				Download: 120 * time.Millisecond, Output: s.Output, BatchIndex: s.BatchIndex}
			if s.Path != "" {
				c.Path, c.SHA256 = s.Path, fmt.Sprintf("%064x", pos)
			} else {
				img := Image(pos, opts.Width, opts.Height)
				var b bytes.Buffer
				must(t, png.Encode(&b, img))
				c.Image, c.Pixels = b.Bytes(), img
				c.Path, c.SHA256, err = st.WriteImage(ctx, run, c.Image)
				must(t, err)
				if !opts.NoThumbs {
					must(t, st.WriteThumbnail(ctx, run, c.SHA256, img))
				}
			}
			clip := comfybatch.Score{Scorer: "clip", Metrics: map[string]float64{"similarity": s.Clip}}
			if s.ScoreErr != "" {
				clip = comfybatch.Score{Scorer: "clip", Metrics: map[string]float64{}, Err: s.ScoreErr}
			}
			batch = append(batch, comfybatch.Scored{Candidate: c, Total: s.Total, Rejected: s.Rejected, Scores: []comfybatch.Score{
				{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": s.Sharp}},
				clip,
				{Scorer: "size", Metrics: map[string]float64{"bytes": float64(len(c.Image)), "width": float64(opts.Width),
					"height": float64(opts.Height), "ok": 1}},
			}})
			if s.Rank > 0 {
				sel[j.Group] = append(sel[j.Group], comfybatch.Selection{Group: j.Group, Rank: s.Rank, JobKey: j.Key,
					Output: s.Output, BatchIndex: s.BatchIndex, Total: s.Total, Reason: "top by total"})
			}
		}
		must(t, st.RecordCandidates(ctx, run.ID, batch))
	}
	must(t, st.Flush(ctx))
	var all []comfybatch.Selection
	slices.Sort(groups)
	for _, g := range groups {
		slices.SortFunc(sel[g], func(a, b comfybatch.Selection) int { return a.Rank - b.Rank })
		must(t, st.SaveSelections(ctx, run.ID, g, sel[g]))
		all = append(all, sel[g]...)
	}
	must(t, st.LayoutSelected(ctx, run, all))
	must(t, st.SaveInstanceStats(ctx, run.ID, []store.InstanceStat{
		{Instance: "gpu-a", Prompts: 5, Failures: 1, Busy: 6 * time.Minute, ModelLoads: 2},
		{Instance: "gpu-b", Prompts: 3, Busy: 4 * time.Minute, ModelLoads: 1, Down: 30 * time.Second},
	}))
	now = Started.Add(10 * time.Minute)
	must(t, st.SetRunStatus(ctx, run.ID, store.RunDone))
	f.Run, err = runview.Open(ctx, st, run.ID)
	must(t, err)
	return f
}

// fabricated makes the job of a spec of the default fixture, with a
// workflow of its own (as runs recorded before base workflows keep).
func fabricated(t testing.TB, s Spec) comfybatch.Job {
	t.Helper()
	wf := fmt.Sprintf(`{"3":{"class_type":"KSampler","inputs":{"seed":%d,"sampler_name":%q,"group":%q}}}`, s.Seed, s.Sampler, s.Group)
	key, err := comfybatch.KeyOf([]byte(wf), nil)
	must(t, err)
	return comfybatch.Job{Key: key, Index: s.Index, Group: s.Group, Workflow: []byte(wf), Params: []comfybatch.Param{
		{Name: "prompt", Value: Prompts[s.Group]},
		{Name: "seed", Value: s.Seed},
		{Name: "sampler_name", Value: s.Sampler},
		{Name: "cfg", Value: 7.5},
	}}
}

// plan expands the manifest text (its workflow wfText) as the pipeline
// does, fills in rec's base workflow, sweep and bindings as the pipeline
// records them, and returns the planned jobs by index.
func plan(t testing.TB, text, wfText string, rec *store.Run) map[int]comfybatch.Job {
	t.Helper()
	fsys := fstest.MapFS{"m.yaml": {Data: []byte(text)}, "wf.json": {Data: []byte(wfText)}}
	m, err := manifests.LoadFS(fsys, "m.yaml")
	must(t, err)
	rec.Workflow, rec.Sweep, rec.Bindings = m.Workflow, m.SweptParams(), map[string]store.Binding{}
	for _, b := range m.Bindings() {
		rec.Bindings[b.Name] = store.Binding{Node: b.Node, Input: b.Input, Kind: b.Kind}
	}
	out := map[int]comfybatch.Job{}
	for j, err := range m.Jobs() {
		must(t, err)
		out[j.Index] = j
	}
	return out
}

// Reopen reads the run again, after a test changed what the store holds.
func (f *Fixture) Reopen(t testing.TB) *runview.Run {
	t.Helper()
	r, err := runview.Open(t.Context(), f.Store, f.Record.ID)
	must(t, err)
	f.Run = r
	return r
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Colour returns the dominant colour of the fixture image of the n-th
// spec (the job index n in the default fixture, whose specs are in index
// order), so tests can check which image landed where.
func Colour(n int) color.RGBA {
	palette := []color.RGBA{
		{220, 40, 40, 255}, {40, 160, 60, 255}, {40, 80, 220, 255}, {230, 180, 30, 255},
		{150, 50, 180, 255}, {30, 170, 170, 255}, {240, 120, 20, 255}, {90, 90, 90, 255},
		{200, 60, 140, 255}, {120, 190, 40, 255}, {20, 120, 160, 255}, {170, 110, 60, 255},
		{100, 60, 220, 255}, {230, 90, 90, 255}, {60, 200, 120, 255}, {160, 160, 30, 255},
	}
	return palette[n%len(palette)]
}

// Image is the fixture image of the n-th spec: Colour(n) with darker
// vertical stripes, more of them for larger n.
func Image(n, w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := Colour(n)
	dark := color.RGBA{c.R / 3, c.G / 3, c.B / 3, 255}
	period := max(3, w/(n+1))
	stroke := max(2, w/32)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x%period < stroke && x > 4 {
				img.SetRGBA(x, y, dark)
			} else {
				img.SetRGBA(x, y, c)
			}
		}
	}
	return img
}

// Many returns the specs of a larger run, for benchmarks: groups groups
// (g00, g01, ...) of perGroup candidates each, seeds × four samplers, the
// three best of each group selected and one in ten rejected by the gate.
// It has no failed job. Prompts are the group names.
func Many(groups, perGroup int) []Spec {
	samplers := []string{"euler", "dpmpp_2m", "dpmpp_2m_sde", "heun"}
	var specs []Spec
	for g := range groups {
		name := fmt.Sprintf("g%02d", g)
		for i := range perGroup {
			s := Spec{Index: len(specs), Group: name, Seed: uint64(i / len(samplers)), Sampler: samplers[i%len(samplers)],
				Sharp: float64(100 + (i*37)%300), Clip: float64((i*13)%100) / 100, Total: float64((i*7919)%1000) / 1000}
			switch {
			case i < 3:
				s.Rank, s.Total = i+1, 2-float64(i)/10
			case i%10 == 9:
				s.Rejected = comfybatch.GateReason("sharpness.laplacian_var", 12, "<", "min", 50)
			}
			specs = append(specs, s)
		}
	}
	return specs
}

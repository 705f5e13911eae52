// Package runviewtest records a small synthetic run through the store's
// public API, the way the pipeline records one, with real PNG images and
// thumbnails in its run folder and a manifest that parses, and opens it
// as a *runview.Run: the fixture of the tests of runview, report, export
// and the commands that present runs. It is safe for concurrent use.
package runviewtest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// Started is when the fixture run started; it took ten minutes.
var Started = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// Spec is one job of the fixture.
type Spec struct {
	Index    int
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

// Options change the fixture.
type Options struct {
	// Width and Height of every image; default 64×48.
	Width, Height int
	// Specs replace Specs().
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

// BuildWith records the fixture with opts.
func BuildWith(t testing.TB, opts Options) *Fixture {
	t.Helper()
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 64, 48
	}
	if opts.Specs == nil {
		opts.Specs = Specs()
	}
	ctx := t.Context()
	dir := t.TempDir()
	f := &Fixture{DB: filepath.Join(dir, "runs.db"), Dir: dir, Jobs: map[int]comfybatch.Job{}}
	mpath := filepath.Join(dir, "headshots.yaml")
	if !opts.NoManifest {
		must(t, os.WriteFile(mpath, []byte(manifest), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "wf.json"), []byte(workflow), 0o644))
	}
	now := Started
	st, err := store.Open(ctx, f.DB, store.Options{Now: func() time.Time { return now }})
	must(t, err)
	t.Cleanup(func() { st.Close() })
	f.Store = st
	f.Record, err = st.CreateRun(ctx, store.Run{Name: "headshots", ManifestPath: mpath, ManifestText: manifest,
		MasterSeed: 1234, OutputDir: filepath.Join(dir, "headshots-run"), ToolVersion: "test", Started: Started})
	must(t, err)
	run := f.Record

	var jobs []comfybatch.Job
	for _, s := range opts.Specs {
		wf := fmt.Sprintf(`{"3":{"class_type":"KSampler","inputs":{"seed":%d,"sampler_name":%q,"group":%q}}}`, s.Seed, s.Sampler, s.Group)
		key, err := comfybatch.KeyOf([]byte(wf), nil)
		must(t, err)
		j := comfybatch.Job{Key: key, Index: s.Index, Group: s.Group, Workflow: []byte(wf), Params: []comfybatch.Param{
			{Name: "prompt", Value: Prompts[s.Group]},
			{Name: "seed", Value: s.Seed},
			{Name: "sampler_name", Value: s.Sampler},
			{Name: "cfg", Value: 7.5},
		}}
		jobs = append(jobs, j)
		f.Jobs[s.Index] = j
	}
	must(t, st.PlanJobs(ctx, run.ID, jobs))
	sel := map[string][]comfybatch.Selection{}
	for i, s := range opts.Specs {
		j := jobs[i]
		now = Started.Add(time.Duration(s.Index+1) * time.Minute)
		pid := fmt.Sprintf("prompt-%02d", s.Index)
		must(t, st.RecordAttempt(ctx, run.ID, j.Key, store.Attempt{Instance: "gpu-a", PromptID: pid, Number: 1}))
		if s.Failed {
			err := fmt.Errorf("run on gpu-a: node 3 (KSampler): CUDA error: an illegal memory access was encountered: %w", comfybatch.ErrExecution)
			must(t, st.RecordFailure(ctx, run.ID, j.Key, 3, err))
			continue
		}
		c := comfybatch.Candidate{Job: j, Instance: "gpu-a", PromptID: pid, Attempt: 1,
			Filename: "ComfyUI_00001_.png", // a server name: must never be used
			Queued:   now.Add(-40 * time.Second), Started: now.Add(-30 * time.Second), Finished: now,
			Download: 120 * time.Millisecond}
		if s.Path != "" {
			c.Path, c.SHA256 = s.Path, fmt.Sprintf("%064x", s.Index)
		} else {
			img := Image(s.Index, opts.Width, opts.Height)
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
		sc := comfybatch.Scored{Candidate: c, Total: s.Total, Rejected: s.Rejected, Scores: []comfybatch.Score{
			{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": s.Sharp}},
			clip,
			{Scorer: "size", Metrics: map[string]float64{"bytes": float64(len(c.Image)), "width": float64(opts.Width),
				"height": float64(opts.Height), "ok": 1}},
		}}
		must(t, st.RecordCandidate(ctx, run.ID, sc))
		if s.Rank > 0 {
			sel[s.Group] = append(sel[s.Group], comfybatch.Selection{Group: s.Group, Rank: s.Rank, JobKey: j.Key,
				Total: s.Total, Reason: "top by total"})
		}
	}
	must(t, st.Flush(ctx))
	var all []comfybatch.Selection
	for _, g := range []string{"landscape", "portrait"} {
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

// Colour returns the dominant colour of the fixture image of job index n,
// so tests can check which image landed where.
func Colour(n int) color.RGBA {
	palette := []color.RGBA{
		{220, 40, 40, 255}, {40, 160, 60, 255}, {40, 80, 220, 255}, {230, 180, 30, 255},
		{150, 50, 180, 255}, {30, 170, 170, 255}, {240, 120, 20, 255}, {90, 90, 90, 255},
	}
	return palette[n%len(palette)]
}

// Image is the fixture image of job index n: Colour(n) with darker
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

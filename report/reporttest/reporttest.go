// Package reporttest builds a small synthetic report.Run, with real PNG
// files on disk, for tests of report and export and of the commands that
// call them. It is safe for concurrent use.
package reporttest

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/report"
)

// Run writes the fixture's images into a new t.TempDir() and returns the
// run that describes them:
//
//   - group "portrait" (top 2): seeds 1, 2, 10 × samplers euler and
//     dpmpp_2m, where (10, dpmpp_2m) failed, so 5 candidates. Job 0 is
//     rank 1, job 3 rank 2, job 1 a near-duplicate of job 0, job 4
//     rejected by the gate sharpness.laplacian_var.
//   - group "landscape" (top 1): seeds 1 and 2 with euler; job 6 is
//     selected, job 7 has a scoring error.
//
// The run started at 2026-11-23 10:00 UTC and took ten minutes. Every
// image is a 64×48 PNG in Colour(job index) with its own stripe pattern.
func Run(t testing.TB) report.Run {
	t.Helper()
	return RunSized(t, 64, 48)
}

// RunSized is Run with images of w×h pixels, for screenshots that should
// look like real output.
func RunSized(t testing.TB, w, h int) report.Run {
	t.Helper()
	dir := t.TempDir()
	started := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	run := report.Run{
		ID:           7,
		Name:         "headshots",
		ManifestPath: "/work/manifests/headshots.yaml",
		Started:      started,
		Finished:     started.Add(10 * time.Minute),
		Status:       "done",
		OutputDir:    dir,
		Counts:       report.Counts{Jobs: 8, Done: 7, Failed: 1},
		Instances: []report.Instance{
			{Name: "gpu-a", Prompts: 5, Failures: 1, Busy: 6 * time.Minute, ModelLoads: 2, CostPerGPUHour: 1.20},
			{Name: "gpu-b", Prompts: 3, Busy: 4 * time.Minute, ModelLoads: 1, CostPerGPUHour: 0.80},
		},
		Gates: []string{"sharpness.laplacian_var"},
	}
	type spec struct {
		index    int
		group    string
		seed     uint64
		sampler  string
		sharp    float64
		clip     float64
		total    float64
		rejected string
		scoreErr string
	}
	specs := []spec{
		{0, "portrait", 1, "euler", 310, 0.31, 0.92, "", ""},
		{1, "portrait", 1, "dpmpp_2m", 290, 0.30, 0.81, "", ""},
		{2, "portrait", 2, "euler", 150, 0.24, 0.40, "", ""},
		{3, "portrait", 2, "dpmpp_2m", 250, 0.29, 0.66, "", ""},
		{4, "portrait", 10, "euler", 12, 0.33, 0.35, "gate sharpness.laplacian_var: 12 < min 50", ""},
		{6, "landscape", 1, "euler", 400, 0.27, 0.75, "", ""},
		{7, "landscape", 2, "euler", 380, 0, 0.50, "scoring error: clip: connection refused", "connection refused"},
	}
	prompts := map[string]string{"portrait": "a studio portrait, soft light", "landscape": "mountains at dawn"}
	groups := map[string]*report.Group{}
	run.Groups = []report.Group{{Name: "portrait", TopK: 2}, {Name: "landscape", TopK: 1}}
	for i := range run.Groups {
		groups[run.Groups[i].Name] = &run.Groups[i]
	}
	for _, s := range specs {
		rel := filepath.Join("images", s.group, fmt.Sprintf("%06d.png", s.index))
		writePNG(t, filepath.Join(dir, rel), s.index, w, h)
		job := comfybatch.Job{
			Key:   fmt.Sprintf("key%02d", s.index),
			Index: s.index,
			Group: s.group,
			Params: []comfybatch.Param{
				{Name: "prompt", Value: prompts[s.group]},
				{Name: "seed", Value: s.seed},
				{Name: "sampler_name", Value: s.sampler},
				{Name: "cfg", Value: 7.5},
			},
		}
		clip := comfybatch.Score{Scorer: "clip", Metrics: map[string]float64{"similarity": s.clip}}
		if s.scoreErr != "" {
			clip = comfybatch.Score{Scorer: "clip", Err: s.scoreErr}
		}
		g := groups[s.group]
		g.Candidates = append(g.Candidates, comfybatch.Scored{
			Candidate: comfybatch.Candidate{
				Job: job, Instance: "gpu-a", Attempt: 1, Path: rel,
				Filename: "ComfyUI_00001_.png", // a server name: must never be used
				SHA256:   fmt.Sprintf("%064x", s.index),
			},
			Scores: []comfybatch.Score{
				{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": s.sharp}},
				clip,
			},
			Total:    s.total,
			Rejected: s.rejected,
		})
	}
	groups["portrait"].NearDuplicates = map[string]string{"key01": "key00"}
	run.Selections = []comfybatch.Selection{
		{Group: "portrait", Rank: 1, JobKey: "key00", Total: 0.92, Reason: "top 2 by total"},
		{Group: "portrait", Rank: 2, JobKey: "key03", Total: 0.66, Reason: "top 2 by total"},
		{Group: "landscape", Rank: 1, JobKey: "key06", Total: 0.75, Reason: "top 1 by total"},
	}
	run.Failed = []report.Failure{{
		JobIndex: 5, JobKey: "key05", Group: "portrait",
		Params:   []comfybatch.Param{{Name: "seed", Value: uint64(10)}, {Name: "sampler_name", Value: "dpmpp_2m"}},
		Class:    comfybatch.ClassExecution,
		Message:  "KSampler: CUDA error: an illegal memory access was encountered",
		Attempts: 3,
	}}
	return run
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

// writePNG writes the image of job index n: Colour(n) with darker
// vertical stripes, more of them for larger n.
func writePNG(t testing.TB, path string, n, w, h int) {
	t.Helper()
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

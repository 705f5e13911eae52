package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
	"github.com/comfybatch/comfybatch/pipeline"
	"github.com/comfybatch/comfybatch/score/cliptest"
)

func newDemoCmd(o IO) *cobra.Command {
	var (
		exec  execFlags
		dir   string
		count int
		scale float64
	)
	c := &cobra.Command{
		Use:   "demo [flags]",
		Short: "run the built-in demo on a simulated fleet (needs nothing but Go)",
		Long: `demo writes the embedded example manifest (manifests/examples/demo.yaml: two
prompts, 24 seeds each, the 6 best of each kept) into --dir, starts simulated
ComfyUI instances and a fake CLIP server inside the process, and runs it like
batch run would: progress on stderr, the selected candidates on stdout, the
database and images in --dir/comfybatch-runs/. Every demo is a new run.

Files already in --dir are kept, so an edited demo.yaml runs as edited. The
results can be inspected like any run's (batch show, report, grid, export).`,
		Example: `  batch demo
  batch demo --instance-count 8 --time-scale 0.01
  batch show 1 --db comfybatch-demo/comfybatch-runs/comfybatch.db`,
		Args: exactArgs(0, "demo takes no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return demo(c.Context(), dir, count, scale, exec, o)
		},
	}
	fs := c.Flags()
	fs.StringVar(&dir, "dir", "comfybatch-demo", "folder for the demo's manifest, database and images")
	fs.IntVar(&count, "instance-count", 3, "simulated ComfyUI instances to start")
	fs.Float64Var(&scale, "time-scale", 0.1, "multiplier for every simulated duration (1 = realistic speed)")
	exec.register(fs)
	renamed(c, "instances", "the demo starts its own simulated instances: --instance-count N")
	renamed(c, "sim-instances", "it is now --instance-count N")
	renamed(c, "new-run", "every demo is a new run")
	setExits(c, generateExits()...)
	return c
}

// demo runs the embedded demo manifest on an embedded simulated fleet,
// so a newcomer sees the whole path with nothing installed but Go.
func demo(ctx context.Context, dir string, count int, scale float64, exec execFlags, o IO) error {
	if count < 1 {
		return usageErr("--instance-count must be at least 1")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// The demo's manifest and workflow are written beside its results, so
	// that resume, select, report and editing them all work like for any
	// other manifest. Files a person already has there are kept.
	if err := writeExamples(abs); err != nil {
		return fmt.Errorf("write the demo manifest: %w", err)
	}
	m, err := manifests.Load(filepath.Join(abs, "demo.yaml"))
	if err != nil {
		return err
	}

	fleet, err := comfytest.StartFleet(count, comfytest.Options{TimeScale: scale})
	if err != nil {
		return fmt.Errorf("start simulated fleet: %w", err)
	}
	defer fleet.Close()
	clip, clipURL := cliptest.New(cliptest.Options{}).Start()
	defer clip.Close()
	pointCLIP(m, clipURL)
	var instances []generate.Instance
	for i, u := range fleet.URLs() {
		instances = append(instances, generate.Instance{Name: fmt.Sprintf("sim%d", i+1), URL: u})
	}
	fmt.Fprintf(o.Err, "demo: %d simulated ComfyUI instances, manifest %q, writing to %s\n", count, m.Name, abs)
	start := time.Now()
	out, err := runWith(ctx, m, instances, exec, pipeline.Options{NewRun: true}, o)
	fmt.Fprintf(o.Err, "demo: finished in %s\n", time.Since(start).Round(time.Millisecond))
	if err == nil && out != nil {
		rel := m.Output.Database
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, rel); err == nil {
				rel = r
			}
		}
		fmt.Fprintf(o.Err, "next: batch show %d --db %s   (also: report, grid, compare --by seed, export)\n", out.Run.ID, rel)
	}
	return err
}

// pointCLIP points every CLIP-based scorer of m at url.
func pointCLIP(m *manifests.Manifest, url string) {
	for _, s := range m.Scorers {
		switch o := s.Options.(type) {
		case *manifests.CLIPOptions:
			o.URL = url
		case *manifests.AestheticOptions:
			o.URL = url
		}
	}
}

// writeExamples writes the embedded examples into dir, keeping files that
// already exist.
func writeExamples(dir string) error {
	return fs.WalkDir(examples.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if _, err := os.Stat(dst); err == nil {
			return nil
		}
		data, err := fs.ReadFile(examples.FS, p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

package main

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
	"github.com/comfybatch/comfybatch/score/cliptest"
)

// cmdDemo runs the embedded demo manifest on an embedded simulated fleet,
// so a newcomer sees the whole path with nothing installed but Go.
func cmdDemo(ctx context.Context, args []string, o IO) error {
	flags := newFlags("demo", "", o)
	var f runFlags
	f.register(flags)
	dir := flags.String("dir", "comfybatch-demo", "folder for the demo's database and images")
	n := flags.Int("sim-instances", 3, "simulated ComfyUI instances to start")
	scale := flags.Float64("time-scale", 0.1, "multiplier for every simulated duration (1 = realistic speed)")
	if err := parse(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		return usageErr("demo takes no arguments")
	}
	abs, err := filepath.Abs(*dir)
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

	fleet, err := comfytest.StartFleet(*n, comfytest.Options{TimeScale: *scale})
	if err != nil {
		return fmt.Errorf("start simulated fleet: %w", err)
	}
	defer fleet.Close()
	clip, clipURL := cliptest.New(cliptest.Options{}).Start()
	defer clip.Close()
	pointCLIP(m, clipURL)
	if f.instances == "" {
		for i, u := range fleet.URLs() {
			if i > 0 {
				f.instances += ","
			}
			f.instances += u
		}
	}
	if !f.force {
		f.newRun = true // every demo is a fresh run; `batch run` shows resuming
	}
	fmt.Fprintf(o.Err, "demo: %d simulated ComfyUI instances, manifest %q, writing to %s\n", *n, m.Name, abs)
	start := time.Now()
	err = runWith(ctx, m, f, o)
	fmt.Fprintf(o.Err, "demo: finished in %s\n", time.Since(start).Round(time.Millisecond))
	if err == nil {
		rel := m.Output.Database
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, rel); err == nil {
				rel = r
			}
		}
		fmt.Fprintf(o.Err, "next: batch show RUN --db %s   (also: report, grid, compare --by seed, export)\n", rel)
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

// cmdSim serves simulated ComfyUI instances until interrupted.
func cmdSim(ctx context.Context, args []string, o IO) error {
	fs := newFlags("sim", "", o)
	n := fs.Int("instances", 1, "number of instances (consecutive ports)")
	port := fs.Int("port", 8188, "port of the first instance")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	scale := fs.Float64("time-scale", 1, "multiplier for every simulated duration (0.1 = ten times faster)")
	speed := fs.Float64("speed", 1, "relative GPU speed")
	fail := fs.Float64("error-rate", 0, "fraction of prompts that fail with a runtime execution_error")
	clipPort := fs.Int("clip-port", 7997, "port of a fake CLIP embeddings server (Infinity API) for the demo manifest; 0 = none")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 {
		return usageErr("--instances must be at least 1")
	}
	fleet, err := comfytest.ListenFleet(*host, *port, *n, comfytest.Options{TimeScale: *scale, Speed: *speed})
	if err != nil {
		return fmt.Errorf("listen: %w (is another ComfyUI or sim on port %d? try --port)", err, *port)
	}
	defer fleet.Close()
	if *fail > 0 {
		for _, s := range fleet.Servers() {
			s.SetFaults(comfytest.Faults{ExecErrorRate: *fail})
		}
	}
	for _, u := range fleet.URLs() {
		fmt.Fprintln(o.Out, u)
	}
	if *clipPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*clipPort)))
		if err != nil {
			return fmt.Errorf("listen for the fake CLIP server: %w (pass --clip-port 0 to go without)", err)
		}
		srv := &http.Server{Handler: cliptest.New(cliptest.Options{})}
		var wg sync.WaitGroup
		wg.Go(func() { _ = srv.Serve(ln) })
		defer wg.Wait() // runs after Shutdown below
		defer srv.Shutdown(context.WithoutCancel(ctx))
		fmt.Fprintf(o.Err, "sim: fake CLIP embeddings at http://%s\n", ln.Addr())
	}
	fmt.Fprintln(o.Err, "sim: serving; Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

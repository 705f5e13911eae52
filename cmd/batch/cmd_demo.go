package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// cmdDemo runs the embedded demo manifest on an embedded simulated fleet,
// so a newcomer sees the whole path with nothing installed but Go.
func cmdDemo(ctx context.Context, args []string, o IO) error {
	fs := newFlags("demo", "", o)
	var f runFlags
	f.register(fs)
	dir := fs.String("dir", "comfybatch-demo", "folder for the demo's database and images")
	n := fs.Int("sim-instances", 3, "simulated ComfyUI instances to start")
	scale := fs.Float64("time-scale", 0.1, "simulated time per real second (1 = realistic speed)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("demo takes no arguments")
	}
	m, err := manifests.LoadFS(examples.FS, "demo.yaml")
	if err != nil {
		return fmt.Errorf("embedded demo manifest: %w", err)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	m.Path = filepath.Join(abs, "demo.yaml")
	m.Output.Dir = filepath.Join(abs, "runs")
	m.Output.Database = filepath.Join(abs, "comfybatch.db")

	fleet, err := comfytest.StartFleet(*n, comfytest.Options{TimeScale: *scale})
	if err != nil {
		return fmt.Errorf("start simulated fleet: %w", err)
	}
	defer fleet.Close()
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
	err = runManifest(ctx, m, f, o)
	fmt.Fprintf(o.Err, "demo: finished in %s\n", time.Since(start).Round(time.Millisecond))
	return err
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
	fmt.Fprintln(o.Err, "sim: serving; Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

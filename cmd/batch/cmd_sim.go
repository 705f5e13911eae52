package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/score/cliptest"
)

// simOptions are the flags of batch sim.
type simOptions struct {
	count, port, clipPort int
	host                  string
	scale, speed, fail    float64
}

func newSimCmd(o IO) *cobra.Command {
	var opts simOptions
	c := &cobra.Command{
		Use:   "sim [flags]",
		Short: "serve simulated ComfyUI instances for testing",
		Long: `sim serves --instance-count simulated ComfyUI servers on consecutive ports from
--port until Ctrl-C, and prints their URLs on stdout. They speak ComfyUI's HTTP
and WebSocket protocol (queue, history, view, object_info, interrupt) and
produce PNG images, so every command can be tried without a GPU. A fake CLIP
embeddings server (the Infinity API the demo manifest's clip scorer uses) is
served on --clip-port.`,
		Example: `  batch sim --instance-count 2 --port 8188 &
  batch run --instances http://127.0.0.1:8188,http://127.0.0.1:8189 my.yaml

  # Slower GPUs that sometimes fail, at ten times the speed of real life
  batch sim --time-scale 0.1 --speed 0.5 --error-rate 0.05`,
		Args: exactArgs(0, "sim takes no arguments"),
		RunE: func(c *cobra.Command, _ []string) error { return sim(c.Context(), opts, o) },
	}
	fs := c.Flags()
	fs.IntVar(&opts.count, "instance-count", 1, "number of instances (consecutive ports)")
	fs.IntVar(&opts.port, "port", 8188, "port of the first instance")
	fs.StringVar(&opts.host, "host", "127.0.0.1", "address to listen on")
	fs.Float64Var(&opts.scale, "time-scale", 1, "multiplier for every simulated duration (0.1 = ten times faster)")
	fs.Float64Var(&opts.speed, "speed", 1, "relative GPU speed")
	fs.Float64Var(&opts.fail, "error-rate", 0, "fraction of prompts that fail with a runtime execution_error")
	fs.IntVar(&opts.clipPort, "clip-port", 7997, "port of a fake CLIP embeddings server (Infinity API) for the demo manifest; 0 = none")
	renamed(c, "instances", "sim takes a number of instances: --instance-count N (--instances takes ComfyUI URLs elsewhere)")
	setExits(c, exitOK, exitFailed, exitBadInput)
	return c
}

// sim serves simulated ComfyUI instances until ctx is done.
func sim(ctx context.Context, opts simOptions, o IO) error {
	if opts.count < 1 {
		return usageErr("--instance-count must be at least 1")
	}
	fleet, err := comfytest.ListenFleet(opts.host, opts.port, opts.count, comfytest.Options{TimeScale: opts.scale, Speed: opts.speed})
	if err != nil {
		return fmt.Errorf("listen: %w (is another ComfyUI or sim on port %d? try --port)", err, opts.port)
	}
	defer fleet.Close()
	if opts.fail > 0 {
		for _, s := range fleet.Servers() {
			s.SetFaults(comfytest.Faults{ExecErrorRate: opts.fail})
		}
	}
	for _, u := range fleet.URLs() {
		fmt.Fprintln(o.Out, u)
	}
	if opts.clipPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.host, strconv.Itoa(opts.clipPort)))
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

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

// simOptions are the flags of batch sim.
type simOptions struct {
	count, port, clipPort int
	host, version         string
	scale, speed          float64

	// Faults of every instance.
	seed                               int64
	fail, oom, http500, truncate, lost float64
	wsDropEvery                        time.Duration
	token                              string
	down, restart                      []string // windows, parsed by parseWindow
	clipDownAfter, clipRateLimit       int
	clipDownFor, clipRetryAfter        time.Duration
	clipToken                          string
}

const simLong = `sim serves --instance-count simulated ComfyUI servers on consecutive ports from
--port until Ctrl-C, and prints their URLs on stdout. They speak ComfyUI's HTTP
and WebSocket protocol (queue, history, view, object_info, interrupt) and
produce PNG images, so every command can be tried without a GPU. A fake CLIP
embeddings server (the Infinity API the demo manifest's clip scorer uses) is
served on --clip-port.

Faults let you see what comfybatch does when things go wrong. Rates apply to
every instance and are drawn from a PRNG seeded with --seed (instance I uses
seed+I), so a run with the same flags fails the same way. Timed faults are
windows INSTANCE@START[+LENGTH]: the instance index (0 is the one on --port),
then Go durations of wall time since sim started (not scaled by --time-scale).
--down 1@10s+20s makes instance 1 unreachable from 10 s to 30 s (503 to every
request, sockets closed; a prompt already running finishes); without +LENGTH
it stays down. --restart 0@15s+5s kills instance 0 at 15 s (its queue, running
prompt, history and cache are lost) and brings it back empty at 20 s. Both
may be repeated. Each window prints a line on stderr when it starts and ends.

The fake CLIP server goes down (503, with Retry-After when --clip-retry-after
is set) once it has answered --clip-down-after images (run counts the one it
tries at start-up), and comes back --clip-down-for later (0 = never).`

const simExample = `  batch sim --instance-count 2 --port 8188 &
  batch run --instances http://127.0.0.1:8188,http://127.0.0.1:8189 my.yaml

  # Slower GPUs that sometimes fail, at ten times the speed of real life
  batch sim --time-scale 0.1 --speed 0.5 --error-rate 0.05

  # A flaky fleet: out-of-memory errors, 500s, cut downloads, dropped sockets
  batch sim --instance-count 3 --oom-rate 0.05 --http-500-rate 0.02 \
    --truncate-rate 0.1 --lost-reply-rate 0.05 --ws-drop-every 20s --seed 7

  # Instance 1 is down from 10 s to 30 s; instance 0 restarts at 15 s
  batch sim --instance-count 2 --down 1@10s+20s --restart 0@15s+5s

  # Instances that want a token (run with --header 'Authorization: Bearer s3cret')
  batch sim --token s3cret

  # The CLIP scorer dies after 20 images and is back a minute later
  batch sim --clip-down-after 20 --clip-down-for 1m`

func newSimCmd(o IO) *cobra.Command {
	var opts simOptions
	c := &cobra.Command{
		Use:     "sim [flags]",
		Short:   "serve simulated ComfyUI instances for testing",
		Long:    simLong,
		Example: simExample,
		Args:    exactArgs(0, "sim takes no arguments"),
		RunE:    func(c *cobra.Command, _ []string) error { return sim(c.Context(), opts, o) },
	}
	fs := c.Flags()
	fs.IntVar(&opts.count, "instance-count", 1, "number of instances (consecutive ports)")
	fs.IntVar(&opts.port, "port", 8188, "port of the first instance")
	fs.StringVar(&opts.host, "host", "127.0.0.1", "address to listen on")
	fs.Float64Var(&opts.scale, "time-scale", 1, "multiplier for every simulated duration (0.1 = ten times faster)")
	fs.Float64Var(&opts.speed, "speed", 1, "relative GPU speed")
	fs.StringVar(&opts.version, "comfyui-version", comfytest.DefaultVersion, "ComfyUI version to behave as: "+strings.Join(comfytest.Versions(), " or "))
	fs.IntVar(&opts.clipPort, "clip-port", 7997, "port of a fake CLIP embeddings server (Infinity API) for the demo manifest; 0 = none")

	fs.Int64Var(&opts.seed, "seed", 0, "seed of the fault PRNG (instance I uses seed+I): the same flags fail the same way")
	fs.Float64Var(&opts.fail, "error-rate", 0, "fraction of prompts that fail with a runtime execution_error")
	fs.Float64Var(&opts.oom, "oom-rate", 0, "fraction of prompts that fail with torch.OutOfMemoryError")
	fs.Float64Var(&opts.http500, "http-500-rate", 0, "fraction of HTTP requests answered 500")
	fs.Float64Var(&opts.truncate, "truncate-rate", 0, "fraction of image downloads (GET /view) cut in half, with a matching Content-Length")
	fs.Float64Var(&opts.lost, "lost-reply-rate", 0, "fraction of submissions (POST /prompt) queued but never answered: the connection closes")
	fs.DurationVar(&opts.wsDropEvery, "ws-drop-every", 0, "close every WebSocket this often, wall time (0 = never)")
	fs.StringVar(&opts.token, "token", "", "every instance requires 'Authorization: Bearer `TOKEN`' (401 without it, 403 with another)")
	fs.StringSliceVar(&opts.down, "down", nil, "an instance is unreachable for a while: `SPEC` is INSTANCE@START[+LENGTH], e.g. 1@10s+20s (repeatable)")
	fs.StringSliceVar(&opts.restart, "restart", nil, "an instance dies at START and is back empty LENGTH later: `SPEC` is INSTANCE@START[+LENGTH], e.g. 0@15s+5s (repeatable)")
	fs.IntVar(&opts.clipDownAfter, "clip-down-after", -1, "the fake CLIP server goes down after answering `N` images (0 = from the start, -1 = never)")
	fs.DurationVar(&opts.clipDownFor, "clip-down-for", 0, "how long the CLIP outage lasts (0 = until sim stops)")
	fs.StringVar(&opts.clipToken, "clip-token", "", "the fake CLIP server requires 'Authorization: Bearer `TOKEN`' (401 otherwise)")
	fs.IntVar(&opts.clipRateLimit, "clip-rate-limit", 0, "the fake CLIP server answers its first `N` requests 429")
	fs.DurationVar(&opts.clipRetryAfter, "clip-retry-after", 0, "Retry-After the fake CLIP server sends with 429 and 503 (0 = none)")
	renamed(c, "instances", "sim takes a number of instances: --instance-count N (--instances takes ComfyUI URLs elsewhere)")
	setExits(c, exitOK, exitFailed, exitBadInput)
	return c
}

// simPlan is what batch sim's flags ask for, checked.
type simPlan struct {
	faults   []comfytest.Faults // per instance, outside timed windows
	schedule faultSchedule
	clip     scoretest.Faults // the fake CLIP server's, before any outage
}

// check validates the flags and returns what they ask for; every mistake
// is a usage error naming the flag and what it accepts.
func (opts simOptions) check() (simPlan, error) {
	var p simPlan
	if opts.count < 1 {
		return p, usageErr("--instance-count must be at least 1")
	}
	if !slices.Contains(comfytest.Versions(), opts.version) {
		return p, usageErr("--comfyui-version must be %s", strings.Join(comfytest.Versions(), " or "))
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"--error-rate", opts.fail}, {"--oom-rate", opts.oom}, {"--http-500-rate", opts.http500}, {"--truncate-rate", opts.truncate}, {"--lost-reply-rate", opts.lost}} {
		if !(r.v >= 0 && r.v <= 1) {
			return p, usageErr("%s must be a fraction from 0 to 1, got %v", r.flag, r.v)
		}
	}
	if opts.wsDropEvery < 0 {
		return p, usageErr("--ws-drop-every must be a positive duration such as 20s, or 0 for never")
	}
	for _, s := range []struct {
		kind  windowKind
		specs []string
	}{{downWindow, opts.down}, {restartWindow, opts.restart}} {
		for _, spec := range s.specs {
			w, err := parseWindow(s.kind, spec, opts.count)
			if err != nil {
				return p, usageErr("%s %s: %v; want %s", s.kind.flag(), spec, err, windowSyntax)
			}
			p.schedule.windows = append(p.schedule.windows, w)
		}
	}
	p.faults = make([]comfytest.Faults, opts.count)
	for i := range p.faults {
		p.faults[i] = comfytest.Faults{
			ExecErrorRate: opts.fail, OOMRate: opts.oom, HTTP500Rate: opts.http500, ViewTruncateRate: opts.truncate, LostReplyRate: opts.lost,
			WSDropEvery: opts.wsDropEvery, AuthToken: opts.token, Seed: opts.seed + int64(i),
		}
	}

	switch {
	case opts.clipDownAfter < -1:
		return p, usageErr("--clip-down-after must be a number of images, 0 (down from the start) or -1 (never)")
	case opts.clipDownFor < 0:
		return p, usageErr("--clip-down-for must be a positive duration such as 30s, or 0 to stay down")
	case opts.clipDownFor > 0 && opts.clipDownAfter < 0:
		return p, usageErr("--clip-down-for needs --clip-down-after N: the outage starts after N images")
	case opts.clipRateLimit < 0:
		return p, usageErr("--clip-rate-limit must be a number of requests, 0 or more")
	case opts.clipRetryAfter < 0:
		return p, usageErr("--clip-retry-after must be a positive duration such as 5s, or 0 for none")
	}
	p.clip = scoretest.Faults{Token: opts.clipToken, RateLimited: opts.clipRateLimit, RetryAfter: opts.clipRetryAfter}
	if opts.clipPort == 0 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--clip-down-after", opts.clipDownAfter >= 0}, {"--clip-token", opts.clipToken != ""},
			{"--clip-rate-limit", opts.clipRateLimit > 0}, {"--clip-retry-after", opts.clipRetryAfter > 0}} {
			if f.set {
				return p, usageErr("%s needs the fake CLIP server: leave out --clip-port 0", f.name)
			}
		}
	}
	return p, nil
}

// sim serves simulated ComfyUI instances until ctx is done.
func sim(ctx context.Context, opts simOptions, o IO) error {
	plan, err := opts.check()
	if err != nil {
		return err
	}
	stderr := &lockedWriter{w: o.Err} // shared with the fault goroutines
	fleet, err := comfytest.ListenFleet(opts.host, opts.port, opts.count, comfytest.Options{TimeScale: opts.scale, Speed: opts.speed, Version: opts.version})
	if err != nil {
		return fmt.Errorf("listen: %w (is another ComfyUI or sim on port %d? try --port)", err, opts.port)
	}
	defer fleet.Close()
	targets := make([]simTarget, opts.count)
	for i, s := range fleet.Servers() {
		s.SetFaults(plan.faults[i])
		targets[i] = s
	}
	for _, u := range fleet.URLs() {
		fmt.Fprintln(o.Out, u)
	}

	// The fault goroutines stop with faultCtx: sim returns past this point
	// only once ctx is done, but an error return must not leave them
	// waiting on timers. They are waited for before the simulated
	// instances close (deferred calls run last first).
	faultCtx, stopFaults := context.WithCancel(ctx)
	var faults sync.WaitGroup
	defer faults.Wait()
	defer stopFaults()

	if opts.clipPort != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.host, strconv.Itoa(opts.clipPort)))
		if err != nil {
			return fmt.Errorf("listen for the fake CLIP server: %w (pass --clip-port 0 to go without)", err)
		}
		clip := cliptest.New(cliptest.Options{Faults: plan.clip})
		var h http.Handler = clip
		if opts.clipDownAfter >= 0 {
			out := newClipOutage(clip, plan.clip, opts.clipDownAfter, opts.clipDownFor)
			h = out.handler()
			faults.Go(func() { out.run(faultCtx, stderr) })
		}
		srv := &http.Server{Handler: h}
		var wg sync.WaitGroup
		wg.Go(func() { _ = srv.Serve(ln) })
		defer wg.Wait() // runs after Shutdown below
		defer srv.Shutdown(context.WithoutCancel(ctx))
		fmt.Fprintf(stderr, "sim: fake CLIP embeddings at http://%s\n", ln.Addr())
	}
	if len(plan.schedule.windows) > 0 {
		faults.Go(func() { plan.schedule.run(faultCtx, targets, plan.faults, stderr) })
	}
	fmt.Fprintln(stderr, "sim: serving; Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

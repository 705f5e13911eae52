package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

// runFlags are the flags shared by run and demo.
type runFlags struct {
	instances   string
	newRun      bool
	force       bool
	maxAttempts int
	timeout     time.Duration
	verbose     bool
	jsonOut     bool
	runID       int64 // resume this run (batch resume)
	limit       int
	grace       time.Duration
	retryFailed bool
	outage      time.Duration
}

func (f *runFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	IntVar(*int, string, int, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&f.instances, "instances", "", "comma-separated ComfyUI URLs; replaces the manifest's instances")
	fs.BoolVar(&f.newRun, "new-run", false, "start a new run even if an earlier run of this manifest exists")
	fs.BoolVar(&f.force, "force", false, "continue the earlier run even though the manifest changed")
	fs.IntVar(&f.maxAttempts, "max-attempts", 0, "submissions per job before it fails (0 = 3)")
	fs.DurationVar(&f.timeout, "timeout", 0, "per-job timeout; a job past it is interrupted and retried (0 = none)")
	fs.IntVar(&f.limit, "limit-per-group", 0, "run only the first N jobs of each group (a smoke test; a later run does the rest)")
	fs.DurationVar(&f.grace, "grace", 30*time.Second, "on Ctrl-C, how long to wait for running prompts before interrupting them")
	fs.BoolVar(&f.retryFailed, "retry-failed", false, "also retry jobs that failed as bad input or with a node's own error (a rerun always retries transient failures)")
	fs.DurationVar(&f.outage, "outage-deadline", 10*time.Minute, "how long a scorer may stay unavailable before the run stops (exit 4); candidates wait for it meanwhile")
	fs.BoolVar(&f.verbose, "v", false, "log run milestones and retried faults to stderr")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object per line on stdout: fleet events as they happen, then the selection")
}

func cmdRun(ctx context.Context, args []string, o IO) error {
	fs := newFlags("run", "MANIFEST", o)
	var f runFlags
	f.register(fs)
	m, err := parseManifest(fs, args, "run takes one manifest path, e.g. batch run headshots.yaml")
	if err != nil {
		return err
	}
	return runWith(ctx, m, f, o)
}

// parseManifest parses the flags and loads the one MANIFEST argument of
// a command; usage says how to call it.
func parseManifest(fs *flag.FlagSet, args []string, usage string) (*manifests.Manifest, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		return nil, usageErr("%s", usage)
	}
	return manifests.Load(fs.Arg(0))
}

// runWith runs m with the command-line overrides in f and prints the
// outcome.
func runWith(ctx context.Context, m *manifests.Manifest, f runFlags, o IO) error {
	instances, err := parseInstances(f.instances)
	if err != nil {
		return err
	}
	prog := &pipeline.Progress{}
	inst := newInstances()
	var events *eventWriter
	if f.jsonOut {
		events = newEventWriter(o.Out)
	}
	onEvent := func(e generate.Event) {
		inst.observe(e)
		if events != nil {
			events.write(e)
		}
	}
	stopBar := startProgress(ctx, o, prog, inst)
	out, err := pipeline.Run(ctx, pipeline.Options{
		Manifest:       m,
		Instances:      instances,
		NewRun:         f.newRun,
		Force:          f.force,
		RunID:          f.runID,
		LimitPerGroup:  f.limit,
		RetryFailed:    f.retryFailed,
		OutageDeadline: f.outage,
		Grace:          f.grace,
		Cleanup:        o.Cleanup,
		OnFleetEvent:   onEvent,
		MaxAttempts:    f.maxAttempts,
		JobTimeout:     f.timeout,
		Logger:         logger(o, f.verbose),
		Progress:       prog,
		ToolVersion:    version,
		Env:            o.lookupEnv,
	})
	stopBar()
	if out != nil {
		if f.jsonOut {
			printJSON(o.Out, out)
		} else {
			printOutcome(o.Out, out)
		}
	}
	return err
}

// parseInstances turns "--instances a,b" into fleet instances.
func parseInstances(list string) ([]generate.Instance, error) {
	if list == "" {
		return nil, nil
	}
	var out []generate.Instance
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageErr("--instances: %q is not an http(s) URL like http://127.0.0.1:8188", raw)
		}
		out = append(out, generate.Instance{Name: u.Host, URL: strings.TrimRight(raw, "/")})
	}
	return out, nil
}

// startProgress draws progress on stderr until the returned func is
// called: a live line on a terminal, a plain line every few seconds
// otherwise. The renderer goroutine is owned here: stop waits for it.
func startProgress(ctx context.Context, o IO, p *pipeline.Progress, inst *instances) (stop func()) {
	every := 5 * time.Second
	if o.ErrTTY {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if o.ErrTTY {
					fmt.Fprintf(o.Err, "\r%s\x1b[K\n", progressLine(p.Snapshot(time.Now()), inst.line()))
				}
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				line := progressLine(p.Snapshot(now), inst.line())
				if o.ErrTTY {
					fmt.Fprintf(o.Err, "\r%s\x1b[K", line)
				} else {
					fmt.Fprintln(o.Err, line)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func progressLine(s pipeline.Snapshot, instances string) string {
	total := s.Total - s.Skipped
	fin := s.Done + s.Failed
	width := 30
	fill := 0
	if total > 0 {
		fill = fin * width / total
	}
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	eta := "--"
	if s.ETA > 0 {
		eta = s.ETA.Round(time.Second).String()
	}
	line := fmt.Sprintf("%s %d/%d done, %d failed, %.1f/s, ETA %s", bar, s.Done, total, s.Failed, s.Rate, eta)
	if s.Skipped > 0 {
		line += fmt.Sprintf(" (%d already done)", s.Skipped)
	}
	if instances != "" {
		line += " | " + instances
	}
	return line
}

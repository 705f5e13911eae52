package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
)

// execFlags are the flags of every command that generates images: run,
// resume and demo.
type execFlags struct {
	maxAttempts int
	timeout     time.Duration
	limit       int
	grace       time.Duration
	outage      time.Duration
	verbose     bool
	jsonOut     bool
}

func (f *execFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&f.maxAttempts, "max-attempts", 0, "submissions per job before it fails (0 = 3)")
	fs.DurationVar(&f.timeout, "timeout", 0, "per-job timeout; a job past it is interrupted and retried (0 = none)")
	fs.IntVar(&f.limit, "limit-per-group", 0, "run only the first `N` jobs of each group (a smoke test; a later run does the rest)")
	fs.DurationVar(&f.grace, "grace", 30*time.Second, "on Ctrl-C, how long to wait for running prompts before interrupting them")
	fs.DurationVar(&f.outage, "outage-deadline", 10*time.Minute,
		"how long a scorer may stay unavailable before the run stops (exit 4); candidates wait for it meanwhile")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log run milestones and retried faults to stderr")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON object per line on stdout: fleet events as they happen, then the selection")
}

// runWith runs m on instances (nil = the manifest's) with the flags in f
// and the run choice in opts (NewRun, Force, RunID), shows progress on
// stderr and prints the outcome.
func runWith(ctx context.Context, m *manifests.Manifest, instances []generate.Instance, f execFlags, opts pipeline.Options, o IO) (*pipeline.Outcome, error) {
	prog := &pipeline.Progress{}
	shown := instances
	if shown == nil {
		shown = pipeline.FleetInstances(m.Instances)
	}
	fleet := newFleetView(shown)
	var events *eventWriter
	if f.jsonOut {
		events = newEventWriter(o.Out)
	}
	logs, stopProgress := startProgress(o, prog, fleet)
	opts.Manifest = m
	opts.Instances = instances
	opts.LimitPerGroup = f.limit
	opts.Grace = f.grace
	opts.OutageDeadline = f.outage
	opts.Cleanup = o.Cleanup
	opts.OnFleetEvent = func(e generate.Event) {
		fleet.observe(e)
		if events != nil {
			events.write(e)
		}
	}
	opts.MaxAttempts = f.maxAttempts
	opts.JobTimeout = f.timeout
	opts.Logger = logger(logs, f.verbose)
	opts.Progress = prog
	opts.ToolVersion = readVersion().short()
	opts.Env = o.lookupEnv
	out, err := pipeline.Run(ctx, opts)
	stopProgress()
	if out != nil {
		if f.jsonOut {
			printJSON(o.Out, out)
		} else {
			printOutcome(o.Out, out, opts.Manifest.MasterSeedChosen)
		}
	}
	return out, err
}

// logger builds the process logger: text on w (stderr, through the
// progress display), quiet unless --verbose.
func logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

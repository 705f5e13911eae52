package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// Exit codes, documented in README.md.
const (
	exitOK          = 0
	exitFailed      = 1   // unexpected error
	exitBadInput    = 2   // bad input or usage; nothing was generated
	exitIncomplete  = 3   // finished with failed jobs, unscored candidates or short groups
	exitOutage      = 4   // stopped: every instance or a scorer stayed unavailable
	exitInterrupted = 130 // Ctrl-C; rerun to resume
)

// version is the tool version recorded in every run.
const version = "0.1.0-dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, o IO) error
}

func commands() []command {
	return []command{
		{"run", "run (or resume) a manifest on ComfyUI instances", cmdRun},
		{"demo", "run the built-in demo on a simulated fleet (needs nothing but Go)", cmdDemo},
		{"sim", "serve simulated ComfyUI instances for testing", cmdSim},
		{"validate", "check a manifest (and with --online, the instances' nodes and models)", cmdValidate},
		{"plan", "show the jobs a manifest expands to and an estimate of wall time", cmdPlan},
		{"resume", "continue a stored run by id", cmdResume},
		{"runs", "list the runs in a database", cmdRuns},
		{"show", "counts, gate pass rates, selected candidates and failures of a run", cmdShow},
		{"compare", "compare totals and pass rates per value of a parameter (seed, sampler_name, ...)", cmdCompare},
		{"select", "re-select the top K of a stored run from its scores", cmdSelect},
		{"rescore", "score a stored run's images again (all or some scorers) and re-select", cmdRescore},
		{"report", "write an HTML report with contact sheets of a run", cmdReport},
		{"grid", "draw an X/Y grid image of a run over two parameters", cmdGrid},
		{"export", "export a run as imagefolder, webdataset or jsonl", cmdExport},
	}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, o IO) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(o.Out)
		if len(args) == 0 {
			return exitBadInput
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(ctx, c.run(ctx, args[1:], o), o)
		}
	}
	fmt.Fprintf(o.Err, "batch: unknown command %q; run \"batch help\" for the list\n", args[0])
	return exitBadInput
}

// exitCode prints err for people and maps it to an exit code; the one
// place where errors become codes.
func exitCode(ctx context.Context, err error, o IO) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(o.Err, "batch: %v\n", err)
		return exitBadInput
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())):
		fmt.Fprintln(o.Err, "batch: interrupted; everything finished so far is recorded: run the same command again to resume")
		return exitInterrupted
	case errors.Is(err, comfybatch.ErrInvalid):
		fmt.Fprintf(o.Err, "batch: %v\n", trimKind(err))
		return exitBadInput
	case errors.Is(err, comfybatch.ErrOutage):
		fmt.Fprintf(o.Err, "batch: %v\n", err)
		return exitOutage
	case errors.Is(err, comfybatch.ErrIncomplete):
		fmt.Fprintf(o.Err, "batch: %v\n", err)
		return exitIncomplete
	}
	fmt.Fprintf(o.Err, "batch: %v\n", err)
	return exitFailed
}

// trimKind drops the trailing ": invalid input" that error wrapping adds,
// which says nothing to a person reading the line.
func trimKind(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+comfybatch.ErrInvalid.Error())
}

var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "batch: generate candidate pools on ComfyUI servers, score them, keep the best.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: batch <command> [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run \"batch <command> -h\" for a command's flags.")
}

// newFlags returns a flag set that writes its usage to o.Err.
func newFlags(name, args string, o IO) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(o.Err)
	fs.Usage = func() {
		fmt.Fprintf(o.Err, "Usage: batch %s [flags] %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, turning mistakes into usage errors (exit 2). Flags
// may come after positional arguments (batch show 3 --json); "--" ends
// flag parsing.
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageErr("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where fs.Arg and fs.NArg find them.
	return fs.Parse(append([]string{"--"}, positional...))
}

// logger builds the process logger: text on stderr, quiet unless -v.
func logger(o IO, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(o.Err, &slog.HandlerOptions{Level: level}))
}

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/comfybatch/comfybatch"
)

// Exit codes, documented in every command's help (exitHelp) and README.md.
const (
	exitOK          = 0
	exitFailed      = 1   // unexpected error
	exitBadInput    = 2   // bad input or usage; nothing was generated
	exitIncomplete  = 3   // finished with failed jobs, unscored candidates or short groups
	exitOutage      = 4   // stopped: every instance or a scorer stayed unavailable
	exitInterrupted = 130 // Ctrl-C; rerun to resume
)

// exitHelp says what an exit code means, for the help texts; exitCode
// below is where errors become these codes.
func exitHelp(code int) string {
	switch code {
	case exitOK:
		return "done"
	case exitFailed:
		return "unexpected failure (database, disk, a bug); the message says what"
	case exitBadInput:
		return "bad input or usage; the message names the file, flag or run"
	case exitIncomplete:
		return "incomplete: jobs failed, candidates unscored or groups short; rerun"
	case exitOutage:
		return "outage: every instance or a scorer stayed down; rerun when it is back"
	case exitInterrupted:
		return "interrupted (Ctrl-C); what finished is recorded: rerun to resume"
	}
	return ""
}

// queryExits are the exit codes of a command that reads or checks: it
// either does its work or says what is wrong.
func queryExits() []int { return []int{exitOK, exitFailed, exitBadInput, exitInterrupted} }

// generateExits are the exit codes of a command that generates or scores.
func generateExits() []int {
	return []int{exitOK, exitFailed, exitBadInput, exitIncomplete, exitOutage, exitInterrupted}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, o IO) int {
	root := newRoot(o)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	return exitCode(ctx, root.ExecuteContext(ctx), o)
}

// exitCode prints err for people and maps it to an exit code; the one
// place where errors become codes.
func exitCode(ctx context.Context, err error, o IO) int {
	switch {
	case err == nil:
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

// commandGroups are the sections of the root help, in order.
func commandGroups() []*cobra.Group {
	return []*cobra.Group{
		{ID: "generate", Title: "Generate:"},
		{ID: "check", Title: "Check a manifest:"},
		{ID: "inspect", Title: "Inspect a stored run:"},
		{ID: "reselect", Title: "Change a stored run's selection:"},
		{ID: "other", Title: "Other:"},
	}
}

// newRoot builds the command tree. Every command writes results to o.Out
// and errors, progress and logs to o.Err.
func newRoot(o IO) *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:   "batch COMMAND",
		Short: "generate candidate pools on ComfyUI servers, score them, keep the best",
		Long: `batch expands a YAML manifest (an API-format ComfyUI workflow, params bound to
node inputs, groups and sweeps) into jobs, fans them out over ComfyUI instances,
scores every image, keeps the top K per group and records everything in SQLite.
A crash or Ctrl-C loses nothing: run the same command again and it resumes.`,
		Example: `  batch demo                          # the whole path on a simulated fleet
  batch validate --online my.yaml
  batch run my.yaml
  batch show 1`,
		// Unknown commands are usage errors (exit 2), with suggestions.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			hint := ""
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			return usageErr("unknown command %q%s; run 'batch help' for the list", args[0], hint)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if showVersion {
				return writeVersion(o.Out, readVersion(), false)
			}
			writeHelp(o.Err, c)
			return usageErr("no command given")
		},
		SuggestionsMinimumDistance: 2,
		SilenceErrors:              true, // exitCode prints them
		SilenceUsage:               true,
	}
	root.Flags().BoolVar(&showVersion, "version", false, "print the version and VCS revision (as batch version)")
	root.SetOut(o.Out)
	root.SetErr(o.Err)
	root.SetIn(o.In)
	root.SetHelpFunc(func(c *cobra.Command, _ []string) { writeHelp(c.OutOrStdout(), c) })
	root.SetFlagErrorFunc(flagError)
	root.AddGroup(commandGroups()...)
	setExits(root, generateExits()...)

	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("generate", newRunCmd(o), newResumeCmd(o), newDemoCmd(o), newSimCmd(o))
	add("check", newValidateCmd(o), newPlanCmd(o))
	add("inspect", newRunsCmd(o), newShowCmd(o), newCompareCmd(o), newReportCmd(o), newGridCmd(o), newExportCmd(o))
	add("reselect", newSelectCmd(o), newRescoreCmd(o))
	add("other", newVersionCmd(o), newCompletionCmd(o))
	help := newHelpCmd()
	help.GroupID = "other"
	root.SetHelpCommand(help) // cobra adds it to root when it executes
	return root
}

// flagError turns a flag parsing mistake into a usage error (exit 2) that
// says how to get the command's help, with a hint for the two mistakes
// people make coming from other tools: a long flag with one dash
// (-force), and a flag that another command or an older version had.
func flagError(c *cobra.Command, err error) error {
	hint := ""
	if ne, ok := errors.AsType[*pflag.NotExistError](err); ok {
		if short := ne.GetSpecifiedShortnames(); len(short) > 1 && c.Flags().Lookup(short) != nil {
			hint = fmt.Sprintf("; long flags take two dashes: --%s", short)
		} else if h := c.Annotations[renamedKey+ne.GetSpecifiedName()]; h != "" {
			hint = "; " + h
		}
	}
	return usageErr("%v%s; run '%s --help' for its flags", err, hint, c.CommandPath())
}

// renamedKey prefixes the annotations that explain a flag a command does
// not take (renamed, or with another meaning here): "renamed:instances".
const renamedKey = "renamed:"

// renamed records on c why it rejects flag name, for flagError.
func renamed(c *cobra.Command, name, hint string) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[renamedKey+name] = hint
}

// exactArgs accepts exactly n positional arguments; otherwise the usage
// error says how to call the command.
func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s", usage)
		}
		return nil
	}
}

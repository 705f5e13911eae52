package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// helpWidth is the width help text is written for, in columns.
const helpWidth = 80

// exitsKey is the annotation that lists a command's exit codes.
const exitsKey = "exits"

// setExits records the exit codes c can end with, for its help.
func setExits(c *cobra.Command, codes ...int) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	s := make([]string, len(codes))
	for i, code := range codes {
		s[i] = strconv.Itoa(code)
	}
	c.Annotations[exitsKey] = strings.Join(s, ",")
}

// writeHelp writes c's help: summary, usage, description, the commands
// (root only), examples, flags and exit codes. `batch help CMD` and
// `batch CMD --help` both come here, so they agree.
func writeHelp(w io.Writer, c *cobra.Command) {
	var b strings.Builder
	name := "batch"
	if c.HasParent() {
		name = "batch " + c.Name()
	}
	fmt.Fprintf(&b, "%s: %s\n\nUsage:\n  %s\n", name, c.Short, c.UseLine())
	if c.Long != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(c.Long))
	}
	if !c.HasParent() {
		writeCommands(&b, c)
	}
	if c.Example != "" {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", strings.TrimRight(c.Example, "\n"))
	}
	c.InitDefaultHelpFlag()
	if fs := c.LocalFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", fs.FlagUsagesWrapped(helpWidth))
	}
	if codes := c.Annotations[exitsKey]; codes != "" {
		b.WriteString("\nExit codes:\n")
		for _, s := range strings.Split(codes, ",") {
			code, _ := strconv.Atoi(s)
			fmt.Fprintf(&b, "  %-4d %s\n", code, exitHelp(code))
		}
	}
	if !c.HasParent() {
		b.WriteString("\nRun 'batch help COMMAND' or 'batch COMMAND --help' for a command's\ndescription, flags, examples and exit codes.\n")
	}
	io.WriteString(w, b.String())
}

// writeCommands lists root's commands by group.
func writeCommands(b *strings.Builder, root *cobra.Command) {
	width := 0
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() || c.Name() == "help" {
			width = max(width, len(c.Name()))
		}
	}
	for _, g := range root.Groups() {
		fmt.Fprintf(b, "\n%s\n", g.Title)
		for _, c := range root.Commands() {
			if c.GroupID == g.ID && (c.IsAvailableCommand() || c.Name() == "help") {
				fmt.Fprintf(b, "  %-*s  %s\n", width, c.Name(), c.Short)
			}
		}
	}
}

// newHelpCmd replaces cobra's help command: the same text as --help, and
// an unknown topic is a usage error (exit 2) instead of the root help.
func newHelpCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "the help of batch or of a command (as batch COMMAND --help)",
		Args:  cobra.ArbitraryArgs,
		Example: `  batch help
  batch help run`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range c.Root().Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			if len(args) == 0 {
				writeHelp(c.OutOrStdout(), root)
				return nil
			}
			target, _, err := root.Find(args)
			if err != nil || target == root {
				return usageErr("no command %q; run 'batch help' for the list", strings.Join(args, " "))
			}
			writeHelp(c.OutOrStdout(), target)
			return nil
		},
	}
	setExits(c, exitOK, exitBadInput)
	return c
}

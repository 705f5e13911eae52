package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/comfybatch/comfybatch/store"
)

// The shell scripts come from cobra: they call the hidden command
// "batch __complete ARGS...", which parses the command line like the real
// command would and asks the functions below for values. A function that
// cannot answer (no database, no such run) offers nothing rather than
// failing: completion must never print errors into a prompt.

func newCompletionCmd(o IO) *cobra.Command {
	var noDesc bool
	c := &cobra.Command{
		Use:   "completion [flags] SHELL",
		Short: "print a shell completion script for bash, zsh or fish",
		Long: `completion prints a script that makes SHELL complete batch's commands and flags,
run ids from the database named by --db (or its default), param, group and
scorer names from a run's manifest, manifest files, export formats and output
folders. Load it once per shell, or install it:

  bash  source <(batch completion bash)     (needs the bash-completion package)
        batch completion bash > /etc/bash_completion.d/batch
  zsh   batch completion zsh > "${fpath[1]}/_batch"   (then open a new shell)
  fish  batch completion fish > ~/.config/fish/completions/batch.fish`,
		Example: `  source <(batch completion bash)
  batch completion zsh --no-descriptions > ~/.zfunc/_batch
  batch completion fish > ~/.config/fish/completions/batch.fish`,
		ValidArgs: []cobra.Completion{"bash", "zsh", "fish"},
		Args:      exactArgs(1, "completion takes one shell: bash, zsh or fish"),
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(o.Out, !noDesc)
			case "zsh":
				if noDesc {
					return root.GenZshCompletionNoDesc(o.Out)
				}
				return root.GenZshCompletion(o.Out)
			case "fish":
				return root.GenFishCompletion(o.Out, !noDesc)
			}
			return usageErr("completion: no script for shell %q; want bash, zsh or fish", args[0])
		},
	}
	c.Flags().BoolVar(&noDesc, "no-descriptions", false, "complete values only, without their descriptions")
	setExits(c, exitOK, exitFailed, exitBadInput)
	return c
}

// completeFlag registers fn as the value completion of c's flag name.
func completeFlag(c *cobra.Command, name string, fn cobra.CompletionFunc) {
	if err := c.RegisterFlagCompletionFunc(name, fn); err != nil {
		panic(fmt.Sprintf("complete --%s of %s: %v", name, c.Name(), err)) // a flag name typo: a bug
	}
}

// completeManifest offers YAML files for a MANIFEST argument.
func completeManifest(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeDirs offers folders.
func completeDirs(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// completeExt offers files with extension ext.
func completeExt(ext string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{ext}, cobra.ShellCompDirectiveFilterFileExt
	}
}

// fixedCompletions offers a fixed list ("value\tdescription").
func fixedCompletions(values ...cobra.Completion) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionTimeout bounds what a completion may spend reading the
// database: a shell waits for it.
const completionTimeout = 2 * time.Second

// withStore opens the database *db (which must exist) for a completion
// and calls fn; false when it cannot.
func withStore(c *cobra.Command, db string, fn func(ctx context.Context, st *store.Store) error) bool {
	ctx, cancel := context.WithTimeout(c.Context(), completionTimeout)
	defer cancel()
	st, err := openDB(ctx, db)
	if err != nil {
		return false
	}
	defer st.Close()
	return fn(ctx, st) == nil
}

// completeRunID offers the run ids of the database *db for a RUN
// argument, described by manifest name, status and start time.
func completeRunID(db *string) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		withStore(c, *db, func(ctx context.Context, st *store.Store) error {
			runs, err := st.Runs(ctx)
			for _, r := range runs {
				out = append(out, cobra.CompletionWithDesc(fmt.Sprint(r.ID),
					fmt.Sprintf("%s, %s, started %s", r.Name, r.Status, r.Started.Local().Format("2006-01-02 15:04"))))
			}
			return err
		})
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// runArg reads the RUN argument for a flag's completion.
func runArg(args []string) (int64, bool) {
	if len(args) == 0 {
		return 0, false
	}
	id, err := parseRunID(args[0])
	return id, err == nil
}

// completeGroups offers the group names of the run named by the RUN
// argument, from its job counts.
func completeGroups(db *string) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		id, ok := runArg(args)
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		withStore(c, *db, func(ctx context.Context, st *store.Store) error {
			counts, err := st.Counts(ctx, id)
			for _, g := range counts.GroupNames() {
				out = append(out, cobra.CompletionWithDesc(g, fmt.Sprintf("%d jobs", counts.Groups[g].Total)))
			}
			return err
		})
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeParams offers the param names of the run named by the RUN
// argument, read from the manifest text the run recorded.
func completeParams(db *string) cobra.CompletionFunc {
	return manifestCompletion(db, func(n manifestNames) []string { return n.params }, false)
}

// completeScorers offers the scorer names of the run named by the RUN
// argument, read from the manifest text the run recorded. The flag takes
// a comma-separated list, so each name is offered after the ones typed.
func completeScorers(db *string) cobra.CompletionFunc {
	return manifestCompletion(db, func(n manifestNames) []string { return n.scorers }, true)
}

// manifestCompletion offers the names pick chooses from the manifest of
// the run named by the RUN argument; with list, after the
// comma-separated names already typed.
func manifestCompletion(db *string, pick func(manifestNames) []string, list bool) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		id, ok := runArg(args)
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		prefix := ""
		if i := strings.LastIndex(toComplete, ","); list && i >= 0 {
			prefix = toComplete[:i+1]
		}
		var out []cobra.Completion
		withStore(c, *db, func(ctx context.Context, st *store.Store) error {
			run, err := st.Run(ctx, id)
			for _, name := range pick(namesIn([]byte(run.ManifestText))) {
				out = append(out, prefix+name)
			}
			return err
		})
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// manifestNames are the names a manifest declares, for completion.
type manifestNames struct {
	params  []string // keys of params:, sweep: and the groups' set:
	scorers []string // each scorer's name, or its type when unnamed
}

// namesIn reads the names a manifest declares straight from its YAML,
// without loading its workflow or expanding its plan (a million jobs),
// so a completion stays quick. It reads what it can of a manifest with
// mistakes: completion is a hint, validate is the check.
func namesIn(text []byte) manifestNames {
	var doc struct {
		Params  map[string]yaml.Node `yaml:"params"`
		Sweep   map[string]yaml.Node `yaml:"sweep"`
		Groups  []yaml.Node          `yaml:"groups"`
		Scorers []yaml.Node          `yaml:"scorers"`
	}
	_ = yaml.Unmarshal(text, &doc) // partial results are fine, see above
	params := map[string]bool{}
	for k := range doc.Params {
		params[k] = true
	}
	for k := range doc.Sweep {
		params[k] = true
	}
	for _, g := range doc.Groups {
		var group struct {
			Set map[string]yaml.Node `yaml:"set"`
		}
		if g.Decode(&group) == nil {
			for k := range group.Set {
				params[k] = true
			}
		}
	}
	var n manifestNames
	for k := range params {
		n.params = append(n.params, k)
	}
	sort.Strings(n.params)
	for _, s := range doc.Scorers {
		var sc struct{ Name, Type string }
		if s.Decode(&sc) != nil {
			continue
		}
		if sc.Name == "" {
			sc.Name = sc.Type
		}
		if sc.Name != "" && !strings.ContainsAny(sc.Name, " \t\n") {
			n.scorers = append(n.scorers, sc.Name)
		}
	}
	return n
}

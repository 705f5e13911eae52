package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/runview"
)

func newPlanCmd(o IO) *cobra.Command {
	var (
		count, show int
		per         time.Duration
	)
	c := &cobra.Command{
		Use:   "plan [flags] MANIFEST",
		Short: "show the jobs a manifest expands to and an estimate of wall time",
		Long: `plan expands MANIFEST without running it and prints the jobs per group (with
their top_k), the values of every swept axis, the first jobs with their params
and keys, the order in which axes change (expensive ones, like checkpoints,
change least often), and an estimate of the wall time on --instance-count
instances at --per-image each.`,
		Example: `  batch plan headshots.yaml
  batch plan --instance-count 4 --per-image 6s --show 20 headshots.yaml`,
		Args:              exactArgs(1, "plan takes one manifest path, e.g. batch plan headshots.yaml"),
		ValidArgsFunction: completeManifest,
		RunE: func(c *cobra.Command, args []string) error {
			return plan(args[0], count, per, show, o)
		},
	}
	fs := c.Flags()
	fs.IntVar(&count, "instance-count", 0, "instances to estimate for (0 = the manifest's count, at least 1)")
	fs.DurationVar(&per, "per-image", 10*time.Second, "time one instance takes per image")
	fs.IntVar(&show, "show", 5, "expanded jobs to list")
	renamed(c, "instances", "plan estimates for a number of instances: --instance-count N (--instances takes ComfyUI URLs)")
	setExits(c, exitOK, exitFailed, exitBadInput)
	return c
}

func plan(path string, count int, per time.Duration, show int, o IO) error {
	m, err := manifests.Load(path)
	if err != nil {
		return err
	}
	plan, err := m.Plan()
	if err != nil {
		return err
	}
	inst := count
	if inst <= 0 {
		inst = max(1, len(m.Instances))
	}
	printPlan(o, m, plan.Jobs, inst, per, show)
	if len(plan.Axes) > 0 {
		var order []string
		for _, a := range plan.Axes {
			order = append(order, strings.Join(a.Params, "+"))
		}
		fmt.Fprintf(o.Out, "order: %s (outermost first: expensive axes change least often)\n", strings.Join(order, " > "))
	}
	if m.MasterSeedChosen && randomSeeds(plan) {
		fmt.Fprintf(o.Out, "seeds are examples: %s has no master_seed, so every run draws its own random seeds; "+
			"batch run prints the master seed it chose, and master_seed: N in the manifest repeats them\n", m.Path)
	}
	return nil
}

// randomSeeds reports whether the plan draws seeds from the master seed.
func randomSeeds(p *manifests.Plan) bool {
	for _, a := range p.Axes {
		if a.Random {
			return true
		}
	}
	return false
}

func printPlan(o IO, m *manifests.Manifest, jobs []comfybatch.Job, instances int, per time.Duration, show int) {
	w := o.Out
	fmt.Fprintf(w, "%s: %d jobs\n\n", m.Path, len(jobs))
	groups, groupCount := countBy(jobs, func(j comfybatch.Job) []string { return []string{j.Group} })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tJOBS\tTOP K")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", g, groupCount[g], m.TopKFor(g))
	}
	tw.Flush()

	// Per axis value: only params that vary across jobs are axes.
	type count struct {
		value any
		n     int
	}
	values := map[string]map[string]*count{}
	var names []string
	for _, j := range jobs {
		for _, p := range j.Params {
			if values[p.Name] == nil {
				values[p.Name] = map[string]*count{}
				names = append(names, p.Name)
			}
			k := runview.ValueKey(p.Value)
			if values[p.Name][k] == nil {
				values[p.Name][k] = &count{value: p.Value}
			}
			values[p.Name][k].n++
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AXIS\tVALUES\tJOBS PER VALUE")
	for _, name := range names {
		vals := values[name]
		if len(vals) < 2 || name == "prompt" {
			continue
		}
		counts := make([]*count, 0, len(vals))
		for _, c := range vals {
			counts = append(counts, c)
		}
		sort.Slice(counts, func(i, j int) bool { return runview.CompareValues(counts[i].value, counts[j].value) < 0 })
		var parts []string
		for i, c := range counts {
			if i == 6 {
				parts = append(parts, fmt.Sprintf("… %d more", len(counts)-6))
				break
			}
			parts = append(parts, fmt.Sprintf("%s:%d", short(runview.FormatValue(c.value), 24), c.n))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, len(vals), strings.Join(parts, " "))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tGROUP\tPARAMS\tKEY")
	for i, j := range jobs {
		if i == show {
			fmt.Fprintf(tw, "…\t\t%d more\t\n", len(jobs)-show)
			break
		}
		var ps []string
		for _, p := range j.Params {
			ps = append(ps, p.Name+"="+short(runview.FormatValue(p.Value), 32))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", j.Index, j.Group, strings.Join(ps, " "), j.Key[:12])
	}
	tw.Flush()

	waves := math.Ceil(float64(len(jobs)) / float64(instances))
	est := time.Duration(waves) * per
	fmt.Fprintf(w, "\nestimate: %s on %d instance(s) at %s per image\n", est, instances, per)
}

// short cuts s to n runes, marking the cut with "…"; whole values are in
// batch show --json and the report.
func short(s string, n int) string {
	s = strings.NewReplacer("\n", " ", "\t", " ").Replace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// countBy counts jobs per key, returning the keys in first-seen order.
func countBy(jobs []comfybatch.Job, keys func(comfybatch.Job) []string) ([]string, map[string]int) {
	count := map[string]int{}
	var order []string
	for _, j := range jobs {
		for _, k := range keys(j) {
			if _, ok := count[k]; !ok {
				order = append(order, k)
			}
			count[k]++
		}
	}
	return order, count
}

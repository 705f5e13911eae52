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
		batchCost   float64
	)
	c := &cobra.Command{
		Use:   "plan [flags] MANIFEST",
		Short: "show the jobs a manifest expands to and an estimate of wall time",
		Long: `plan expands MANIFEST without running it and prints the jobs (prompts) and
candidates (images) per group with their top_k, the values of every swept
axis, the first jobs with their params and keys, the order in which axes
change (expensive ones, like checkpoints, change least often), and an
estimate of the wall time on --instance-count instances at --per-image each
(a prompt rendering a batch of N images takes 1 + --batch-cost x (N-1) times
that: GPUs share a sampler step across a batch).
It streams the jobs, so a plan of a million jobs needs little memory.`,
		Example: `  batch plan headshots.yaml
  batch plan --instance-count 4 --per-image 6s --show 20 headshots.yaml`,
		Args:              exactArgs(1, "plan takes one manifest path, e.g. batch plan headshots.yaml"),
		ValidArgsFunction: completeManifest,
		RunE: func(c *cobra.Command, args []string) error {
			return plan(args[0], count, per, batchCost, show, o)
		},
	}
	fs := c.Flags()
	fs.IntVar(&count, "instance-count", 0, "instances to estimate for (0 = the manifest's count, at least 1)")
	fs.DurationVar(&per, "per-image", 10*time.Second, "time one instance takes to render one image on its own")
	fs.Float64Var(&batchCost, "batch-cost", 0.4, "what each extra image of a batch adds to a prompt's time, as a fraction of --per-image")
	fs.IntVar(&show, "show", 5, "expanded jobs to list")
	renamed(c, "instances", "plan estimates for a number of instances: --instance-count N (--instances takes ComfyUI URLs)")
	setExits(c, exitOK, exitFailed, exitBadInput)
	return c
}

func plan(path string, count int, per time.Duration, batchCost float64, show int, o IO) error {
	m, err := manifests.Load(path)
	if err != nil {
		return err
	}
	shape, err := m.Shape()
	if err != nil {
		return err
	}
	inst := count
	if inst <= 0 {
		inst = max(1, len(m.Instances))
	}
	if err := printPlan(o, m, shape, inst, per, batchCost, show); err != nil {
		return err
	}
	if len(shape.Axes) > 0 {
		var order []string
		for _, a := range shape.Axes {
			order = append(order, strings.Join(a.Params, "+"))
		}
		fmt.Fprintf(o.Out, "order: %s (outermost first: expensive axes change least often)\n", strings.Join(order, " > "))
	}
	if m.MasterSeedChosen && randomSeeds(shape) {
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

// planGroupRows is how many groups plan lists; the rest are summed up.
const planGroupRows = 20

// maxAxisValues is how many distinct values of one param plan counts
// jobs for; beyond it (random seeds of a large plan) it only says "many".
const maxAxisValues = 64

// printPlan prints the plan from its shape, streaming the jobs once for
// the per-value counts and the first jobs: a plan of a million jobs holds
// no job list.
func printPlan(o IO, m *manifests.Manifest, shape *manifests.Plan, instances int, per time.Duration, batchCost float64, show int) error {
	w := o.Out
	fmt.Fprintf(w, "%s: %d jobs, %d candidates\n\n", m.Path, shape.Total, shape.TotalCandidates)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tJOBS\tCANDIDATES\tTOP K")
	for i, g := range m.Groups {
		if i == planGroupRows {
			fmt.Fprintf(tw, "… %d more groups\t\t\t\n", len(m.Groups)-planGroupRows)
			break
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", g.Name, shape.PerGroup[g.Name], shape.Candidates[g.Name], m.TopKFor(g.Name))
	}
	tw.Flush()

	// Per axis value: only params that vary across jobs are axes.
	type count struct {
		value any
		n     int
	}
	values := map[string]map[string]*count{}
	many := map[string]bool{} // more distinct values than maxAxisValues
	var names []string
	var first []comfybatch.Job
	work := 0.0 // the plan's rendering time, in units of one image alone
	for j, err := range m.Jobs() {
		if err != nil {
			return err
		}
		if len(first) < show {
			first = append(first, j)
		}
		work += 1 + batchCost*float64(j.ImageCount()/max(len(j.Outputs), 1)-1)
		for _, p := range j.Params {
			if values[p.Name] == nil {
				values[p.Name] = map[string]*count{}
				names = append(names, p.Name)
			}
			if many[p.Name] {
				continue
			}
			k := runview.ValueKey(p.Value)
			if values[p.Name][k] == nil {
				if len(values[p.Name]) == maxAxisValues {
					many[p.Name] = true
					continue
				}
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
		if many[name] {
			fmt.Fprintf(tw, "%s\tover %d\t(too many to count here)\n", name, maxAxisValues)
			continue
		}
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
	fmt.Fprintln(tw, "JOB\tGROUP\tPARAMS\tIMAGES\tKEY")
	for _, j := range first {
		var ps []string
		for _, p := range j.Params {
			ps = append(ps, p.Name+"="+short(runview.FormatValue(p.Value), 32))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", j.Index, j.Group, strings.Join(ps, " "), j.ImageCount(), j.Key[:12])
	}
	if shape.Total > len(first) {
		fmt.Fprintf(tw, "…\t\t%d more\t\t\n", shape.Total-len(first))
	}
	tw.Flush()

	est := time.Duration(math.Ceil(work/float64(instances)) * float64(per)).Round(time.Second)
	fmt.Fprintf(w, "\nestimate: %s on %d instance(s) at %s per image", est, instances, per)
	if shape.TotalCandidates > shape.Total {
		fmt.Fprintf(w, " (batches: each extra image of a prompt adds %g of that)", batchCost)
	}
	fmt.Fprintln(w)
	return nil
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

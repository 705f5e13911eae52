package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
)

func cmdPlan(ctx context.Context, args []string, o IO) error {
	fs := newFlags("plan", "MANIFEST", o)
	n := fs.Int("instances", 0, "instances to estimate for (0 = the manifest's count, at least 1)")
	per := fs.Duration("per-image", 10*time.Second, "time one instance takes per image")
	show := fs.Int("show", 5, "expanded jobs to list")
	m, err := parseManifest(fs, args, "plan takes one manifest path")
	if err != nil {
		return err
	}
	plan, err := m.Plan()
	if err != nil {
		return err
	}
	inst := *n
	if inst == 0 {
		inst = max(1, len(m.Instances))
	}
	printPlan(o, m, plan.Jobs, inst, *per, *show)
	if len(plan.Axes) > 0 {
		var order []string
		for _, a := range plan.Axes {
			order = append(order, strings.Join(a.Params, "+"))
		}
		fmt.Fprintf(o.Out, "order: %s (outermost first: expensive axes change least often)\n", strings.Join(order, " > "))
	}
	return nil
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
	values := map[string]map[string]int{}
	var names []string
	for _, j := range jobs {
		for _, p := range j.Params {
			if values[p.Name] == nil {
				values[p.Name] = map[string]int{}
				names = append(names, p.Name)
			}
			values[p.Name][fmt.Sprint(p.Value)]++
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
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for i, k := range keys {
			if i == 6 {
				parts = append(parts, fmt.Sprintf("… %d more", len(keys)-6))
				break
			}
			parts = append(parts, fmt.Sprintf("%s:%d", k, vals[k]))
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
			v := fmt.Sprint(p.Value)
			if len(v) > 32 {
				v = v[:29] + "..."
			}
			ps = append(ps, p.Name+"="+v)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", j.Index, j.Group, strings.Join(ps, " "), j.Key[:12])
	}
	tw.Flush()

	waves := math.Ceil(float64(len(jobs)) / float64(instances))
	est := time.Duration(waves) * per
	fmt.Fprintf(w, "\nestimate: %s on %d instance(s) at %s per image\n", est, instances, per)
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

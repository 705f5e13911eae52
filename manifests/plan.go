package manifests

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// Plan is a manifest expanded into jobs.
type Plan struct {
	// Jobs in submission order: group by group, expensive axes outermost,
	// seeds innermost. Job.Index is the position in this slice.
	Jobs []comfybatch.Job
	// Axes are the swept dimensions, outermost first.
	Axes []Axis
	// PerGroup counts the jobs of each group (after de-duplication).
	PerGroup map[string]int
	// Duplicates counts jobs dropped because an earlier job had the same
	// key (same patched workflow and inputs).
	Duplicates int
}

// Axis is one dimension of the sweep. With combine: zip all swept
// parameters form one axis.
type Axis struct {
	// Params are the parameter names that vary along the axis.
	Params []string
	// Values is the number of values along the axis, or 0 when it
	// differs between groups (random seeds drawn per group count).
	Values int
	// Random reports seeds drawn from the master seed.
	Random bool
}

// orderedAxes returns the sweep in plan order: by cost (checkpoints
// outermost, seeds innermost), manifest order within a cost. With zip, the
// whole sweep is one axis.
func (m *Manifest) orderedAxes() [][]*axisSpec {
	if len(m.sweep) == 0 {
		return nil
	}
	if m.Combine == "zip" {
		return [][]*axisSpec{m.sweep}
	}
	sorted := slices.Clone(m.sweep)
	slices.SortStableFunc(sorted, func(a, b *axisSpec) int { return a.b.cost - b.b.cost })
	out := make([][]*axisSpec, len(sorted))
	for i, a := range sorted {
		out[i] = []*axisSpec{a}
	}
	return out
}

// shape works out, for one group, the length of every axis (in plan
// order) and the number of jobs. Random seed axes get as many seeds as
// needed to reach the group's count.
func (m *Manifest) shape(g *group) (lens []int, n int, problem string) {
	axes := m.orderedAxes()
	lens = make([]int, len(axes))
	fixed := 1 // product of the lengths known without the group's count
	var open []int
	for i, ax := range axes {
		l := 0
		for _, a := range ax {
			switch {
			case !a.random:
				if l != 0 && len(a.values) != l {
					return nil, 0, fmt.Sprintf("combine: zip needs lists of the same length, and %s", zipLengths(ax))
				}
				l = len(a.values)
			case a.randomCount > 0:
				if l != 0 && a.randomCount != l {
					return nil, 0, fmt.Sprintf("combine: zip needs lists of the same length, and %s", zipLengths(ax))
				}
				l = a.randomCount
			}
		}
		lens[i] = l
		if l == 0 {
			open = append(open, i)
			continue
		}
		if fixed > maxJobs/l {
			return nil, 0, fmt.Sprintf("the sweep expands to more than %d jobs per group", maxJobs)
		}
		fixed *= l
	}
	total := fixed
	if len(open) > 0 {
		if !g.countGiven {
			return nil, 0, "seed: random needs a number of seeds: {random: {count: N}} or a count: on the group"
		}
		// Draw enough seeds that fixed × seeds covers the count.
		per := (g.spec.Count + fixed - 1) / fixed
		for _, i := range open {
			lens[i] = per
			per = 1
		}
		total = fixed * lens[open[0]]
	} else if g.countGiven && g.spec.Count > total && m.hasRandom() {
		// The sweep names a seed count, but the group wants more: draw
		// more seeds on the innermost random axis.
		inner := -1
		for i, ax := range axes {
			for _, a := range ax {
				if a.random {
					inner = i
				}
			}
		}
		if m.Combine != "zip" {
			others := total / lens[inner]
			lens[inner] = (g.spec.Count + others - 1) / others
			total = others * lens[inner]
		}
	}
	n = total
	if g.countGiven {
		if g.spec.Count > total {
			return nil, 0, fmt.Sprintf("count %d is more than the %d combinations of the sweep; add values to the sweep or draw random seeds (seed: random)", g.spec.Count, total)
		}
		n = g.spec.Count
	}
	return lens, n, ""
}

func (m *Manifest) hasRandom() bool {
	for _, a := range m.sweep {
		if a.random {
			return true
		}
	}
	return false
}

func zipLengths(ax []*axisSpec) string {
	var parts []string
	for _, a := range ax {
		switch {
		case !a.random:
			parts = append(parts, fmt.Sprintf("%s has %d", a.b.name, len(a.values)))
		case a.randomCount > 0:
			parts = append(parts, fmt.Sprintf("%s has %d", a.b.name, a.randomCount))
		}
	}
	return strings.Join(parts, ", ")
}

// checkGroups validates the groups against the sweep: unique names, no
// parameter both set and swept, counts that the sweep can fill and top_k
// within the count.
func (m *Manifest) checkGroups(p *problems) {
	if m.wf == nil {
		return
	}
	swept := map[string]bool{}
	for _, a := range m.sweep {
		swept[a.b.name] = true
	}
	names := map[string]bool{}
	total := 0
	for _, g := range m.groups {
		sub := &problems{file: g.file}
		what := "group " + quote(g.spec.Name)
		if g.spec.Name != "" && names[g.spec.Name] {
			sub.at(g.pos, "%s: two groups have this name", what)
		}
		if strings.ContainsAny(g.spec.Name, `/\`) {
			sub.at(g.pos, "%s: group names cannot contain / or \\", what)
		}
		names[g.spec.Name] = true
		for _, s := range g.set {
			if swept[s.b.name] {
				sub.at(s.v.pos, "%s sets %q, which sweep also varies; set it or sweep it, not both", what, s.b.name)
			}
		}
		_, n, problem := m.shape(g)
		if problem != "" {
			if !g.countGiven && len(m.sweep) > 0 {
				// The problem is in the sweep, not in a group: report it
				// once, however many groups there are.
				p.at(m.sweep[0].pos, "%s", problem)
			} else {
				sub.at(g.pos, "%s: %s", what, problem)
			}
		}
		g.spec.Count = n
		total += n
		k, src := m.Select.TopK, "select top_k"
		if g.spec.TopK > 0 {
			k, src = g.spec.TopK, "top_k"
		}
		if g.spec.Name != "" && problem == "" && n > 0 && k > n {
			sub.at(g.pos, "%s: %s %d is more than its %d candidates", what, src, k, n)
		}
		p.errs = append(p.errs, sub.errs...)
	}
	if total > maxJobs {
		p.in(m.file, 0, 0, "the manifest expands to %d jobs; the limit is %d", total, maxJobs)
	}
	m.Groups = make([]GroupSpec, len(m.groups))
	for i, g := range m.groups {
		var tags []string
		for _, t := range append(slices.Clone(m.Tags), g.spec.Tags...) {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		g.spec.Tags = tags
		m.Groups[i] = g.spec
	}
}

// Plan expands the manifest into jobs. It is deterministic: the same
// manifest (and MasterSeed) gives the same jobs in the same order.
func (m *Manifest) Plan() (*Plan, error) {
	if m.wf == nil {
		return nil, fmt.Errorf("%s: manifest was not loaded with Load, LoadFS or Parse: %w", m.Path, comfybatch.ErrInvalid)
	}
	axes := m.orderedAxes()
	plan := &Plan{PerGroup: map[string]int{}}
	for _, ax := range axes {
		a := Axis{}
		for _, s := range ax {
			a.Params = append(a.Params, s.b.name)
			a.Random = a.Random || s.random
		}
		plan.Axes = append(plan.Axes, a)
	}
	seen := map[string]bool{}
	for _, g := range m.groups {
		lens, n, problem := m.shape(g)
		if problem != "" {
			return nil, &Error{File: g.file, Line: g.pos.Line, Col: g.pos.Column, Msg: "group " + quote(g.spec.Name) + ": " + problem}
		}
		for i := range plan.Axes {
			switch v := plan.Axes[i].Values; {
			case v == 0:
				plan.Axes[i].Values = lens[i]
			case v != lens[i]:
				plan.Axes[i].Values = -1 // differs between groups
			}
		}
		// Values along each axis for this group; random seeds are drawn
		// per group and parameter from the master seed.
		vals := make([][][]value, len(axes))
		for i, ax := range axes {
			vals[i] = make([][]value, len(ax))
			for j, a := range ax {
				if a.random {
					vals[i][j] = randomSeeds(m.MasterSeed, g.spec.Name, a.b.name, lens[i], a.pos)
				} else {
					vals[i][j] = a.values
				}
			}
		}
		idx := make([]int, len(axes))
		for k := 0; k < n; k++ {
			// Odometer: the last (innermost) axis turns fastest.
			if k > 0 {
				for i := len(idx) - 1; i >= 0; i-- {
					idx[i]++
					if idx[i] < lens[i] {
						break
					}
					idx[i] = 0
				}
			}
			job, err := m.job(g, axes, vals, idx)
			if err != nil {
				return nil, err
			}
			if seen[job.Key] {
				plan.Duplicates++
				continue
			}
			seen[job.Key] = true
			job.Index = len(plan.Jobs)
			plan.Jobs = append(plan.Jobs, job)
			plan.PerGroup[g.spec.Name]++
		}
	}
	for i := range plan.Axes {
		if plan.Axes[i].Values < 0 {
			plan.Axes[i].Values = 0
		}
	}
	return plan, nil
}

// job builds one job from a group and one index per axis.
func (m *Manifest) job(g *group, axes [][]*axisSpec, vals [][][]value, idx []int) (comfybatch.Job, error) {
	patches := map[string]map[string]json.RawMessage{}
	byName := map[string]value{}
	var bound []*binding
	put := func(b *binding, v value) {
		if patches[b.node.id] == nil {
			patches[b.node.id] = map[string]json.RawMessage{}
		}
		patches[b.node.id][b.input] = v.raw
		byName[b.name] = v
		bound = append(bound, b)
	}
	job := comfybatch.Job{Group: g.spec.Name, Tags: slices.Clone(g.spec.Tags)}
	for _, s := range g.set {
		put(s.b, s.v)
	}
	for i, ax := range axes {
		for j, a := range ax {
			put(a.b, vals[i][j][idx[i]])
		}
	}
	// Params: the group's set values in order, then the sweep in manifest order.
	for _, s := range g.set {
		job.Params = append(job.Params, comfybatch.Param{Name: s.b.name, Value: s.v.v, Raw: s.v.raw})
	}
	for _, a := range m.sweep {
		v := byName[a.b.name]
		job.Params = append(job.Params, comfybatch.Param{Name: a.b.name, Value: v.v, Raw: v.raw})
	}
	for _, b := range bound {
		if v := byName[b.name]; b.image {
			job.Inputs = append(job.Inputs, comfybatch.Input{Node: b.node.id, Input: b.input, Path: v.file, SHA256: v.sha})
		}
	}
	slices.SortFunc(job.Inputs, func(a, b comfybatch.Input) int {
		if c := compareIDs(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Input, b.Input)
	})
	wf, err := m.wf.patch(patches)
	if err != nil {
		return job, err
	}
	job.Workflow = wf
	job.Key, err = comfybatch.KeyOf(wf, job.Inputs)
	if err != nil {
		return job, err
	}
	job.Affinity = m.affinity(patches)
	return job, nil
}

// affinity names the checkpoint a job loads: the (patched) model input of
// the first checkpoint loader in the workflow.
func (m *Manifest) affinity(patches map[string]map[string]json.RawMessage) string {
	for _, id := range m.wf.ids {
		n := m.wf.nodes[id]
		in, ok := checkpointLoaders[n.class]
		if !ok {
			continue
		}
		raw := n.inputs[in]
		if p, ok := patches[id][in]; ok {
			raw = p
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return ""
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// groupStream seeds a splitmix64 stream for one group and parameter, so
// that each group's seeds depend only on the master seed and its name.
func groupStream(master uint64, group, param string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(group))
	h.Write([]byte{0})
	h.Write([]byte(param))
	return master ^ h.Sum64()
}

package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"iter"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/comfybatch/comfybatch"
)

// Plan is a manifest's expansion: how many jobs (prompts) and candidates
// (images) each group has, the axes, and, from Manifest.Plan only, the
// jobs themselves. Manifest.Jobs streams the jobs instead, for plans too
// large to hold.
type Plan struct {
	// Jobs in submission order: group by group, expensive axes outermost,
	// seeds innermost. Job.Index is the position in this slice. Empty
	// from Shape.
	Jobs []comfybatch.Job
	// Axes are the swept dimensions, outermost first.
	Axes []Axis
	// PerGroup counts the jobs (prompts) of each group, Candidates the
	// images they yield (a job yields its batch size times the number of
	// output nodes).
	PerGroup   map[string]int
	Candidates map[string]int
	// Total and TotalCandidates sum them over the groups.
	Total, TotalCandidates int
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

// groupShape is one group's expansion, without its jobs.
type groupShape struct {
	lens   []int // the length of every axis, in plan order
	jobs   int   // jobs (prompts) planned
	images int   // candidates they yield
	batch  batchSource
}

// perJob is how many candidates a job at axis indexes idx yields.
func (s groupShape) perJob(idx []int, outputs int) int { return s.batch.size(idx) * max(outputs, 1) }

// odometer advances idx to the next combination: the last (innermost)
// axis turns fastest.
func odometer(idx, lens []int) {
	for i := len(idx) - 1; i >= 0; i-- {
		idx[i]++
		if idx[i] < lens[i] {
			return
		}
		idx[i] = 0
	}
}

// shape works out, for one group, the length of every axis (in plan
// order), the number of jobs and the candidates they yield. A count counts
// candidates: with batch_size 4, 240 candidates are 60 jobs. Random seed
// axes get as many seeds as needed to reach the group's count.
func (m *Manifest) shape(g *group) (groupShape, string) {
	batch, problem := m.batchOf(g)
	if problem != "" {
		return groupShape{}, problem
	}
	sh := groupShape{batch: batch}
	outs := max(len(m.Outputs), 1)
	want := 0 // jobs the count needs (at the smallest batch size, an upper bound)
	if g.countGiven {
		per := batch.least * outs
		want = (g.spec.Count + per - 1) / per
	}
	axes := m.orderedAxes()
	lens := make([]int, len(axes))
	fixed := 1 // product of the lengths known without the group's count
	var open []int
	for i, ax := range axes {
		l := 0
		for _, a := range ax {
			switch {
			case !a.random:
				if l != 0 && len(a.values) != l {
					return sh, fmt.Sprintf("combine: zip needs lists of the same length, and %s", zipLengths(ax))
				}
				l = len(a.values)
			case a.randomCount > 0:
				if l != 0 && a.randomCount != l {
					return sh, fmt.Sprintf("combine: zip needs lists of the same length, and %s", zipLengths(ax))
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
			return sh, fmt.Sprintf("the sweep expands to more than %d jobs per group", maxJobs)
		}
		fixed *= l
	}
	total := fixed
	if len(open) > 0 {
		if !g.countGiven {
			return sh, "seed: random needs a number of seeds: {random: {count: N}} or a count: on the group"
		}
		// Draw enough seeds that fixed × seeds covers the count.
		per := (want + fixed - 1) / fixed
		for _, i := range open {
			lens[i] = per
			per = 1
		}
		total = fixed * lens[open[0]]
	} else if g.countGiven && want > total && m.hasRandom() {
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
			lens[inner] = (want + others - 1) / others
			total = others * lens[inner]
		}
	}
	sh.lens, sh.jobs = lens, total
	if g.countGiven && batch.fixed > 0 {
		if want > total {
			what := fmt.Sprintf("count %d", g.spec.Count)
			if batch.least*outs > 1 {
				what += fmt.Sprintf(" needs %d jobs of %d images, which", want, batch.least*outs)
			}
			return sh, fmt.Sprintf("%s is more than the %d combinations of the sweep; add values to the sweep or draw random seeds (seed: random)", what, total)
		}
		sh.jobs = want
	}
	if batch.fixed > 0 {
		sh.images = sh.jobs * batch.fixed * outs
		return sh, ""
	}
	// Batch sizes vary along an axis: count the images job by job, and
	// stop once they reach the count.
	idx := make([]int, len(lens))
	images := 0
	for k := 0; k < sh.jobs; k++ {
		if k > 0 {
			odometer(idx, lens)
		}
		images += sh.perJob(idx, outs)
		if g.countGiven && images >= g.spec.Count {
			sh.jobs = k + 1
			break
		}
	}
	if g.countGiven && images < g.spec.Count {
		return sh, fmt.Sprintf("count %d is more than the %d candidates every combination of the sweep yields; add values to the sweep or draw random seeds (seed: random)", g.spec.Count, images)
	}
	sh.images = images
	return sh, ""
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
// parameter both set and swept, counts that the sweep can fill, top_k
// within the count, and no two groups that would generate the same jobs.
func (m *Manifest) checkGroups(p *problems) {
	if m.wf == nil {
		return
	}
	swept := map[string]bool{}
	for _, a := range m.sweep {
		swept[a.b.name] = true
	}
	m.checkRepeats(p)
	names := map[string]bool{}
	signatures := map[string]*group{}
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
		if !m.hasRandom() && len(sub.errs) == 0 {
			// Without seeds drawn per group, two groups that set the same
			// values would generate the same images.
			sig := m.groupSignature(g)
			if other, dup := signatures[sig]; dup {
				sub.at(g.pos, "%s sets the same values as group %q, so its jobs would generate the same images; remove one, or draw seeds per group (seed: random)", what, other.spec.Name)
			} else {
				signatures[sig] = g
			}
		}
		sh, problem := m.shape(g)
		if problem != "" {
			if !g.countGiven && len(m.sweep) > 0 {
				// The problem is in the sweep, not in a group: report it
				// once, however many groups there are.
				p.at(m.sweep[0].pos, "%s", problem)
			} else {
				sub.at(g.pos, "%s: %s", what, problem)
			}
		}
		g.shape = sh
		g.spec.Count, g.spec.Jobs = sh.images, sh.jobs
		total += sh.jobs
		k, src := m.Select.TopK, "select top_k"
		if g.spec.TopK > 0 {
			k, src = g.spec.TopK, "top_k"
		}
		if g.spec.Name != "" && problem == "" && sh.images > 0 && k > sh.images {
			sub.at(g.pos, "%s: %s %d is more than its %d candidates", what, src, k, sh.images)
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

// groupSignature identifies what a group's jobs generate apart from the
// sweep: the workflow with its set values written in, and the content of
// the images it uploads.
func (m *Manifest) groupSignature(g *group) string {
	patches := map[string]map[string]json.RawMessage{}
	h := sha256.New()
	for _, s := range g.set {
		if patches[s.b.node.id] == nil {
			patches[s.b.node.id] = map[string]json.RawMessage{}
		}
		patches[s.b.node.id][s.b.input] = s.v.raw
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", s.b.node.id, s.b.input, s.v.sha)
	}
	wf, err := m.wf.patch(patches)
	if err != nil {
		return "unpatchable " + g.spec.Name // reported elsewhere; never equal
	}
	h.Write(wf)
	for _, t := range g.spec.Tags {
		fmt.Fprintf(h, "tag\x00%s\x00", t) // tags send the same workflow elsewhere: not the same job for people
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkRepeats reports sweep values that would make the same jobs twice:
// a value listed twice in one list (every combination), or a tuple of
// i-th values that repeats an earlier one (combine: zip).
func (m *Manifest) checkRepeats(p *problems) {
	if m.Combine != "zip" || len(m.sweep) < 2 {
		for _, a := range m.sweep {
			seen := map[string]*yaml.Node{}
			for _, v := range a.values {
				key := string(v.raw) + "\x00" + v.sha
				if first, dup := seen[key]; dup {
					p.at(v.pos, "sweep %q: %s is listed twice (also at %d:%d); each value makes its own jobs, so remove one",
						a.b.name, v.pos.Value, first.Line, first.Column)
					continue
				}
				seen[key] = v.pos
			}
		}
		return
	}
	n := -1
	for _, a := range m.sweep {
		if a.random {
			return
		}
		if n >= 0 && len(a.values) != n {
			return // reported by shape
		}
		n = len(a.values)
	}
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		var key strings.Builder
		for _, a := range m.sweep {
			key.Write(a.values[i].raw)
			key.WriteString("\x00" + a.values[i].sha + "\x00")
		}
		if j, dup := seen[key.String()]; dup {
			p.at(m.sweep[0].values[i].pos, "sweep: combine: zip takes the %s values together, and values %d and %d are the same; remove one", ordinal(i+1), j+1, i+1)
			continue
		}
		seen[key.String()] = i
	}
}

func ordinal(n int) string {
	switch {
	case n%10 == 1 && n%100 != 11:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2 && n%100 != 12:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3 && n%100 != 13:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}

// Shape returns the manifest's plan without its jobs: how many jobs and
// candidates each group has, and the axes. It is cheap for any size.
func (m *Manifest) Shape() (*Plan, error) {
	if m.wf == nil {
		return nil, fmt.Errorf("%s: manifest was not loaded with Load, LoadFS or Parse: %w", m.Path, comfybatch.ErrInvalid)
	}
	axes := m.orderedAxes()
	plan := &Plan{PerGroup: map[string]int{}, Candidates: map[string]int{}}
	for _, ax := range axes {
		a := Axis{}
		for _, s := range ax {
			a.Params = append(a.Params, s.b.name)
			a.Random = a.Random || s.random
		}
		plan.Axes = append(plan.Axes, a)
	}
	for _, g := range m.groups {
		for i := range plan.Axes {
			switch v := plan.Axes[i].Values; {
			case v == 0:
				plan.Axes[i].Values = g.shape.lens[i]
			case v != g.shape.lens[i]:
				plan.Axes[i].Values = -1 // differs between groups
			}
		}
		plan.PerGroup[g.spec.Name] += g.shape.jobs
		plan.Candidates[g.spec.Name] += g.shape.images
		plan.Total += g.shape.jobs
		plan.TotalCandidates += g.shape.images
	}
	for i := range plan.Axes {
		if plan.Axes[i].Values < 0 {
			plan.Axes[i].Values = 0
		}
	}
	return plan, nil
}

// Jobs streams the manifest's jobs in plan order, numbering them from 0.
// It is deterministic: the same manifest (and MasterSeed) gives the same
// jobs in the same order. It holds one group's swept values at a time,
// never the jobs, so a plan of a million jobs streams in little memory.
// It stops at the first error, which it yields with a zero Job.
func (m *Manifest) Jobs() iter.Seq2[comfybatch.Job, error] {
	return m.JobsWhere(nil)
}

// JobsWhere is Jobs that builds only the jobs want accepts, by plan index
// and group; the others are passed over without being expanded (no
// workflow is patched for them), which is how a rerun skips the finished
// part of a large plan quickly. A nil want accepts every job.
func (m *Manifest) JobsWhere(want func(index int, group string) bool) iter.Seq2[comfybatch.Job, error] {
	return func(yield func(comfybatch.Job, error) bool) {
		if m.wf == nil {
			yield(comfybatch.Job{}, fmt.Errorf("%s: manifest was not loaded with Load, LoadFS or Parse: %w", m.Path, comfybatch.ErrInvalid))
			return
		}
		axes := m.orderedAxes()
		outs := len(m.Outputs)
		index := 0
		for _, g := range m.groups {
			sh := g.shape
			// Values along each axis for this group; random seeds are
			// drawn per group and parameter from the master seed.
			vals := make([][][]value, len(axes))
			for i, ax := range axes {
				vals[i] = make([][]value, len(ax))
				for j, a := range ax {
					if a.random {
						vals[i][j] = randomSeeds(m.MasterSeed, g.spec.Name, a.b.name, sh.lens[i], a.pos)
					} else {
						vals[i][j] = a.values
					}
				}
			}
			idx := make([]int, len(axes))
			for k := 0; k < sh.jobs; k++ {
				if k > 0 {
					odometer(idx, sh.lens)
				}
				if want != nil && !want(index, g.spec.Name) {
					index++
					continue
				}
				job, err := m.job(g, axes, vals, idx)
				if err != nil {
					yield(comfybatch.Job{}, err)
					return
				}
				job.Index = index
				job.Outputs = m.Outputs
				job.Images = sh.perJob(idx, outs)
				index++
				if !yield(job, nil) {
					return
				}
			}
		}
	}
}

// Plan expands the manifest into its jobs, held in memory (Jobs streams
// them instead). It is deterministic: the same manifest (and MasterSeed)
// gives the same jobs in the same order.
func (m *Manifest) Plan() (*Plan, error) {
	plan, err := m.Shape()
	if err != nil {
		return nil, err
	}
	plan.Jobs = make([]comfybatch.Job, 0, plan.Total)
	for job, err := range m.Jobs() {
		if err != nil {
			return nil, err
		}
		plan.Jobs = append(plan.Jobs, job)
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
	job := comfybatch.Job{Group: g.spec.Name, Tags: g.spec.Tags}
	for _, s := range g.set {
		put(s.b, s.v)
	}
	for i, ax := range axes {
		for j, a := range ax {
			put(a.b, vals[i][j][idx[i]])
		}
	}
	// Params: the group's set values in order, then the sweep in manifest order.
	job.Params = make([]comfybatch.Param, 0, len(g.set)+len(m.sweep))
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
	job.Key = comfybatch.KeyOfCanonical(wf, job.Inputs) // patch writes canonical JSON
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

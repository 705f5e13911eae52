package runview

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// Tally counts jobs by status and candidates (the images of done jobs;
// one prompt may yield several) by outcome.
type Tally struct {
	Jobs       int // planned
	Pending    int // never submitted
	Submitted  int // submitted and not finished (in flight, or lost by a killed process)
	Done       int // generated
	Failed     int // ended without an image
	Candidates int // images of the done jobs: Passed + Rejected + Unscored
	Passed     int // candidates not rejected
	Rejected   int // candidates rejected: a gate, a scoring error, a near-duplicate
	Unscored   int // candidates that still wait for a scorer
	Selected   int // candidates selected
}

// Unfinished is the jobs neither done nor failed.
func (t Tally) Unfinished() int { return t.Pending + t.Submitted }

func (t *Tally) add(o Tally) {
	t.Jobs += o.Jobs
	t.Pending += o.Pending
	t.Submitted += o.Submitted
	t.Done += o.Done
	t.Failed += o.Failed
	t.Candidates += o.Candidates
	t.Unscored += o.Unscored
	t.Passed += o.Passed
	t.Rejected += o.Rejected
	t.Selected += o.Selected
}

// Reason is how many candidates were rejected with one reason text
// (comfybatch.ParseRejection reads it).
type Reason struct {
	Text  string
	Count int
}

// ClassCount is how many jobs failed with one error class
// (comfybatch.Class*).
type ClassCount struct {
	Class string
	Count int
}

// Group is one selection group of a run.
type Group struct {
	Name string
	// TopK is how many candidates the manifest asks the group to deliver;
	// 0 when the run's manifest can no longer be read.
	TopK int
	Tally
	// Reasons are the group's rejection reasons, by text.
	Reasons []Reason
	// FailureClasses count the group's failed jobs by class.
	FailureClasses []ClassCount
}

// Short reports whether the group selected fewer candidates than its
// top_k asks for.
func (g Group) Short() bool { return g.TopK > 0 && g.Selected < g.TopK }

// Instance is what one ComfyUI instance did during the run.
type Instance struct {
	Name       string
	Prompts    int           // prompts submitted
	Failures   int           // prompts that failed
	Busy       time.Duration // time spent executing our prompts
	ModelLoads int           // affinity changes (checkpoint loads)
	Down       time.Duration // time the instance was unreachable
}

// Run is a read-only view of one stored run. Its fields are what does not
// grow with the run; candidates stream through Each.
type Run struct {
	ID           int64
	Name         string
	Status       string // one of the store.Run* statuses
	ManifestPath string
	// OutputDir is the run folder, absolute; candidate paths are
	// relative to it.
	OutputDir   string
	ToolVersion string
	MasterSeed  uint64
	Started     time.Time
	Finished    time.Time // zero while running
	// Tally sums every group's.
	Tally
	// Groups are the run's groups in natural order of their names.
	Groups []Group
	// Selections are the selected candidates, by group (Groups order),
	// then rank.
	Selections []comfybatch.Selection
	Instances  []Instance
	// Gates are the gated metrics ("sharpness.laplacian_var") of the
	// run's manifest, and any other a rejection names, sorted.
	Gates []string
	// Outputs are the output nodes the run's candidates come from, in
	// natural order of their ids (MultiOutput: more than one).
	Outputs []Output
	// Batched reports whether some prompt saved more than one image at
	// one output node: candidates then differ in batch index only, and
	// presentations show it beside the seed.
	Batched bool
	// ManifestErr is why the manifest the run was started with could not
	// be read again (TopK and Gates then come from what was recorded);
	// nil when it was read.
	ManifestErr error

	st        *store.Store
	selection map[ID]comfybatch.Selection
	nodes     map[string]nodeInfo // of the run's workflow, by id; for output titles
}

// Group returns the named group and whether the run has it.
func (r *Run) Group(name string) (Group, bool) {
	for _, g := range r.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// GroupNames lists the run's group names in order.
func (r *Run) GroupNames() []string {
	names := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		names[i] = g.Name
	}
	return names
}

// CheckGroup returns nil when name is "" or one of the run's groups, else
// an error wrapping store.ErrNotFound that lists the groups it has.
func (r *Run) CheckGroup(name string) error {
	if _, ok := r.Group(name); ok || name == "" {
		return nil
	}
	if len(r.Groups) == 0 {
		return fmt.Errorf("run %d has no group %q (it has no jobs): %w", r.ID, name, store.ErrNotFound)
	}
	quoted := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		quoted[i] = fmt.Sprintf("%q", g.Name)
	}
	return fmt.Errorf("run %d has no group %q (it has %s): %w", r.ID, name, strings.Join(quoted, ", "), store.ErrNotFound)
}

// Duration is how long the run took, or has been running at now.
func (r *Run) Duration(now time.Time) time.Duration {
	end := r.Finished
	if end.IsZero() {
		end = now
	}
	if r.Started.IsZero() || !end.After(r.Started) {
		return 0
	}
	return end.Sub(r.Started)
}

// Wall is Finished-Started, or zero while the run has not finished.
func (r *Run) Wall() time.Duration {
	if r.Finished.IsZero() {
		return 0
	}
	return r.Duration(r.Finished)
}

// openAttempts bounds how often Open starts over when the run changed
// while it read.
const openAttempts = 3

// Open reads run id of st. The store has no read transaction to offer,
// so the aggregates are separate queries and a run that is being written
// can change between them; Open reads the job counts again at the end and
// starts over when they changed, up to openAttempts times. A run the
// database does not have is an error wrapping store.ErrNotFound.
func Open(ctx context.Context, st *store.Store, id int64) (*Run, error) {
	rec, err := st.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	dir := rec.OutputDir
	if abs, err := filepath.Abs(dir); err == nil && dir != "" {
		dir = abs
	}
	r := &Run{
		ID: rec.ID, Name: rec.Name, Status: rec.Status, ManifestPath: rec.ManifestPath, OutputDir: dir,
		ToolVersion: rec.ToolVersion, MasterSeed: rec.MasterSeed, Started: rec.Started, Finished: rec.Finished,
		st: st,
	}
	var m *manifests.Manifest
	if m, r.ManifestErr = manifests.Parse(rec.ManifestPath, []byte(rec.ManifestText), filepath.Dir(rec.ManifestPath)); r.ManifestErr != nil {
		m = nil
	}
	// Output nodes are named from the workflow the run recorded, else
	// from the manifest's (read again, so it may have changed since).
	if r.nodes = parseNodes(rec.Workflow); r.nodes == nil && m != nil {
		r.nodes = parseNodes(m.Workflow)
	}
	counts, err := st.Counts(ctx, id)
	if err != nil {
		return nil, err
	}
	for range openAttempts {
		if err := r.readAggregates(ctx, counts, m); err != nil {
			return nil, err
		}
		if rec.Status != store.RunRunning {
			break // nothing writes to a finished run: no need to count twice
		}
		after, err := st.Counts(ctx, id)
		if err != nil {
			return nil, err
		}
		if sameCounts(counts, after) {
			break
		}
		counts = after
	}
	return r, nil
}

// readAggregates fills in everything but the run record from the job
// counts and the other aggregate queries.
func (r *Run) readAggregates(ctx context.Context, counts store.Counts, m *manifests.Manifest) error {
	cands, err := r.st.CandidateCounts(ctx, r.ID)
	if err != nil {
		return err
	}
	classes, err := r.st.FailureClasses(ctx, r.ID)
	if err != nil {
		return err
	}
	sel, err := r.st.Selections(ctx, r.ID)
	if err != nil {
		return err
	}
	stats, err := r.st.InstanceStats(ctx, r.ID)
	if err != nil {
		return err
	}
	groups, err := r.st.Groups(ctx, r.ID)
	if err != nil {
		return err
	}
	r.Outputs, r.Batched = outputsOf(store.OutputCountsOf(cands), r.nodes)
	byName := map[string]*Group{}
	group := func(name string) *Group {
		if g, ok := byName[name]; ok {
			return g
		}
		g := &Group{Name: name}
		if m != nil {
			g.TopK = m.TopKFor(name)
		}
		byName[name] = g
		return g
	}
	for name, t := range counts.Groups {
		g := group(name)
		g.Jobs, g.Pending, g.Submitted, g.Done, g.Failed = t.Total, t.Pending, t.Submitted, t.Done, t.Failed
	}
	gates := map[string]bool{}
	for _, rc := range cands {
		g := group(rc.Group)
		g.Candidates += rc.Count
		switch {
		case rc.Pending:
			g.Unscored += rc.Count
			continue
		case rc.Reason == "":
			g.Passed += rc.Count
			continue
		}
		g.Rejected += rc.Count
		// Counts come ordered by group, reason, then output node: one
		// reason of several nodes is one Reason.
		if n := len(g.Reasons); n > 0 && g.Reasons[n-1].Text == rc.Reason {
			g.Reasons[n-1].Count += rc.Count
			continue
		}
		g.Reasons = append(g.Reasons, Reason{Text: rc.Reason, Count: rc.Count})
		if kind, name := comfybatch.ParseRejection(rc.Reason); kind == comfybatch.RejectGate {
			gates[name] = true
		}
	}
	for _, fc := range classes {
		g := group(fc.Group)
		g.FailureClasses = append(g.FailureClasses, ClassCount{Class: fc.Class, Count: fc.Count})
	}
	r.selection = make(map[ID]comfybatch.Selection, len(sel))
	for _, s := range sel {
		group(s.Group).Selected++
		r.selection[s.Ref()] = s
	}
	// top_k as the run recorded it; a run recorded before groups were
	// (0) takes it from its manifest, when that still parses.
	for _, sg := range groups {
		if sg.TopK > 0 {
			group(sg.Name).TopK = sg.TopK
		}
	}
	r.Groups = r.Groups[:0]
	r.Tally = Tally{}
	for _, g := range byName {
		r.Groups = append(r.Groups, *g)
		r.Tally.add(g.Tally)
	}
	slices.SortFunc(r.Groups, func(a, b Group) int { return CompareNatural(a.Name, b.Name) })
	order := map[string]int{}
	for i, g := range r.Groups {
		order[g.Name] = i
	}
	r.Selections = sel
	slices.SortStableFunc(r.Selections, func(a, b comfybatch.Selection) int {
		if c := order[a.Group] - order[b.Group]; c != 0 {
			return c
		}
		return a.Rank - b.Rank
	})
	r.Instances = r.Instances[:0]
	for _, s := range stats {
		r.Instances = append(r.Instances, Instance{Name: s.Instance, Prompts: s.Prompts, Failures: s.Failures,
			Busy: s.Busy, ModelLoads: s.ModelLoads, Down: s.Down})
	}
	if m != nil {
		for _, s := range m.Scorers {
			for name, ms := range s.Metrics {
				if ms.Min != nil || ms.Max != nil {
					gates[s.Name+"."+name] = true
				}
			}
		}
	}
	r.Gates = r.Gates[:0]
	for g := range gates {
		r.Gates = append(r.Gates, g)
	}
	slices.Sort(r.Gates)
	return nil
}

func sameCounts(a, b store.Counts) bool {
	if a.All != b.All || len(a.Groups) != len(b.Groups) {
		return false
	}
	for g, t := range a.Groups {
		if b.Groups[g] != t {
			return false
		}
	}
	return true
}

package inspect

import (
	"context"
	"slices"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// RunReport is batch show: how one run went, for all its groups or one.
// Everything but the selected candidates and the failures listed comes
// from aggregates, so a report of a run of a million candidates reads a
// few rows.
type RunReport struct {
	Run   RunSummary // counts and selected of the whole run
	Group string     // "" for every group
	// OutputDir is the run folder; image paths are relative to it.
	OutputDir string
	// Groups are the groups shown, in the run's order.
	Groups []GroupReport
	// Candidates is how many images the done jobs of the groups shown
	// yielded; Passed how many of them were not rejected, Unscored how
	// many still wait for a scorer.
	Candidates, Passed, Unscored int
	// Rejections are the reasons candidates were rejected (see Rejections).
	Rejections []Rejection
	// Selected are the selected candidates, by group, then rank.
	Selected []runview.Candidate
	// Outputs are the output nodes the run's candidates come from, and
	// Batched whether some prompt saved a batch of images at one of them
	// (runview.Run): selected rows then name the output node (several
	// outputs) or the seed and batch index (batches) of each image.
	Outputs []runview.Output
	Batched bool
	// Failed counts the failed jobs of the groups shown, FailureClasses by
	// class (most frequent first); Failures lists the first of them in
	// plan order (ShowOptions.Failures).
	Failed         int
	FailureClasses []runview.ClassCount
	Failures       []runview.Failure
}

// GroupReport is the job counts of one group.
type GroupReport struct {
	Name string
	// TopK is how many candidates the group should deliver; 0 when the
	// run's manifest is unreadable.
	TopK int
	runview.Tally
}

// ShowOptions configures Show.
type ShowOptions struct {
	// Failures is the most failed jobs to list; 0 means all.
	Failures int
	// Now dates a run that has not finished; default time.Now.
	Now func() time.Time
}

// Show reports on run r, or on one group of it when group is not "". A
// group the run doesn't have is an error wrapping store.ErrNotFound.
func Show(ctx context.Context, r *runview.Run, group string, opts ShowOptions) (*RunReport, error) {
	if err := r.CheckGroup(group); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep := &RunReport{Run: Summary(r, opts.Now()), Group: group, OutputDir: r.OutputDir, Outputs: r.Outputs,
		Batched: r.Batched}
	classes := map[string]int{}
	var reasons []runview.Reason
	for _, g := range r.Groups {
		if group != "" && g.Name != group {
			continue
		}
		rep.Groups = append(rep.Groups, GroupReport{Name: g.Name, TopK: g.TopK, Tally: g.Tally})
		rep.Candidates += g.Candidates
		rep.Unscored += g.Unscored
		rep.Passed += g.Passed
		rep.Failed += g.Failed
		reasons = append(reasons, g.Reasons...)
		for _, c := range g.FailureClasses {
			classes[c.Class] += c.Count
		}
	}
	rep.Rejections = Rejections(reasons, rep.Candidates)
	for c, n := range classes {
		rep.FailureClasses = append(rep.FailureClasses, runview.ClassCount{Class: c, Count: n})
	}
	slices.SortFunc(rep.FailureClasses, func(a, b runview.ClassCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return runview.CompareNatural(a.Class, b.Class)
	})
	var err error
	if rep.Selected, err = r.SelectedCandidates(ctx, group); err != nil {
		return nil, err
	}
	if rep.Failures, err = r.Failures(ctx, group, opts.Failures); err != nil {
		return nil, err
	}
	if rep.Selected == nil {
		rep.Selected = []runview.Candidate{}
	}
	if rep.Failures == nil {
		rep.Failures = []runview.Failure{}
	}
	return rep, nil
}

// perImage reports whether a job can yield several candidates in the
// report's run, so jobs and candidates must be counted apart.
func (r *RunReport) perImage() bool { return r.Batched || len(r.Outputs) > 1 }

// outputLabel names an output node of the run for people.
func (r *RunReport) outputLabel(id string) string {
	for _, o := range r.Outputs {
		if o.ID == id {
			return o.Label()
		}
	}
	return id
}

// sweptAmong splits the params of the selected candidates into the ones
// that tell them apart and the ones they share.
func sweptAmong(cands []runview.Candidate) ([]string, []comfybatch.Param) {
	return runview.SplitParams(func(yield func([]comfybatch.Param) bool) {
		for _, c := range cands {
			if !yield(c.Params) {
				return
			}
		}
	})
}

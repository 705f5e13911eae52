package inspect

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// RunReport is batch show: how one run went, for all its groups or one.
type RunReport struct {
	Run   RunSummary // counts and selected of the whole run
	Group string     // "" for every group
	// Groups are the groups shown, by name.
	Groups []GroupReport
	// Candidates is how many jobs of the groups shown are done (have a
	// scored image); Passed how many of them were not rejected.
	Candidates, Passed int
	// Rejections are the reasons candidates were rejected (see Rejections).
	Rejections []Rejection
	// Selected are the selected candidates, by group, then rank.
	Selected []SelectedCandidate
	// Failures are the jobs that ended without an image, in plan order.
	Failures []store.Failure
}

// GroupReport is the job counts of one group.
type GroupReport struct {
	Name string
	Jobs store.Tally
	// Rejected is how many done jobs were rejected; Selected how many
	// were selected.
	Rejected, Selected int
}

// SelectedCandidate is one selected image with what made it.
type SelectedCandidate struct {
	comfybatch.Selection
	Index  int // the job's position in the plan
	Params []comfybatch.Param
	// Scores are the candidate's numeric results by "scorer.metric";
	// Values its non-numeric ones (a perceptual hash) the same way.
	Scores map[string]float64
	Values map[string]string
	// Path is the image relative to the run folder (Run.OutputDir).
	Path     string
	SHA256   string
	Instance string
}

// Image is where the image is: Path inside the run folder.
func (s SelectedCandidate) Image(outputDir string) string {
	if s.Path == "" || outputDir == "" {
		return s.Path
	}
	return filepath.Join(outputDir, filepath.FromSlash(s.Path))
}

// NewRunReport assembles a report from what the store holds about a run:
// its summary, its job counts, its done candidates, its selection and its
// failures, each already limited to group unless group is "".
func NewRunReport(run RunSummary, group string, counts store.Counts, cands []comfybatch.Scored,
	sel []comfybatch.Selection, failures []store.Failure) *RunReport {
	r := &RunReport{
		Run: run, Group: group, Candidates: len(cands), Rejections: Rejections(cands),
		Selected: []SelectedCandidate{}, Failures: failures,
	}
	if r.Failures == nil {
		r.Failures = []store.Failure{}
	}
	byKey := make(map[string]comfybatch.Scored, len(cands))
	rejected := map[string]int{}
	for _, c := range cands {
		byKey[c.Candidate.Job.Key] = c
		if c.Rejected == "" {
			r.Passed++
		} else {
			rejected[c.Candidate.Job.Group]++
		}
	}
	selected := map[string]int{}
	for _, s := range sel {
		selected[s.Group]++
		r.Selected = append(r.Selected, selectedCandidate(s, byKey[s.JobKey]))
	}
	for _, name := range counts.GroupNames() {
		if group != "" && name != group {
			continue
		}
		r.Groups = append(r.Groups, GroupReport{
			Name: name, Jobs: counts.Groups[name], Rejected: rejected[name], Selected: selected[name],
		})
	}
	return r
}

// selectedCandidate joins a selection with its candidate (which is the
// zero value when the store has none).
func selectedCandidate(s comfybatch.Selection, c comfybatch.Scored) SelectedCandidate {
	out := SelectedCandidate{
		Selection: s, Index: c.Candidate.Job.Index, Params: c.Candidate.Job.Params,
		Scores: map[string]float64{}, Path: c.Candidate.Path, SHA256: c.Candidate.SHA256,
		Instance: c.Candidate.Instance,
	}
	for _, sc := range c.Scores {
		for m, v := range sc.Metrics {
			out.Scores[sc.Scorer+"."+m] = v
		}
		for m, v := range sc.Values {
			if out.Values == nil {
				out.Values = map[string]string{}
			}
			out.Values[sc.Scorer+"."+m] = v
		}
	}
	return out
}

// Show reads run runID, or one group of it when group is not "", into a
// report. A run or group the database doesn't have is an error wrapping
// store.ErrNotFound. Reading a run that is being written may, rarely, give
// counts a record or two apart from the lists (see readRun).
func Show(ctx context.Context, st *store.Store, runID int64, group string) (*RunReport, error) {
	s, err := readRun(ctx, st, runID, group)
	if err != nil {
		return nil, err
	}
	var failures []store.Failure
	for _, f := range s.failures {
		if group == "" || f.Group == group {
			failures = append(failures, f)
		}
	}
	summary := NewRunSummary(s.run, s.counts, len(s.sel), time.Now())
	return NewRunReport(summary, group, s.counts, s.cands, inGroup(s.sel, group), failures), nil
}

// checkGroup returns an error when group is not "" and the run has no
// job in it.
func checkGroup(runID int64, counts store.Counts, group string) error {
	if _, ok := counts.Groups[group]; ok || group == "" {
		return nil
	}
	names := counts.GroupNames()
	if len(names) == 0 {
		return fmt.Errorf("run %d has no group %q (it has no jobs): %w", runID, group, store.ErrNotFound)
	}
	for i, n := range names {
		names[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Errorf("run %d has no group %q (it has %s): %w", runID, group, strings.Join(names, ", "), store.ErrNotFound)
}

// inGroup returns the selections of group, or all of them when group is "".
func inGroup(sel []comfybatch.Selection, group string) []comfybatch.Selection {
	if group == "" {
		return sel
	}
	var out []comfybatch.Selection
	for _, s := range sel {
		if s.Group == group {
			out = append(out, s)
		}
	}
	return out
}

package runview

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// ID identifies a candidate within a run: its job key, and the output
// node and batch index of its image, since one prompt can yield several
// candidates. Presentations key their maps by ID, never by job key alone.
type ID = comfybatch.Ref

// Candidate is one generated image of a run with everything known about
// it.
type Candidate struct {
	ID
	// Index is the job's position in the plan; Group its group.
	Index int
	Group string
	// Params are the named values that made it, in manifest order.
	Params []comfybatch.Param
	// Scores are what each scorer said, in the order they ran.
	Scores []comfybatch.Score
	Total  float64
	// Rejected is empty for a candidate that may be selected, else the
	// reason (comfybatch.ParseRejection reads it).
	Rejected string
	// Pending names the scorers the candidate still waits for; it is
	// then neither selected nor rejected yet.
	Pending []string
	// Rank is the candidate's 1-based selection rank in its group, 0 when
	// it was not selected.
	Rank int
	// Path is the stored image relative to the run folder, "" when none
	// was recorded; SHA256, Width, Height and Bytes describe it.
	Path          string
	SHA256        string
	Width, Height int
	Bytes         int64
	// Thumb is where its thumbnail is kept in the run folder when the run
	// made one (store.ThumbPath); the file may be missing for runs
	// recorded before thumbnails were made.
	Thumb string
	// SelectedPath is where the selected/ layout keeps a selected
	// candidate's image, relative to the run folder; "" when not
	// selected.
	SelectedPath string
	// Images is how many candidates its job (one prompt) yielded, and
	// BatchSize how many of them its output node saved: BatchIndex
	// counts in a batch of BatchSize. Both are 1 for a prompt that saved
	// one image.
	Images    int
	BatchSize int

	Instance   string
	PromptID   string
	Attempts   int
	Queued     time.Time
	Started    time.Time
	Finished   time.Time
	Generation time.Duration
	Download   time.Duration
}

// Selected reports whether the candidate was selected.
func (c Candidate) Selected() bool { return c.Rank > 0 }

// Param returns the value of the named parameter and whether it is set.
func (c Candidate) Param(name string) (any, bool) {
	for _, p := range c.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// Names that Value, --where, grid axes and compare read besides the
// params: they tell apart the images of one prompt.
const (
	// BatchIndexName is the image's index in its output node's batch,
	// an int64 (0 for a prompt that saved one image).
	BatchIndexName = "batch_index"
	// BatchSizeName is how many images its output node saved in the
	// prompt, an int64, unless the run has a param of that name.
	BatchSizeName = "batch_size"
	// OutputName is the id of the output node that saved the image, a
	// string; candidates recorded before images had an identity lack it.
	OutputName = "output"
)

// Value returns the value of the named parameter, or else of one of the
// image's identity fields (BatchIndexName, BatchSizeName, OutputName), and
// whether the candidate has it. A param of the same name wins.
func (c Candidate) Value(name string) (any, bool) {
	if v, ok := c.Param(name); ok {
		return v, true
	}
	switch name {
	case BatchIndexName:
		return int64(c.BatchIndex), true
	case BatchSizeName:
		return int64(max(c.BatchSize, 1)), true
	case OutputName:
		return c.Output, c.Output != ""
	}
	return nil, false
}

// Seed returns the candidate's seed param (named "seed") and whether it
// has one; see comfybatch.Job.Seed.
func (c Candidate) Seed() (uint64, bool) { return comfybatch.Job{Params: c.Params}.Seed() }

// Metric returns the value of scorer's metric and whether the candidate
// has it.
func (c Candidate) Metric(scorer, metric string) (float64, bool) {
	for _, s := range c.Scores {
		if s.Scorer == scorer {
			v, ok := s.Metrics[metric]
			return v, ok
		}
	}
	return 0, false
}

// RejectKind is the kind of the candidate's rejection
// (comfybatch.Reject*), "" when it was not rejected.
func (c Candidate) RejectKind() string {
	kind, _ := comfybatch.ParseRejection(c.Rejected)
	return kind
}

// NearDuplicateOf is the plan index of the selected job this candidate
// was skipped for as a near-duplicate, and whether it was.
func (c Candidate) NearDuplicateOf() (int, bool) {
	kind, name := comfybatch.ParseRejection(c.Rejected)
	if kind != comfybatch.RejectNearDuplicate {
		return 0, false
	}
	i, err := strconv.Atoi(name)
	return i, err == nil
}

// Abs returns the absolute path of rel, a path relative to the run
// folder, or "" for "".
func (r *Run) Abs(rel string) string {
	if rel == "" {
		return ""
	}
	return filepath.Join(r.OutputDir, filepath.FromSlash(rel))
}

// Filter narrows the candidates Each and Candidates read. The zero value
// reads every candidate of the run.
type Filter struct {
	// Group, when set, is the one group to read.
	Group string
	// Where keeps the candidates that match every condition, on a param
	// or an identity field (Candidate.Value).
	Where []Cond
	// SelectedOnly keeps the selected candidates.
	SelectedOnly bool
	// NoScores leaves Candidate.Scores empty, which reads faster when
	// only params, totals and outcomes matter (compare).
	NoScores bool
}

// Each calls fn with every candidate f selects, in plan order, and stops
// at the first error fn returns, which it returns. It streams: memory does
// not grow with the run.
func (r *Run) Each(ctx context.Context, f Filter, fn func(Candidate) error) error {
	q := store.CandidateQuery{Group: f.Group, NoScores: f.NoScores, SelectedOnly: f.SelectedOnly}
	return r.st.EachCandidate(ctx, r.ID, q, func(v store.ViewCandidate) error {
		c := r.candidate(v)
		for _, w := range f.Where {
			if x, ok := c.Value(w.Name); !ok || !w.Matches(x) {
				return nil
			}
		}
		return fn(c)
	})
}

// LoadCandidates returns every candidate f selects, in plan order. Use Each
// for runs too large to hold.
func (r *Run) LoadCandidates(ctx context.Context, f Filter) ([]Candidate, error) {
	var out []Candidate
	err := r.Each(ctx, f, func(c Candidate) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SelectedCandidates returns the selected candidates of group (all groups when
// group is ""), by group in Groups order, then rank.
func (r *Run) SelectedCandidates(ctx context.Context, group string) ([]Candidate, error) {
	cands, err := r.LoadCandidates(ctx, Filter{Group: group, SelectedOnly: true})
	if err != nil {
		return nil, err
	}
	pos := make(map[ID]int, len(r.Selections))
	for i, s := range r.Selections {
		pos[s.Ref()] = i
	}
	slices.SortStableFunc(cands, func(a, b Candidate) int { return pos[a.ID] - pos[b.ID] })
	return cands, nil
}

// candidate turns a store row into a Candidate, with its selection.
func (r *Run) candidate(v store.ViewCandidate) Candidate {
	c := Candidate{
		ID:    v.Ref,
		Index: v.Index, Group: v.Group, Params: v.Params, Scores: v.Scores, Total: v.Total,
		Rejected: v.Rejected, Pending: v.Pending, Path: v.Path, SHA256: v.SHA256, Width: v.Width, Height: v.Height,
		Bytes: v.Bytes, Thumb: store.ThumbPath(v.SHA256), Instance: v.Instance, PromptID: v.PromptID,
		Attempts: v.Attempts, Queued: v.Queued, Started: v.Started, Finished: v.Finished,
		Generation: v.Generation, Download: v.Download, Images: max(v.Images, 1), BatchSize: max(v.BatchSize, 1),
	}
	if s, ok := r.selection[c.ID]; ok && s.Group == c.Group {
		c.Rank = s.Rank
		c.SelectedPath = store.SelectedPath(s.Group, s.Rank, c.ID, c.Params, c.Path)
	}
	return c
}

// Failure is a job that ended without an image.
type Failure struct {
	JobKey string
	Index  int
	Group  string
	Params []comfybatch.Param
	// Class is one of the comfybatch.Class* names.
	Class    string
	Message  string
	Attempts int
	Instance string // of the last attempt
	PromptID string // of the last attempt
	Finished time.Time
}

// Failures returns the failed jobs of group (all when group is "") in
// plan order, at most limit of them (all when limit <= 0).
func (r *Run) Failures(ctx context.Context, group string, limit int) ([]Failure, error) {
	var out []Failure
	err := r.st.EachFailure(ctx, r.ID, group, limit, func(f store.Failure, ps []comfybatch.Param) error {
		out = append(out, Failure{JobKey: f.JobKey, Index: f.Index, Group: f.Group, Params: ps, Class: f.Class,
			Message: f.Message, Attempts: f.Attempts, Instance: f.Instance, PromptID: f.PromptID, Finished: f.Finished})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

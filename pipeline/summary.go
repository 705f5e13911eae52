package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// Summary is the state of a whole run (every process that worked on it)
// at the end of one process: what it delivered, what is missing and why.
// A run is complete when Problems is 0.
type Summary struct {
	Jobs int `json:"jobs"`
	Done int `json:"done"`
	// Failed counts failed jobs by error class (comfybatch.Class*).
	Failed map[string]int `json:"failed,omitempty"`
	// Unfinished counts jobs neither done nor failed: the run stopped
	// before them.
	Unfinished int `json:"unfinished,omitempty"`
	// Unscored counts candidates waiting for a scorer; UnscoredBy counts
	// them per scorer (a candidate may wait for several).
	Unscored   int            `json:"unscored,omitempty"`
	UnscoredBy map[string]int `json:"unscored_by,omitempty"`
	// Shortfalls are the groups that selected fewer than their top_k.
	Shortfalls []Shortfall `json:"shortfalls,omitempty"`
	// Retried counts failed jobs of earlier processes that this one tried
	// again, by error class; Rescored the candidates it scored that were
	// waiting for a scorer.
	Retried  map[string]int `json:"retried,omitempty"`
	Rescored int            `json:"rescored,omitempty"`
}

// Shortfall is a group that delivered fewer than its top_k.
type Shortfall struct {
	Group      string `json:"group"`
	Selected   int    `json:"selected"`
	TopK       int    `json:"top_k"`
	Candidates int    `json:"candidates"`
	// Reason is what rejected most of its candidates ("gate
	// sharpness.laplacian_var", "scoring error clip", ...), and Rejected
	// how many it rejected.
	Reason   string `json:"reason,omitempty"`
	Rejected int    `json:"rejected,omitempty"`
	// Accepted is true when the manifest accepts shortfalls
	// (select.accept_shortfall): reported, but not a problem.
	Accepted bool `json:"accepted,omitempty"`
}

// FailedJobs is the number of failed jobs.
func (s Summary) FailedJobs() int {
	n := 0
	for _, c := range s.Failed {
		n += c
	}
	return n
}

// Problems counts what keeps the run from being complete: failed and
// unfinished jobs, unscored candidates and shortfalls not accepted.
func (s Summary) Problems() int {
	n := s.FailedJobs() + s.Unfinished + s.Unscored
	for _, sf := range s.Shortfalls {
		if !sf.Accepted {
			n++
		}
	}
	return n
}

// Lines describes every problem, one line each, with the command that
// deals with it (manifest is the manifest path as the user typed it).
func (s Summary) Lines(manifest string, runID int64) []string {
	var out []string
	classes := make([]string, 0, len(s.Failed))
	for c := range s.Failed {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		n := s.Failed[c]
		switch c {
		case comfybatch.ClassInvalid:
			out = append(out, fmt.Sprintf("%d %s failed as bad input (see batch show %d): fix the manifest or the instances, then batch run %s --retry-failed",
				n, plural(n, "job"), runID, manifest))
		case comfybatch.ClassExecution:
			out = append(out, fmt.Sprintf("%d %s failed with a node's own error on two instances (see batch show %d): batch run %s --retry-failed tries again",
				n, plural(n, "job"), runID, manifest))
		default:
			out = append(out, fmt.Sprintf("%d %s failed (%s): rerun batch run %s to retry %s",
				n, plural(n, "job"), c, manifest, pronoun(n)))
		}
	}
	if s.Unfinished > 0 {
		out = append(out, fmt.Sprintf("%d %s not generated yet: rerun batch run %s", s.Unfinished, plural(s.Unfinished, "job"), manifest))
	}
	if s.Unscored > 0 {
		names := make([]string, 0, len(s.UnscoredBy))
		for n := range s.UnscoredBy {
			names = append(names, n)
		}
		sort.Strings(names)
		var by []string
		for _, n := range names {
			by = append(by, fmt.Sprintf("%s %d", n, s.UnscoredBy[n]))
		}
		out = append(out, fmt.Sprintf("%d %s wait for an unavailable scorer (%s): when it is back, rerun batch run %s or batch rescore %d --pending",
			s.Unscored, plural(s.Unscored, "candidate"), strings.Join(by, ", "), manifest, runID))
	}
	for _, sf := range s.Shortfalls {
		line := fmt.Sprintf("group %s selected %d of its top_k %d from %d %s", sf.Group, sf.Selected, sf.TopK,
			sf.Candidates, plural(sf.Candidates, "candidate"))
		if sf.Reason != "" {
			line += fmt.Sprintf("; %s rejected %d", sf.Reason, sf.Rejected)
		}
		if sf.Accepted {
			line += " (accepted: select.accept_shortfall)"
		} else {
			line += ": loosen that gate, generate more (count, seeds), or set select.accept_shortfall"
		}
		out = append(out, line)
	}
	return out
}

// err is the error of an incomplete run: the problems in one line.
func (s Summary) err(runID int64) error {
	var parts []string
	if n := s.FailedJobs(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s failed", n, plural(n, "job")))
	}
	if s.Unfinished > 0 {
		parts = append(parts, fmt.Sprintf("%d not generated", s.Unfinished))
	}
	if s.Unscored > 0 {
		parts = append(parts, fmt.Sprintf("%d %s unscored", s.Unscored, plural(s.Unscored, "candidate")))
	}
	short := 0
	for _, sf := range s.Shortfalls {
		if !sf.Accepted {
			short++
		}
	}
	if short > 0 {
		parts = append(parts, fmt.Sprintf("%d %s short of top_k", short, plural(short, "group")))
	}
	return fmt.Errorf("run %d is incomplete: %s: %w", runID, strings.Join(parts, ", "), comfybatch.ErrIncomplete)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// summarize reads the state of the run from the store, and shortfalls
// from the selection (groups; none when m is nil). Retried and Rescored
// are kept from prev.
func summarize(ctx context.Context, st *store.Store, run store.Run, m *manifests.Manifest, groups []GroupResult, prev Summary) (Summary, error) {
	s := Summary{Retried: prev.Retried, Rescored: prev.Rescored}
	counts, err := st.Counts(ctx, run.ID)
	if err != nil {
		return s, err
	}
	s.Jobs, s.Done = counts.All.Total, counts.All.Done
	s.Unfinished = counts.All.Pending + counts.All.Submitted
	s.Unscored = counts.All.Unscored
	if counts.All.Failed > 0 {
		fails, err := st.Failures(ctx, run.ID)
		if err != nil {
			return s, err
		}
		s.Failed = map[string]int{}
		for _, f := range fails {
			s.Failed[f.Class]++
		}
	}
	if s.Unscored > 0 {
		if s.UnscoredBy, err = st.PendingCounts(ctx, run.ID); err != nil {
			return s, err
		}
	}
	if m == nil {
		return s, nil
	}
	for _, g := range groups {
		// A run planned with a per-group limit (a smoke test) can deliver
		// no more than it planned.
		want := min(g.TopK, counts.Groups[g.Name].Total)
		if len(g.Selection) >= want {
			continue
		}
		sf := Shortfall{Group: g.Name, Selected: len(g.Selection), TopK: want, Candidates: g.Candidates,
			Accepted: m.Select.AcceptShortfall, Reason: g.Reason, Rejected: g.Rejected}
		s.Shortfalls = append(s.Shortfalls, sf)
	}
	return s, nil
}

// mainRejection names what rejected most of the candidates, and how many.
func mainRejection(ranked []comfybatch.Scored) (string, int) {
	counts := map[string]int{}
	for _, c := range ranked {
		kind, name := comfybatch.ParseRejection(c.Rejected)
		var key string
		switch kind {
		case "":
			continue
		case comfybatch.RejectGate:
			key = "gate " + name
		case comfybatch.RejectMissingMetric:
			key = "missing metric " + name
		case comfybatch.RejectScoringError:
			key = "scoring error " + name
		case comfybatch.RejectNearDuplicate:
			key = "near-duplicate check"
		default:
			key = c.Rejected
		}
		counts[key]++
	}
	best, n := "", 0
	for k, c := range counts {
		if c > n || c == n && k < best {
			best, n = k, c
		}
	}
	return best, n
}

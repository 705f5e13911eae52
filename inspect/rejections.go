package inspect

import (
	"sort"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// Kinds of rejection, from the reason a candidate's Rejected field gives
// (the vocabulary is the root package's; see comfybatch.ParseRejection).
const (
	KindGate          = comfybatch.RejectGate          // "gate <scorer>.<metric>: 12 < min 50"
	KindMissingMetric = comfybatch.RejectMissingMetric // "missing metric <scorer>.<metric>"
	KindScoringError  = comfybatch.RejectScoringError  // "scoring error: <scorer>: <message>; ..."
	KindNearDuplicate = comfybatch.RejectNearDuplicate // "near-duplicate of job 7"
	KindOther         = comfybatch.RejectOther         // any other reason
)

// kindOrder is the position of a kind in Rejections' order: the gates
// people configured first, then the faults, then the rest.
func kindOrder(kind string) int {
	switch kind {
	case KindGate:
		return 0
	case KindMissingMetric:
		return 1
	case KindScoringError:
		return 2
	case KindNearDuplicate:
		return 3
	}
	return 4
}

// Rejection counts the candidates rejected for one reason.
type Rejection struct {
	Kind string // one of the Kind* constants
	// Name is the metric ("sharpness.laplacian_var") of a gate or missing
	// metric, the first failed scorer of a scoring error, else "".
	Name string
	// Count is how many candidates were rejected for this reason.
	Count int
	// Considered is how many candidates there were in all.
	Considered int
}

// Label is how the reason reads to people: "gate sharpness.laplacian_var",
// "missing metric clip.similarity", "scoring error clip", "near-duplicate".
func (r Rejection) Label() string {
	label := strings.ReplaceAll(r.Kind, "_", " ")
	if r.Kind == KindNearDuplicate {
		label = "near-duplicate"
	}
	if r.Name != "" {
		label += " " + r.Name
	}
	return label
}

// PassRate is the fraction of the candidates considered that this reason
// did not reject, in [0, 1]; ok is false when there were none. A candidate
// records only the first reason it was rejected for, so for a gate this is
// an upper bound: a candidate rejected earlier may have failed it too.
func (r Rejection) PassRate() (rate float64, ok bool) {
	if r.Considered == 0 {
		return 0, false
	}
	return float64(r.Considered-r.Count) / float64(r.Considered), true
}

// Classify splits a rejection reason into its kind and name (see
// Rejection). The empty reason (not rejected) has kind "".
func Classify(reason string) (kind, name string) {
	kind, name = comfybatch.ParseRejection(reason)
	if kind == KindNearDuplicate {
		name = "" // tallied as one reason, whichever job it resembles
	}
	return kind, name
}

// Rejections tallies why candidates were rejected, from the rejection
// reasons of a run's groups (runview.Group.Reasons): one entry per kind
// and name that occurred, gates first, then missing metrics, scoring
// errors, near-duplicates and other reasons, each by name. Every entry's
// Considered is considered, the number of candidates. Reasons nobody was
// rejected for do not appear.
func Rejections(reasons []runview.Reason, considered int) []Rejection {
	type key struct{ kind, name string }
	counts := map[key]int{}
	for _, r := range reasons {
		kind, name := Classify(r.Text)
		if kind != "" {
			counts[key{kind, name}] += r.Count
		}
	}
	out := make([]Rejection, 0, len(counts))
	for k, n := range counts {
		out = append(out, Rejection{Kind: k.kind, Name: k.name, Count: n, Considered: considered})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindOrder(out[i].Kind) < kindOrder(out[j].Kind)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

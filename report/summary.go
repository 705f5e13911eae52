package report

import (
	"sort"
	"time"

	"github.com/comfybatch/comfybatch"
)

// Rejection kinds, as shown in the report's data-reject attribute.
const (
	RejectGate      = "gate"      // a gated metric was out of bounds
	RejectDuplicate = "duplicate" // a near-duplicate of a selected candidate
	RejectError     = "error"     // a scorer failed or a metric was missing
)

// RejectKind classifies a candidate's rejection for display: a gate is
// RejectGate, a key in the group's NearDuplicates or a near-duplicate
// reason is RejectDuplicate, any other non-empty reason is RejectError, and
// an accepted candidate is "".
func RejectKind(reason string, nearDuplicate bool) string {
	kind, _ := comfybatch.ParseRejection(reason)
	switch {
	case kind == comfybatch.RejectGate:
		return RejectGate
	case nearDuplicate, kind == comfybatch.RejectNearDuplicate:
		return RejectDuplicate
	case reason != "":
		return RejectError
	}
	return ""
}

// gateName returns the metric named in a gate rejection such as
// "gate sharpness.laplacian_var: 12 < min 50", or "".
func gateName(reason string) string {
	if kind, name := comfybatch.ParseRejection(reason); kind == comfybatch.RejectGate {
		return name
	}
	return ""
}

// GateStat is how many candidates one gate let through.
type GateStat struct {
	Name   string
	Failed int // candidates whose first failed gate was this one
	Total  int // candidates considered
}

// PassRate is the fraction of candidates the gate let through, in [0, 1].
func (g GateStat) PassRate() float64 {
	if g.Total == 0 {
		return 1
	}
	return float64(g.Total-g.Failed) / float64(g.Total)
}

// InstanceStat is an Instance with the figures derived from the run.
type InstanceStat struct {
	Instance
	// Utilization is Busy over the run's wall time, in [0, 1]; 0 when the
	// wall time is unknown.
	Utilization float64
	// PerPrompt is Busy divided by successful prompts.
	PerPrompt time.Duration
	// Cost is Busy in hours times CostPerGPUHour, in dollars.
	Cost float64
}

// Summary is the run-level figures the report shows at the top.
type Summary struct {
	Wall       time.Duration
	Candidates int
	Rejected   int // rejected or skipped as near-duplicates
	Selected   int
	Gates      []GateStat
	Instances  []InstanceStat
	// Cost is the summed cost of every priced instance; CostPerImage
	// divides it by the number of selected (delivered) images. Both are
	// zero when no instance has a price.
	Cost         float64
	CostPerImage float64
	Priced       bool
}

// Summarize computes the report's run-level figures. Because a candidate
// records only the first gate it failed, a gate's pass rate counts the
// candidates that failed it first.
func Summarize(r Run) Summary {
	s := Summary{Wall: r.Wall(), Selected: len(r.Selections)}
	failed := map[string]int{}
	for _, g := range r.Groups {
		for _, c := range g.Candidates {
			s.Candidates++
			if _, dup := g.NearDuplicates[c.Candidate.Job.Key]; dup || c.Rejected != "" {
				s.Rejected++
			}
			if n := gateName(c.Rejected); n != "" {
				failed[n]++
			}
		}
	}
	names := map[string]bool{}
	for _, n := range r.Gates {
		names[n] = true
	}
	for n := range failed {
		names[n] = true
	}
	for n := range names {
		s.Gates = append(s.Gates, GateStat{Name: n, Failed: failed[n], Total: s.Candidates})
	}
	sort.Slice(s.Gates, func(i, j int) bool { return s.Gates[i].Name < s.Gates[j].Name })

	for _, in := range r.Instances {
		st := InstanceStat{Instance: in}
		if s.Wall > 0 {
			st.Utilization = min(1, in.Busy.Seconds()/s.Wall.Seconds())
		}
		if ok := in.Prompts - in.Failures; ok > 0 {
			st.PerPrompt = in.Busy / time.Duration(ok)
		}
		if in.CostPerGPUHour > 0 {
			st.Cost = in.Busy.Hours() * in.CostPerGPUHour
			s.Cost += st.Cost
			s.Priced = true
		}
		s.Instances = append(s.Instances, st)
	}
	if s.Selected > 0 {
		s.CostPerImage = s.Cost / float64(s.Selected)
	}
	return s
}

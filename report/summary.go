package report

import (
	"slices"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// Rejection kinds, as shown in the report's data-reject attribute.
const (
	RejectGate      = "gate"      // a gated metric was out of bounds
	RejectDuplicate = "duplicate" // a near-duplicate of a selected candidate
	RejectError     = "error"     // a scorer failed or a metric was missing
)

// RejectKind classifies a candidate's rejection for display: a gate is
// RejectGate, a near-duplicate RejectDuplicate, any other non-empty reason
// RejectError, and an accepted candidate "".
func RejectKind(reason string) string {
	kind, _ := comfybatch.ParseRejection(reason)
	switch {
	case kind == comfybatch.RejectGate:
		return RejectGate
	case kind == comfybatch.RejectNearDuplicate:
		return RejectDuplicate
	case reason != "":
		return RejectError
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

// InstanceStat is an instance with the figures derived from the run.
type InstanceStat struct {
	runview.Instance
	// Utilization is Busy over the run's wall time, in [0, 1]; 0 when the
	// wall time is unknown.
	Utilization float64
	// PerPrompt is Busy divided by successful prompts.
	PerPrompt time.Duration
	// CostPerGPUHour is the price the report was given; Cost is Busy in
	// hours times it, in dollars.
	CostPerGPUHour float64
	Cost           float64
}

// Summary is the run-level figures the report shows at the top.
type Summary struct {
	Wall       time.Duration
	Candidates int
	Rejected   int // rejected or skipped as near-duplicates
	Selected   int
	Gates      []GateStat
	Instances  []InstanceStat
	// Cost is the summed cost of every instance at costPerGPUHour;
	// CostPerImage divides it by the number of selected (delivered)
	// images. Both are zero without a price.
	Cost         float64
	CostPerImage float64
	Priced       bool
}

// Summarize computes the report's run-level figures, pricing every
// instance at costPerGPUHour dollars (0: no cost estimate). Because a
// candidate records only the first gate it failed, a gate's pass rate
// counts the candidates that failed it first.
func Summarize(r *runview.Run, costPerGPUHour float64) Summary {
	s := Summary{Wall: r.Wall(), Candidates: r.Candidates, Rejected: r.Rejected, Selected: r.Selected}
	failed := map[string]int{}
	for _, g := range r.Groups {
		for _, reason := range g.Reasons {
			if kind, name := comfybatch.ParseRejection(reason.Text); kind == comfybatch.RejectGate {
				failed[name] += reason.Count
			}
		}
	}
	for _, n := range r.Gates {
		s.Gates = append(s.Gates, GateStat{Name: n, Failed: failed[n], Total: s.Candidates})
	}
	slices.SortFunc(s.Gates, func(a, b GateStat) int { return runview.CompareNatural(a.Name, b.Name) })
	for _, in := range r.Instances {
		st := InstanceStat{Instance: in, CostPerGPUHour: costPerGPUHour}
		if s.Wall > 0 {
			st.Utilization = min(1, in.Busy.Seconds()/s.Wall.Seconds())
		}
		if ok := in.Prompts - in.Failures; ok > 0 {
			st.PerPrompt = in.Busy / time.Duration(ok)
		}
		if costPerGPUHour > 0 {
			st.Cost = in.Busy.Hours() * costPerGPUHour
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

package selectors

import (
	"math"
	"sort"

	"github.com/comfybatch/comfybatch"
)

// Normalisations of a metric within a group.
const (
	// NormRank maps each value to its percentile rank in the group, in
	// [0, 1] (ties share the mean rank). It is the default: it is
	// scale-free, so metrics as different as a Laplacian variance (in the
	// thousands) and a CLIP cosine (around 0.3) weigh what their weights
	// say, and one outlier cannot squash everyone else.
	NormRank = "rank"
	// NormMinMax maps the group's minimum to 0 and maximum to 1.
	NormMinMax = "minmax"
	// NormRaw uses the value as it is.
	NormRaw = "raw"
)

// Rule says how one metric counts: its weight in the total, how it is
// normalised within the group, and an optional gate on its raw value.
type Rule struct {
	Scorer    string   // scorer name as in comfybatch.Score.Scorer
	Metric    string   // metric name within that scorer
	Weight    float64  // weight in the total; 0 = gate only
	Normalize string   // NormRank (default), NormMinMax or NormRaw
	Min, Max  *float64 // gate on the raw value; nil = no bound
}

func (r Rule) name() string { return r.Scorer + "." + r.Metric }

// Rank returns a copy of one group's candidates, in their order, with
// Total and Rejected computed from rules. A candidate is rejected when a scorer reported an
// error for it, when a gated or weighted metric is missing, or when a value
// is outside a gate; rejected candidates still get a Total (from the
// metrics they have) so reports can show it, but they are never selected.
// Normalisation uses only the candidates that have the metric.
func Rank(group []comfybatch.Scored, rules []Rule) []comfybatch.Scored {
	out := make([]comfybatch.Scored, len(group))
	copy(out, group)
	for i := range out {
		out[i].Total = 0
		out[i].Rejected = scoringError(out[i])
	}
	for _, r := range rules {
		vals := make([]float64, len(out))
		has := make([]bool, len(out))
		for i, c := range out {
			vals[i], has[i] = c.Metric(r.Scorer, r.Metric)
			if has[i] && math.IsNaN(vals[i]) {
				has[i] = false
			}
		}
		norm := normalise(vals, has, r.Normalize)
		for i := range out {
			if !has[i] {
				if out[i].Rejected == "" && (r.Weight != 0 || r.Min != nil || r.Max != nil) {
					out[i].Rejected = comfybatch.MissingMetricReason(r.name())
				}
				continue
			}
			out[i].Total += r.Weight * norm[i]
			if out[i].Rejected == "" {
				out[i].Rejected = gate(r, vals[i])
			}
		}
	}
	return out
}

func scoringError(c comfybatch.Scored) string {
	var errs []string
	for _, s := range c.Scores {
		if s.Err != "" {
			errs = append(errs, s.Scorer+": "+s.Err)
		}
	}
	if len(errs) == 0 {
		return ""
	}
	return comfybatch.ScoringErrorReason(errs)
}

func gate(r Rule, v float64) string {
	if r.Min != nil && v < *r.Min {
		return comfybatch.GateReason(r.name(), v, "<", "min", *r.Min)
	}
	if r.Max != nil && v > *r.Max {
		return comfybatch.GateReason(r.name(), v, ">", "max", *r.Max)
	}
	return ""
}

// normalise maps the values that exist (has[i]) according to mode.
func normalise(vals []float64, has []bool, mode string) []float64 {
	out := make([]float64, len(vals))
	var idx []int
	for i, ok := range has {
		if ok {
			idx = append(idx, i)
		}
	}
	switch mode {
	case NormRaw:
		copy(out, vals)
	case NormMinMax:
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, i := range idx {
			lo, hi = math.Min(lo, vals[i]), math.Max(hi, vals[i])
		}
		for _, i := range idx {
			if hi > lo {
				out[i] = (vals[i] - lo) / (hi - lo)
			} else {
				out[i] = 1
			}
		}
	default: // NormRank
		sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] < vals[idx[b]] })
		n := len(idx)
		for a := 0; a < n; {
			b := a
			for b+1 < n && vals[idx[b+1]] == vals[idx[a]] {
				b++
			}
			// Ties share the mean of their positions; one candidate alone ranks 1.
			r := 1.0
			if n > 1 {
				r = (float64(a+b) / 2) / float64(n-1)
			}
			for k := a; k <= b; k++ {
				out[idx[k]] = r
			}
			a = b + 1
		}
	}
	return out
}

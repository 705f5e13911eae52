package inspect

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// Comparison is batch compare: how the candidates of a run fared for each
// value of one parameter.
type Comparison struct {
	Run   RunSummary
	Param string
	Group string       // "" for every group
	Rows  []CompareRow // one per value, in natural order; "values" in JSON
}

// CompareRow is the statistics of the candidates that share one value of
// the compared parameter.
type CompareRow struct {
	// Value is the parameter's value (string, bool, int64, uint64 or
	// float64), nil for candidates that don't have the parameter.
	Value any
	// Count is how many candidates (done jobs) had the value.
	Count int
	// Passed is how many of them were not rejected.
	Passed int
	// Selected is how many of them were selected.
	Selected int
	// Mean, Median and Best are of their totals, rejected candidates
	// included (Rank gives them a total too). Totals are normalised
	// within each group, so values spread evenly over groups compare fairly.
	Mean, Median, Best float64
}

// PassRate is Passed over Count, in [0, 1].
func (r CompareRow) PassRate() float64 {
	if r.Count == 0 {
		return 0
	}
	return float64(r.Passed) / float64(r.Count)
}

// CompareBy groups cands by the value of param and returns one row per
// value, in natural order (CompareValues): numbers numerically, strings
// with their digits read as numbers, candidates without the parameter
// last. A candidate counts as selected when sel names its job key.
func CompareBy(cands []comfybatch.Scored, sel []comfybatch.Selection, param string) []CompareRow {
	chosen := make(map[string]bool, len(sel))
	for _, s := range sel {
		chosen[s.JobKey] = true
	}
	type bucket struct {
		row    CompareRow
		totals []float64
	}
	var buckets []*bucket
	index := map[string]*bucket{} // by valueKey
	for _, c := range cands {
		v, _ := c.Candidate.Job.Param(param)
		k := valueKey(v)
		b, ok := index[k]
		if !ok {
			b = &bucket{row: CompareRow{Value: v}}
			index[k] = b
			buckets = append(buckets, b)
		}
		b.row.Count++
		if c.Rejected == "" {
			b.row.Passed++
		}
		if chosen[c.Candidate.Job.Key] {
			b.row.Selected++
		}
		b.totals = append(b.totals, c.Total)
	}
	rows := make([]CompareRow, len(buckets))
	for i, b := range buckets {
		rows[i] = b.row
		rows[i].Mean, rows[i].Median, rows[i].Best = stats(b.totals)
	}
	sort.SliceStable(rows, func(i, j int) bool { return CompareValues(rows[i].Value, rows[j].Value) < 0 })
	return rows
}

// valueKey tells values apart by type and text, so 5 and 5.0 (an int64
// and a float64 as the store keeps them) are different values.
func valueKey(v any) string {
	return fmt.Sprintf("%T:%s", v, FormatValue(v))
}

// stats returns the mean, median and maximum of xs, which is not empty.
func stats(xs []float64) (mean, median, best float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	mean = sum / float64(len(s))
	mid := len(s) / 2
	median = s[mid]
	if len(s)%2 == 0 {
		median = (s[mid-1] + s[mid]) / 2
	}
	return mean, median, s[len(s)-1]
}

// Compare reads run runID (one group of it, or all when group is "") and
// compares its candidates by param. A param no candidate has is an error
// wrapping store.ErrNotFound that lists the ones they do have.
func Compare(ctx context.Context, st *store.Store, runID int64, param, group string) (*Comparison, error) {
	s, err := readRun(ctx, st, runID, group)
	if err != nil {
		return nil, err
	}
	if err := checkParam(runID, s.cands, param); err != nil {
		return nil, err
	}
	return &Comparison{
		Run:   NewRunSummary(s.run, s.counts, len(s.sel), time.Now()),
		Param: param,
		Group: group,
		Rows:  CompareBy(s.cands, inGroup(s.sel, group), param),
	}, nil
}

// checkParam returns an error when cands is not empty and none of them has
// param.
func checkParam(runID int64, cands []comfybatch.Scored, param string) error {
	if len(cands) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, c := range cands {
		for _, p := range c.Candidate.Job.Params {
			if p.Name == param {
				return nil
			}
			have[p.Name] = true
		}
	}
	names := make([]string, 0, len(have))
	for n := range have {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("no candidate of run %d has param %q (they have %s): %w",
		runID, param, strings.Join(names, ", "), store.ErrNotFound)
}

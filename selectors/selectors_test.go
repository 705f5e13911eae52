package selectors

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/comfybatch/comfybatch"
)

func cand(idx int, metrics map[string]float64) comfybatch.Scored {
	return comfybatch.Scored{
		Candidate: comfybatch.Candidate{Job: comfybatch.Job{Key: fmt.Sprintf("k%02d", idx), Index: idx}},
		Scores:    []comfybatch.Score{{Scorer: "s", Metrics: metrics}},
	}
}

func ptr(f float64) *float64 { return &f }

func totals(cs []comfybatch.Scored) []float64 {
	out := make([]float64, len(cs))
	for i, c := range cs {
		out[i] = math.Round(c.Total*1000) / 1000
	}
	return out
}

func TestRankNormalisations(t *testing.T) {
	group := []comfybatch.Scored{
		cand(0, map[string]float64{"m": 10}),
		cand(1, map[string]float64{"m": 1000}),
		cand(2, map[string]float64{"m": 20}),
		cand(3, map[string]float64{"m": 20}),
	}
	tests := []struct {
		norm string
		want []float64
	}{
		{NormRaw, []float64{10, 1000, 20, 20}},
		{NormMinMax, []float64{0, 1, 0.01, 0.01}},
		{NormRank, []float64{0, 1, 0.5, 0.5}}, // the tied pair shares positions 1 and 2 of 0..3
		{"", []float64{0, 1, 0.5, 0.5}},       // rank is the default
	}
	for _, tt := range tests {
		t.Run(tt.norm, func(t *testing.T) {
			got := totals(Rank(group, []Rule{{Scorer: "s", Metric: "m", Weight: 1, Normalize: tt.norm}}))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Rank(%s) totals = %v, want %v", tt.norm, got, tt.want)
			}
		})
	}
}

func TestRankWeightsAndGates(t *testing.T) {
	group := []comfybatch.Scored{
		cand(0, map[string]float64{"a": 1, "b": 3}),
		cand(1, map[string]float64{"a": 2, "b": 2}),
		cand(2, map[string]float64{"a": 3, "b": 1}),
		cand(3, map[string]float64{"a": 4}),
	}
	group[2].Scores = append(group[2].Scores, comfybatch.Score{Scorer: "clip", Err: "timeout"})
	got := Rank(group, []Rule{
		{Scorer: "s", Metric: "a", Weight: 1, Min: ptr(1.5)},
		{Scorer: "s", Metric: "b", Weight: 2},
	})
	wantRejected := []string{
		"gate s.a: 1 < min 1.5",
		"",
		"scoring error: clip: timeout",
		"missing metric s.b",
	}
	for i, c := range got {
		if c.Rejected != wantRejected[i] {
			t.Errorf("candidate %d Rejected = %q, want %q", i, c.Rejected, wantRejected[i])
		}
	}
	// a ranks 0, 1/3, 2/3, 1; b ranks (among 3) 1, .5, 0.
	want := []float64{2, 1.333, 0.667, 1}
	if g := totals(got); !reflect.DeepEqual(g, want) {
		t.Errorf("totals = %v, want %v", g, want)
	}
	if group[0].Total != 0 || group[0].Rejected != "" {
		t.Errorf("Rank modified its input: %+v", group[0])
	}
}

func TestTopKOrderTiesAndMinScore(t *testing.T) {
	var group []comfybatch.Scored
	for i, v := range []float64{5, 9, 9, 1, 7, 3} {
		group = append(group, cand(i, map[string]float64{"m": v}))
	}
	ranked := Rank(group, []Rule{{Scorer: "s", Metric: "m", Weight: 1, Normalize: NormRaw}})
	ranked[4].Rejected = "gate"
	sel := TopK{K: 3, MinScore: ptr(4)}.Select("g", ranked)
	var keys []string
	for i, s := range sel {
		if s.Rank != i+1 || s.Group != "g" {
			t.Errorf("selection %d = %+v, want rank %d in group g", i, s, i+1)
		}
		keys = append(keys, s.JobKey)
	}
	// 9, 9 (tie: lower index first), then 7 is rejected, 5, then 3 < min score.
	if want := []string{"k01", "k02", "k00"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("TopK keys = %v, want %v", keys, want)
	}
	if sel := (TopK{K: 10, MinScore: ptr(4)}).Select("g", ranked); len(sel) != 3 {
		t.Errorf("TopK{K:10, MinScore:4} selected %d, want 3", len(sel))
	}
}

func TestTopKDiversity(t *testing.T) {
	hashes := []string{"ffff000000000000", "ffff000000000001", "0000ffff00000000", "ffff000000000003"}
	var group []comfybatch.Scored
	for i, h := range hashes {
		c := cand(i, map[string]float64{"m": float64(10 - i)})
		c.Scores = append(c.Scores, comfybatch.Score{Scorer: "phash", Values: map[string]string{"hash": h}})
		group = append(group, c)
	}
	ranked := Rank(group, []Rule{{Scorer: "s", Metric: "m", Weight: 1}})
	tk := TopK{K: 3, HashScorer: "phash", Distance: 2}
	sel := tk.Select("g", ranked)
	var keys []string
	for _, s := range sel {
		keys = append(keys, s.JobKey)
	}
	if want := []string{"k00", "k02"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("TopK with diversity = %v, want %v", keys, want)
	}
	dups := tk.NearDuplicates(ranked, sel)
	ref := func(k string) comfybatch.Ref { return comfybatch.Ref{JobKey: k} }
	if want := map[comfybatch.Ref]comfybatch.Ref{ref("k01"): ref("k00"), ref("k03"): ref("k00")}; !reflect.DeepEqual(dups, want) {
		t.Errorf("NearDuplicates = %v, want %v", dups, want)
	}
	if sel := (TopK{K: 3}).Select("g", ranked); len(sel) != 3 {
		t.Errorf("TopK without diversity selected %d, want 3", len(sel))
	}
}

// TestOrder: Order sorts a copy (total descending, then plan index, key,
// output node and batch index) and leaves its input as it was; input
// already in that order comes back as it is.
func TestOrder(t *testing.T) {
	var group []comfybatch.Scored
	for i, total := range []float64{3, 9, 3, 1, 9, 3} {
		c := cand(i%4, nil) // jobs 0 and 1 yield two images each
		c.Total = total
		c.Candidate.Output, c.Candidate.BatchIndex = "9", i/4
		group = append(group, c)
	}
	group[5].Candidate.BatchIndex = 0
	group[5].Candidate.Output = "12" // job 1's image at another node
	before := slices.Clone(group)
	got := Order(group)
	var order []string
	for _, c := range got {
		order = append(order, fmt.Sprintf("%v/%d/%s/%d", c.Total, c.Candidate.Job.Index, c.Candidate.Output, c.Candidate.BatchIndex))
	}
	want := []string{"9/0/9/1", "9/1/9/0", "3/0/9/0", "3/1/12/0", "3/2/9/0", "1/3/9/0"}
	if !slices.Equal(order, want) {
		t.Errorf("Order = %v, want %v", order, want)
	}
	if !reflect.DeepEqual(group, before) {
		t.Error("Order changed its input")
	}
	if again := Order(got); &again[0] != &got[0] {
		t.Error("Order copied a group already in order")
	}
}

package inspect_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/runview"
)

// cand is a candidate with params name=value pairs, a total, a rejection
// reason and a selection rank.
func cand(total float64, rejected string, rank int, kv ...any) runview.Candidate {
	var params []comfybatch.Param
	for i := 0; i < len(kv); i += 2 {
		params = append(params, comfybatch.Param{Name: kv[i].(string), Value: kv[i+1]})
	}
	return runview.Candidate{Params: params, Total: total, Rejected: rejected, Rank: rank}
}

// mid is the mean of a and b computed at run time, as CompareBy does (a
// constant expression would be exact).
func mid(a, b float64) float64 { return (a + b) / 2 }

// counts strips a comparison's rows to what can be checked exactly.
type counts struct {
	Value                   any
	N, Passed, Selected     int
	Mean, Median, Best      float64
	IsBest, HasCI, HasDiffs bool
}

func rowCounts(rows []inspect.CompareRow) []counts {
	out := []counts{}
	for _, r := range rows {
		out = append(out, counts{r.Value, r.N, r.Passed, r.Selected, r.Mean, r.Median, r.Best, r.IsBest,
			r.MeanCI != nil, r.DiffCI != nil})
	}
	return out
}

func TestCompareBy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []runview.Candidate
		param string
		want  []counts
	}{
		{"no candidates", nil, "seed", []counts{}},
		{
			"samplers: mean, odd and even median, best, pass rate, selected",
			[]runview.Candidate{
				cand(0.9, "", 1, "sampler_name", "euler"),
				cand(0.4, "gate x.y: 1 < min 2", 0, "sampler_name", "dpmpp_2m"),
				cand(0.1, "near-duplicate of job 0", 0, "sampler_name", "euler"),
				cand(0.5, "", 0, "sampler_name", "euler"),
				cand(0.8, "", 2, "sampler_name", "dpmpp_2m"),
			},
			"sampler_name",
			[]counts{
				{"dpmpp_2m", 2, 1, 1, mid(0.4, 0.8), mid(0.4, 0.8), 0.8, true, true, false},
				{"euler", 3, 2, 1, 0.5, 0.5, 0.9, false, true, true},
			},
		},
		{
			"numbers in natural order, 5 and 5.0 apart, missing last; one candidate has no interval",
			[]runview.Candidate{
				cand(1, "", 0, "steps", int64(100)),
				cand(2, "", 0, "steps", int64(20)),
				cand(3, "", 0),
				cand(4, "", 0, "steps", 5.0),
				cand(5, "", 0, "steps", int64(5)),
				cand(6, "", 0, "steps", int64(8)),
			},
			"steps",
			[]counts{
				{int64(5), 1, 1, 0, 5, 5, 5, false, false, false},
				{5.0, 1, 1, 0, 4, 4, 4, false, false, false},
				{int64(8), 1, 1, 0, 6, 6, 6, true, false, false},
				{int64(20), 1, 1, 0, 2, 2, 2, false, false, false},
				{int64(100), 1, 1, 0, 1, 1, 1, false, false, false},
				{nil, 1, 1, 0, 3, 3, 3, false, false, false},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := inspect.CompareBy(tc.cands, []string{tc.param}, inspect.CompareOptions{})
			if rc := rowCounts(got.Rows); !reflect.DeepEqual(rc, tc.want) {
				t.Errorf("CompareBy(%s) =\n%+v\nwant\n%+v", tc.param, rc, tc.want)
			}
		})
	}
}

// samples draws n totals around mean with spread sd, reproducibly.
func samples(rng *rand.Rand, n int, mean, sd float64, kv ...any) []runview.Candidate {
	var out []runview.Candidate
	for range n {
		out = append(out, cand(mean+sd*rng.NormFloat64(), "", 0, kv...))
	}
	return out
}

// TestCompareIntervals: the bootstrap tells a real difference from noise,
// covers the mean, and gives the same numbers for the same seed.
func TestCompareIntervals(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var cands []runview.Candidate
	cands = append(cands, samples(rng, 24, 0.70, 0.05, "sampler_name", "dpmpp_2m")...)
	cands = append(cands, samples(rng, 24, 0.50, 0.05, "sampler_name", "euler")...)                         // clearly worse
	cands = append(cands, samples(rng, 24, 0.69, 0.05, "sampler_name", "heun")...)                          // as good
	cands = append(cands, cand(0.2, "", 0, "sampler_name", "lms"), cand(1.0, "", 0, "sampler_name", "lms")) // too few to tell
	cands = append(cands, cand(0.95, "", 0, "sampler_name", "ddim"))                                        // one lucky seed
	c := inspect.CompareBy(cands, []string{"sampler_name"}, inspect.CompareOptions{})
	if c.Resamples != 2000 || c.Seed != 1 || c.Candidates != 75 {
		t.Errorf("Resamples, Seed, Candidates = %d, %d, %d; want 2000, 1, 75", c.Resamples, c.Seed, c.Candidates)
	}
	by := map[any]inspect.CompareRow{}
	for _, r := range c.Rows {
		by[r.Value] = r
		if r.N > 1 && (r.MeanCI == nil || !r.MeanCI.Contains(r.Mean)) {
			t.Errorf("%v: mean %v outside its interval %+v", r.Value, r.Mean, r.MeanCI)
		}
	}
	// dpmpp_2m and heun are as good as each other: either may come out
	// best, and the other is not clearly behind it.
	best, other := by["dpmpp_2m"], by["heun"]
	if !best.IsBest {
		best, other = other, best
	}
	if !best.IsBest || best.DiffCI != nil || best.Diff != 0 {
		t.Errorf("best = %+v, want dpmpp_2m or heun, without a difference interval", best)
	}
	if other.Behind() || other.DiffCI == nil || !other.DiffCI.Contains(0) || !other.DiffCI.Contains(other.Diff) {
		t.Errorf("%v = %+v, want not clearly behind: its interval contains 0 and its difference", other.Value, other)
	}
	if e := by["euler"]; !e.Behind() || e.Diff > -0.15 {
		t.Errorf("euler = %+v, want clearly behind (interval below 0)", e)
	}
	if l := by["lms"]; l.Behind() || l.DiffCI == nil {
		t.Errorf("lms (0.2 and 1.0) = %+v, want an interval, not clearly behind", l)
	}
	if d := by["ddim"]; d.IsBest || d.Diff <= 0 || d.MeanCI != nil || d.DiffCI != nil {
		t.Errorf("ddim (one candidate above the rest) = %+v, want not the best, no intervals, a positive difference", d)
	}
	again := inspect.CompareBy(cands, []string{"sampler_name"}, inspect.CompareOptions{})
	if !reflect.DeepEqual(again, c) {
		t.Error("the same candidates and seed compare differently")
	}
	seed2 := inspect.CompareBy(cands, []string{"sampler_name"}, inspect.CompareOptions{Seed: 2})
	if seed2.Rows[1].Value != "dpmpp_2m" || reflect.DeepEqual(seed2.Rows[1].MeanCI, c.Rows[1].MeanCI) {
		t.Error("another seed gives the very same interval; is the seed used?")
	}
	// A large run draws fewer resamples.
	big := make([]runview.Candidate, 50_000)
	for i := range big {
		big[i] = cand(float64(i%100)/100, "", 0, "seed", int64(i%2))
	}
	if got := inspect.CompareBy(big, []string{"seed"}, inspect.CompareOptions{}).Resamples; got != 400 {
		t.Errorf("Resamples over 50000 candidates = %d, want 400 (20M draws)", got)
	}
}

func TestCompareTwoWay(t *testing.T) {
	var cands []runview.Candidate
	for _, s := range []string{"euler", "dpmpp_2m"} {
		for _, cfg := range []float64{7.5, 5.5} {
			for seed := range 3 {
				total := float64(seed) / 10
				if s == "dpmpp_2m" && cfg == 7.5 {
					total += 1
				}
				cands = append(cands, cand(total, "", 0, "seed", uint64(seed), "sampler_name", s, "cfg", cfg))
			}
		}
	}
	cands = append(cands, cand(0.5, "", 0, "sampler_name", "lms", "cfg", 5.5))
	c := inspect.CompareBy(cands, []string{"sampler_name", "cfg"}, inspect.CompareOptions{})
	if want := []any{"dpmpp_2m", "euler", "lms"}; !reflect.DeepEqual(c.RowValues, want) {
		t.Errorf("RowValues = %v, want %v", c.RowValues, want)
	}
	if want := []any{5.5, 7.5}; !reflect.DeepEqual(c.ColValues, want) {
		t.Errorf("ColValues = %v, want %v", c.ColValues, want)
	}
	if c.Rows != nil {
		t.Errorf("Rows = %v, want none for two parameters", c.Rows)
	}
	if s := c.Cells[0][1]; s == nil || !s.IsBest || s.N != 3 || math.Abs(s.Mean-1.1) > 1e-9 {
		t.Errorf("dpmpp_2m/7.5 = %+v, want the best, 3 candidates, mean 1.1", s)
	}
	if s := c.Cells[1][0]; s == nil || !s.Behind() {
		t.Errorf("euler/5.5 = %+v, want clearly behind", s)
	}
	if s := c.Cells[2][1]; s != nil {
		t.Errorf("lms/7.5 = %+v, want no cell", s)
	}
	if s := c.Cells[2][0]; s == nil || s.N != 1 || s.MeanCI != nil {
		t.Errorf("lms/5.5 = %+v, want 1 candidate without an interval", s)
	}
}

func TestStatsPassRate(t *testing.T) {
	for _, tc := range []struct {
		s    inspect.Stats
		want float64
	}{
		{inspect.Stats{}, 0},
		{inspect.Stats{N: 4, Passed: 3}, 0.75},
		{inspect.Stats{N: 2, Passed: 2}, 1},
	} {
		if got := tc.s.PassRate(); got != tc.want {
			t.Errorf("%+v.PassRate() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

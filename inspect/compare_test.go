package inspect_test

import (
	"reflect"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
)

// cand is a candidate with one param, a total and a rejection reason.
func cand(key string, name string, value any, total float64, rejected string) comfybatch.Scored {
	var params []comfybatch.Param
	if name != "" {
		params = []comfybatch.Param{{Name: name, Value: value}}
	}
	return comfybatch.Scored{
		Candidate: comfybatch.Candidate{Job: comfybatch.Job{Key: key, Params: params}},
		Total:     total,
		Rejected:  rejected,
	}
}

// mid is the mean of a and b computed at run time, as CompareBy does (a
// constant expression would be exact).
func mid(a, b float64) float64 { return (a + b) / 2 }

func TestCompareBy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cands []comfybatch.Scored
		sel   []comfybatch.Selection
		param string
		want  []inspect.CompareRow
	}{
		{"no candidates", nil, nil, "seed", []inspect.CompareRow{}},
		{
			"samplers: mean, odd and even median, best, pass rate, selected",
			[]comfybatch.Scored{
				cand("a", "sampler_name", "euler", 0.9, ""),
				cand("b", "sampler_name", "dpmpp_2m", 0.4, "gate x.y: 1 < min 2"),
				cand("c", "sampler_name", "euler", 0.1, "near-duplicate of job 0"),
				cand("d", "sampler_name", "euler", 0.5, ""),
				cand("e", "sampler_name", "dpmpp_2m", 0.8, ""),
			},
			[]comfybatch.Selection{{JobKey: "a"}, {JobKey: "e"}, {JobKey: "zzz"}},
			"sampler_name",
			[]inspect.CompareRow{
				{Value: "dpmpp_2m", Count: 2, Passed: 1, Selected: 1, Mean: mid(0.4, 0.8), Median: mid(0.4, 0.8), Best: 0.8},
				{Value: "euler", Count: 3, Passed: 2, Selected: 1, Mean: 0.5, Median: 0.5, Best: 0.9},
			},
		},
		{
			"steps sort numerically, missing last, 5 and 5.0 apart",
			[]comfybatch.Scored{
				cand("a", "steps", int64(100), 1, ""),
				cand("b", "steps", int64(20), 2, ""),
				cand("c", "", nil, 3, ""),
				cand("d", "steps", 5.0, 4, ""),
				cand("e", "steps", int64(5), 5, ""),
				cand("f", "steps", int64(8), 6, ""),
			},
			nil,
			"steps",
			[]inspect.CompareRow{
				{Value: int64(5), Count: 1, Passed: 1, Mean: 5, Median: 5, Best: 5},
				{Value: 5.0, Count: 1, Passed: 1, Mean: 4, Median: 4, Best: 4},
				{Value: int64(8), Count: 1, Passed: 1, Mean: 6, Median: 6, Best: 6},
				{Value: int64(20), Count: 1, Passed: 1, Mean: 2, Median: 2, Best: 2},
				{Value: int64(100), Count: 1, Passed: 1, Mean: 1, Median: 1, Best: 1},
				{Value: nil, Count: 1, Passed: 1, Mean: 3, Median: 3, Best: 3},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := inspect.CompareBy(tc.cands, tc.sel, tc.param)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CompareBy(%s) =\n%+v\nwant\n%+v", tc.param, got, tc.want)
			}
		})
	}
}

func TestCompareRowPassRate(t *testing.T) {
	for _, tc := range []struct {
		row  inspect.CompareRow
		want float64
	}{
		{inspect.CompareRow{}, 0},
		{inspect.CompareRow{Count: 4, Passed: 3}, 0.75},
		{inspect.CompareRow{Count: 2, Passed: 2}, 1},
	} {
		if got := tc.row.PassRate(); got != tc.want {
			t.Errorf("%+v.PassRate() = %v, want %v", tc.row, got, tc.want)
		}
	}
}

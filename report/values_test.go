package report_test

import (
	"slices"
	"sort"
	"testing"

	"github.com/comfybatch/comfybatch/report"
)

func TestNaturalLess(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"10", "9", "100", "1.5", "-2"}, []string{"-2", "1.5", "9", "10", "100"}},
		{[]string{"dpmpp_2m", "euler", "dpmpp_10", "dpmpp_2"}, []string{"dpmpp_2", "dpmpp_2m", "dpmpp_10", "euler"}},
		{[]string{"b", "7", "a", "18446744073709551615"}, []string{"7", "18446744073709551615", "a", "b"}},
		{[]string{"img010", "img9", "img0010x"}, []string{"img9", "img010", "img0010x"}},
	} {
		got := slices.Clone(tc.in)
		sort.SliceStable(got, func(i, j int) bool { return report.NaturalLess(got[i], got[j]) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("sorted %v = %v, want %v", tc.in, got, tc.want)
		}
	}
}

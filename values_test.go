package comfybatch

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{uint64(math.MaxUint64), "18446744073709551615"},
		{int64(-3), "-3"},
		{3, "3"},
		{7.5, "7.5"},
		{1e21, "1e+21"},
		{1e-7, "1e-07"},
		{float32(0.1), "0.1"},
		{true, "true"},
		{"euler", "euler"},
		{json.Number("9007199254740993"), "9007199254740993"},
		{nil, ""},
	} {
		if got := FormatValue(tc.in); got != tc.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

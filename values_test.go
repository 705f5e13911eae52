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

func TestDecodeValue(t *testing.T) {
	for _, tc := range []struct {
		raw, kind string
		want      any
	}{
		{`"euler"`, KindString, "euler"},
		{`"a.png"`, KindImage, "a.png"},
		{`18446744073709551615`, KindSeed, uint64(math.MaxUint64)},
		{`7`, KindSeed, uint64(7)},
		{`7`, KindInt, int64(7)},
		{`9223372036854775808`, KindInt, uint64(9223372036854775808)},
		{`8`, KindFloat, 8.0},
		{`7.5`, KindFloat, 7.5},
		{`7.5`, "", 7.5},
		{`12`, "", int64(12)},
		{`true`, KindBool, true},
		{`false`, "", false},
		{`null`, "", nil},
	} {
		got, err := DecodeValue(json.RawMessage(tc.raw), tc.kind)
		if err != nil || got != tc.want {
			t.Errorf("DecodeValue(%s, %q) = %#v, %v; want %#v", tc.raw, tc.kind, got, err, tc.want)
		}
	}
	for _, bad := range []struct{ raw, kind string }{{`-1`, KindSeed}, {`1.5`, KindSeed}, {`"x`, KindString}, {``, ""}, {`abc`, KindFloat}} {
		if v, err := DecodeValue(json.RawMessage(bad.raw), bad.kind); err == nil {
			t.Errorf("DecodeValue(%s, %q) = %#v, want an error", bad.raw, bad.kind, v)
		}
	}
}

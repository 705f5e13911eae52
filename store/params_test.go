package store

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/comfybatch/comfybatch"
)

func TestParamsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out any
	}{
		{"max uint64 seed", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"2^63 seed", uint64(1) << 63, uint64(1) << 63},
		{"small uint64 comes back int64", uint64(42), int64(42)},
		{"negative", int64(-7), int64(-7)},
		{"int", 3, int64(3)},
		{"integral float stays float", 1.0, 1.0},
		{"float", 7.25, 7.25},
		{"tiny float", 1e-300, 1e-300},
		{"big float", 1e21, 1e21},
		{"string", `euler "a"`, `euler "a"`},
		{"bool", true, true},
		{"json.Number", json.Number("18446744073709551615"), uint64(math.MaxUint64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := encodeParams([]comfybatch.Param{{Name: "x", Value: tc.in}})
			if err != nil {
				t.Fatalf("encodeParams(%v) = %v", tc.in, err)
			}
			got, err := decodeParams(text)
			if err != nil {
				t.Fatalf("decodeParams(%s) = %v", text, err)
			}
			want := []comfybatch.Param{{Name: "x", Value: tc.out}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip of %T %v via %s = %#v, want %#v", tc.in, tc.in, text, got, want)
			}
		})
	}
}

func TestParamsRejectUnencodable(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), []int{1}, float32(1)} {
		if text, err := encodeParams([]comfybatch.Param{{Name: "x", Value: v}}); err == nil {
			t.Errorf("encodeParams(%T %v) = %s, want error", v, v, text)
		}
	}
}

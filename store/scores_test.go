package store

import (
	"math"
	"reflect"
	"testing"

	"github.com/comfybatch/comfybatch"
)

func TestScoresColumnRoundTrip(t *testing.T) {
	in := []comfybatch.Score{
		{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": 123.456789012345678, "tiny": 1e-300, "neg": math.Copysign(0, -1)}},
		{Scorer: "phash", Metrics: map[string]float64{}, Values: map[string]string{"hash": "f0f0\"e1"}},
		{Scorer: "clip", Metrics: map[string]float64{}, Err: "clip: 503 \"unavailable\""},
		{Scorer: "odd", Metrics: map[string]float64{"nan": math.NaN(), "up": math.Inf(1), "down": math.Inf(-1)}},
	}
	text, err := encodeScores(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeScores(text)
	if err != nil {
		t.Fatalf("decodeScores(%s): %v", text, err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d scores back, want %d", len(out), len(in))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.Scorer != b.Scorer || a.Err != b.Err || !reflect.DeepEqual(a.Values, b.Values) || len(a.Metrics) != len(b.Metrics) {
			t.Errorf("score %d = %+v, want %+v", i, b, a)
		}
		for k, v := range a.Metrics {
			w := b.Metrics[k]
			if math.Float64bits(v) != math.Float64bits(w) && !(math.IsNaN(v) && math.IsNaN(w)) {
				t.Errorf("%s.%s = %v, want %v exactly", a.Scorer, k, w, v)
			}
		}
	}
	if none, err := decodeScores("[]"); err != nil || none != nil {
		t.Errorf("decodeScores([]) = %v, %v; want nil", none, err)
	}
}

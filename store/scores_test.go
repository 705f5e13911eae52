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

// realisticScores is what a sharpness + size + blank + phash + clip
// pipeline records for one candidate.
var realisticScores = []comfybatch.Score{
	{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": 1234.5678901234}},
	{Scorer: "size", Metrics: map[string]float64{"ok": 1, "width": 512, "height": 512, "bytes": 402113}},
	{Scorer: "blank", Metrics: map[string]float64{"std": 61.27340123, "colors": 3712}},
	{Scorer: "phash", Metrics: map[string]float64{}, Values: map[string]string{"hash": "c3a1f00e9b7d2465"}},
	{Scorer: "clip", Metrics: map[string]float64{"similarity": 0.31234567, "aesthetic": 5.8123}},
}

// sameScores reports whether two decoded columns are equal, NaN equal to
// NaN and -0 distinct from +0.
func sameScores(a, b []comfybatch.Score) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Scorer != y.Scorer || x.Err != y.Err || !reflect.DeepEqual(x.Values, y.Values) ||
			len(x.Metrics) != len(y.Metrics) || (x.Metrics == nil) != (y.Metrics == nil) {
			return false
		}
		for k, v := range x.Metrics {
			w, ok := y.Metrics[k]
			if !ok || (math.Float64bits(v) != math.Float64bits(w) && !(math.IsNaN(v) && math.IsNaN(w))) {
				return false
			}
		}
	}
	return true
}

// TestFastScores: the hand-written decoder reads what encodeScores and
// migration 0003 wrote exactly as encoding/json does, and declines what
// it does not handle, so that encoding/json reads it.
func TestFastScores(t *testing.T) {
	enc, err := encodeScores(realisticScores)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		text string
		fast bool // the fast path takes it
	}{
		{enc, true},
		{`[{"scorer":"s","metrics":{"a":1.5},"values":{},"error":null}]`, true}, // as SQLite's json_object wrote it
		{`[{"scorer":"s","metrics":{"a":-0,"b":1E+3,"c":"NaN","d":"-Inf"},"error":"boom"}]`, true},
		{`[{"scorer":"s","metrics":null,"values":null}]`, true},
		{`[{"scorer":"s","metrics":{"a":1,"a":2}}]`, true}, // the last one wins, as in encoding/json
		{`[{"scorer":"s\u00e9","metrics":{}}]`, false},     // an escape
		{`[ {"scorer":"s","metrics":{}}]`, false},          // whitespace
		{`[{"Scorer":"s","metrics":{}}]`, false},           // encoding/json matches keys in any case
		{`[{"scorer":"s","metrics":{},"extra":1}]`, false},
		{`[{"scorer":"s","scorer":"t","metrics":{}}]`, false},
		{`[{"scorer":"s","metrics":{"a":01}}]`, false}, // not JSON
		{`[{"scorer":"s","metrics":{"a":1.}}]`, false},
		{`[{"scorer":"s","metrics":{"a":1e400}}]`, false}, // out of range
		{`[{"scorer":"s","metrics":{"a":"Inf"}}]`, false},
		{`[{"scorer":"s","metrics":{}},]`, false},
		{`[{"scorer":"s","metrics":{}}]x`, false},
	} {
		fast, ok := fastScores(tc.text)
		if ok != tc.fast {
			t.Errorf("fastScores(%s) took it: %v, want %v", tc.text, ok, tc.fast)
			continue
		}
		slow, err := slowScores(tc.text)
		if ok && (err != nil || !sameScores(fast, slow)) {
			t.Errorf("fastScores(%s) = %+v, encoding/json = %+v, %v", tc.text, fast, slow, err)
		}
	}
}

// FuzzFastScores: whenever the fast decoder takes a column, encoding/json
// reads the same from it.
func FuzzFastScores(f *testing.F) {
	enc, _ := encodeScores(realisticScores)
	f.Add(enc)
	f.Add(`[{"scorer":"s","metrics":{"a":1.5},"values":{},"error":null}]`)
	f.Add(`[{"scorer":"s","metrics":{"a":-0.0e-5,"c":"NaN"},"values":{"hash":"ff"},"error":"x"}]`)
	f.Fuzz(func(t *testing.T, text string) {
		fast, ok := fastScores(text)
		if !ok {
			return
		}
		slow, err := slowScores(text)
		if err != nil || !sameScores(fast, slow) {
			t.Fatalf("fastScores(%q) = %+v, encoding/json = %+v, %v", text, fast, slow, err)
		}
	})
}

// BenchmarkDecodeScores reads realisticScores' column with the
// hand-written decoder and with encoding/json.
func BenchmarkDecodeScores(b *testing.B) {
	text, err := encodeScores(realisticScores)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name string
		fn   func(string) ([]comfybatch.Score, error)
	}{{"fast", decodeScores}, {"encoding-json", slowScores}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.fn(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

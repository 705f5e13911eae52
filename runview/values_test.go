package runview_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

func TestCompareValuesSortsNaturally(t *testing.T) {
	want := []any{
		int64(-3),
		int64(2),
		float64(2.5),
		int64(8),
		int64(20),
		float64(20), // an integer sorts before the equal float
		int64(100),
		int64(math.MaxInt64),
		uint64(math.MaxInt64) + 1,
		uint64(math.MaxUint64),
		false,
		true,
		"dpmpp_2m",
		"dpmpp_2m_sde",
		"euler",
		"euler_a",
		"lora_v2",
		"lora_v10",
		nil,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		got := slices.Clone(want)
		rng.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortStableFunc(got, runview.CompareValues)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sorted = %v, want %v", got, want)
		}
	}
}

func TestCompareValuesBigIntegers(t *testing.T) {
	// Both round to the same float64; they must still differ.
	a, b := uint64(1)<<63+1, uint64(1)<<63+2
	if got := runview.CompareValues(a, b); got != -1 {
		t.Errorf("CompareValues(%d, %d) = %d, want -1", a, b, got)
	}
	if got := runview.CompareValues(int64(-1), uint64(0)); got != -1 {
		t.Errorf("CompareValues(int64(-1), uint64(0)) = %d, want -1", got)
	}
	if got := runview.CompareValues(float64(1<<63), uint64(1)<<63+1); got != -1 {
		t.Errorf("CompareValues(2^63 as float, 2^63+1) = %d, want -1", got)
	}
}

func TestCompareNatural(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"a", "a", 0},
		{"a", "b", -1},
		{"a2", "a10", -1},
		{"a10", "a2", 1},
		{"x9y", "x10a", -1},
		{"2", "10", -1},
		{"07", "7", -1}, // same number: byte order decides
		{"7", "07", 1},
		{"abc", "ab", 1},
		{"ab", "ab1", -1},
		{"v1.10", "v1.9", 1},
		{"", "a", -1},
	} {
		if got := runview.CompareNatural(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareNatural(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "-"},
		{"euler", "euler"},
		{true, "true"},
		{int64(-20), "-20"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{7.5, "7.5"},
		{1e-7, "1e-07"},
		{3, "3"},
	} {
		if got := runview.FormatValue(tc.in); got != tc.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCondMatches(t *testing.T) {
	for _, tc := range []struct {
		cond string
		v    any
		want bool
	}{
		{"cfg=7.5", 7.5, true},
		{"cfg=7.50", 7.5, true},
		{"cfg=7.5", 7.0, false},
		{"cfg=7", 7.0, true},
		{"steps=20", int64(20), true},
		{"steps=20.0", int64(20), true},
		{"steps=20.5", int64(20), false},
		{"seed=18446744073709551615", uint64(math.MaxUint64), true},
		{"seed=18446744073709551614", uint64(math.MaxUint64), false}, // no float64 rounding
		{"sampler_name=euler", "euler", true},
		{"sampler_name=Euler", "euler", false},
		{"prompt=a=b", "a=b", true},
		{"hires=true", true, true},
		{"x=1", nil, false},
	} {
		c, err := runview.ParseCond(tc.cond)
		if err != nil {
			t.Fatalf("ParseCond(%q) = %v", tc.cond, err)
		}
		if got := c.Matches(tc.v); got != tc.want {
			t.Errorf("%q.Matches(%#v) = %v, want %v", tc.cond, tc.v, got, tc.want)
		}
	}
	for _, bad := range []string{"cfg", "=7", " =1"} {
		if _, err := runview.ParseCond(bad); !errors.Is(err, comfybatch.ErrInvalid) {
			t.Errorf("ParseCond(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSplitParams(t *testing.T) {
	p := func(kv ...any) []comfybatch.Param {
		var out []comfybatch.Param
		for i := 0; i < len(kv); i += 2 {
			out = append(out, comfybatch.Param{Name: kv[i].(string), Value: kv[i+1]})
		}
		return out
	}
	lists := [][]comfybatch.Param{
		p("prompt", "a fox", "seed", uint64(1), "cfg", 7.0, "steps", int64(20)),
		p("prompt", "a fox", "seed", uint64(2), "cfg", 7.0, "steps", int64(20)),
		p("prompt", "a fox", "seed", uint64(3), "cfg", 7.0), // no steps: it varies
		p("prompt", "a fox", "seed", uint64(3), "cfg", 7.0, "steps", int64(20), "hires", true),
	}
	swept, fixed := runview.SplitParams(slices.Values(lists))
	if want := []string{"seed", "steps", "hires"}; !slices.Equal(swept, want) {
		t.Errorf("swept = %v, want %v", swept, want)
	}
	if want := p("prompt", "a fox", "cfg", 7.0); !reflect.DeepEqual(fixed, want) {
		t.Errorf("fixed = %v, want %v", fixed, want)
	}
	// 7 and 7.0 are different values.
	swept, _ = runview.SplitParams(slices.Values([][]comfybatch.Param{p("cfg", int64(7)), p("cfg", 7.0)}))
	if !slices.Equal(swept, []string{"cfg"}) {
		t.Errorf("swept over 7 and 7.0 = %v, want [cfg]", swept)
	}
}

func TestFormatMetric(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    float64
		want string
	}{
		{"size.bytes", 650800, "650.8 kB"},
		{"bytes", 999, "999 B"},
		{"bytes", 3_400_000, "3.4 MB"},
		{"bytes", 999_960, "1.0 MB"},
		{"width", 512, "512"},
		{"laplacian_var", 123.456, "123.5"},
		{"similarity", 0.314159, "0.3142"},
		{"similarity", -0.05, "-0.05"},
		{"x", 1.5e9, "1500000000"},
		{"x", 1234567890.5, "1.235e+09"},
		{"x", 0.00001234, "1.234e-05"},
		{"x", 2.5, "2.5"},
		{"x", math.NaN(), "NaN"},
	} {
		if got := runview.FormatMetric(tc.name, tc.v); got != tc.want {
			t.Errorf("FormatMetric(%q, %v) = %q, want %q", tc.name, tc.v, got, tc.want)
		}
	}
}

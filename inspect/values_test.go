package inspect_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/comfybatch/comfybatch/inspect"
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
		slices.SortStableFunc(got, inspect.CompareValues)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sorted = %v, want %v", got, want)
		}
	}
}

func TestCompareValuesBigIntegers(t *testing.T) {
	// Both round to the same float64; they must still differ.
	a, b := uint64(1)<<63+1, uint64(1)<<63+2
	if got := inspect.CompareValues(a, b); got != -1 {
		t.Errorf("CompareValues(%d, %d) = %d, want -1", a, b, got)
	}
	if got := inspect.CompareValues(int64(-1), uint64(0)); got != -1 {
		t.Errorf("CompareValues(int64(-1), uint64(0)) = %d, want -1", got)
	}
	if got := inspect.CompareValues(float64(1<<63), uint64(1)<<63+1); got != -1 {
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
		if got := inspect.CompareNatural(tc.a, tc.b); got != tc.want {
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
		if got := inspect.FormatValue(tc.in); got != tc.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

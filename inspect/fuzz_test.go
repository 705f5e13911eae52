package inspect_test

import (
	"testing"

	"github.com/comfybatch/comfybatch/inspect"
)

// FuzzCompareNatural checks that CompareNatural is a total order on the
// strings it sees: reflexive, antisymmetric, zero only for equal strings,
// and transitive on the triple.
func FuzzCompareNatural(f *testing.F) {
	for _, s := range [][3]string{
		{"lora_v2", "lora_v10", "lora_v010"},
		{"dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m"},
		{"07", "7", "007a"},
		{"", "0", "00"},
		{"x9y", "x10a", "x9"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if got := inspect.CompareNatural(a, a); got != 0 {
			t.Fatalf("CompareNatural(%q, itself) = %d", a, got)
		}
		ab, ba := inspect.CompareNatural(a, b), inspect.CompareNatural(b, a)
		if ab != -ba {
			t.Fatalf("CompareNatural(%q, %q) = %d but reversed = %d", a, b, ab, ba)
		}
		if ab == 0 && a != b {
			t.Fatalf("CompareNatural(%q, %q) = 0 for different strings", a, b)
		}
		bc, ac := inspect.CompareNatural(b, c), inspect.CompareNatural(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("%q <= %q <= %q but CompareNatural(%q, %q) = %d", a, b, c, a, c, ac)
		}
	})
}

// FuzzClassify checks that every non-empty reason gets a kind, and only
// those.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"gate sharpness.laplacian_var: 12 < min 50", "missing metric clip.similarity",
		"scoring error: clip: timeout", "near-duplicate of job 3", "other", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reason string) {
		kind, _ := inspect.Classify(reason)
		if (kind == "") != (reason == "") {
			t.Fatalf("Classify(%q) kind = %q", reason, kind)
		}
	})
}

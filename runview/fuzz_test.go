package runview_test

import (
	"testing"

	"github.com/comfybatch/comfybatch/runview"
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
		if got := runview.CompareNatural(a, a); got != 0 {
			t.Fatalf("CompareNatural(%q, itself) = %d", a, got)
		}
		ab, ba := runview.CompareNatural(a, b), runview.CompareNatural(b, a)
		if ab != -ba {
			t.Fatalf("CompareNatural(%q, %q) = %d but reversed = %d", a, b, ab, ba)
		}
		if ab == 0 && a != b {
			t.Fatalf("CompareNatural(%q, %q) = 0 for different strings", a, b)
		}
		bc, ac := runview.CompareNatural(b, c), runview.CompareNatural(a, c)
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("%q <= %q <= %q but CompareNatural(%q, %q) = %d", a, b, c, a, c, ac)
		}
	})
}

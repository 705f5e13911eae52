package inspect_test

import (
	"testing"

	"github.com/comfybatch/comfybatch/inspect"
)

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

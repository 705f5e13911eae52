package export

import "testing"

// TestNodeSlug: node ids become key parts without dots, and distinct ids
// stay distinct.
func TestNodeSlug(t *testing.T) {
	seen := map[string]string{}
	for id, want := range map[string]string{
		"9": "9", "12": "12", "12:3": "12_3a3", "12_3a3": "12_5f3a3", "a.b": "a_2eb", "": "_", "Save": "Save",
	} {
		got := nodeSlug(id)
		if got != want {
			t.Errorf("nodeSlug(%q) = %q, want %q", id, got, want)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("nodeSlug(%q) = nodeSlug(%q) = %q", id, other, got)
		}
		seen[got] = id
	}
}

package testmanifest

import (
	"bytes"
	"fmt"
	"io/fs"

	"github.com/comfybatch/comfybatch/manifests/examples"
)

// Small returns the demo manifest's text with seeds per group and image
// sizes cut down: 2 groups × seeds jobs of size×size pixels.
func Small(seeds, size int) ([]byte, error) {
	text, err := fs.ReadFile(examples.FS, "demo.yaml")
	if err != nil {
		return nil, err
	}
	edits := []struct{ old, new string }{
		{"seed: {from: 1, to: 24}", fmt.Sprintf("seed: {from: 1, to: %d}\n  width: [%d]\n  height: [%d]", seeds, size, size)},
		{"width: 512\n    height: 512", fmt.Sprintf("width: %d\n    height: %d", size, size)},
		{"name: demo", "name: small"},
	}
	for _, e := range edits {
		if !bytes.Contains(text, []byte(e.old)) {
			return nil, fmt.Errorf("demo.yaml no longer contains %q; update testmanifest", e.old)
		}
		text = bytes.Replace(text, []byte(e.old), []byte(e.new), 1)
	}
	return text, nil
}

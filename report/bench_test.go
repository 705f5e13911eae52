package report_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/report/reporttest"
)

// BenchmarkWriteHTMLFile measures a report of 7 candidates of 512×384,
// which is mostly decoding and resizing for thumbnails.
func BenchmarkWriteHTMLFile(b *testing.B) {
	run := reporttest.RunSized(b, 512, 384)
	dir := filepath.Join(b.TempDir(), "report")
	for b.Loop() {
		if _, err := report.WriteHTMLFile(b.Context(), dir, run, report.HTMLOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*7)/b.Elapsed().Seconds(), "candidates/s")
}

// BenchmarkGrid measures a 3×2 grid of 512×384 images in 256-pixel cells.
func BenchmarkGrid(b *testing.B) {
	run := reporttest.RunSized(b, 512, 384)
	for b.Loop() {
		if err := report.WriteGridPNG(b.Context(), io.Discard, run, report.GridOptions{X: "seed", Y: "sampler_name"}); err != nil {
			b.Fatal(err)
		}
	}
}

package report_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
)

// BenchmarkWrite10k measures `batch report` on a run of 10 groups × 1000
// candidates whose thumbnails the run made: reading the run, placing
// 10,000 thumbnails (hard links) and the selected images, and writing the
// page. No image is decoded.
func BenchmarkWrite10k(b *testing.B) {
	run := runviewtest.BuildWith(b, runviewtest.Options{Specs: runviewtest.Many(10, 1000), Width: 96, Height: 72}).Run
	dir := filepath.Join(run.OutputDir, "report")
	b.ResetTimer()
	for b.Loop() {
		if _, err := report.Write(b.Context(), dir, run, report.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10_000)/b.Elapsed().Seconds(), "candidates/s")
}

// BenchmarkWriteWithoutThumbs measures a report of 7 candidates of 512×384
// from a run recorded before thumbnails were made: decoding and resizing.
func BenchmarkWriteWithoutThumbs(b *testing.B) {
	run := runviewtest.BuildWith(b, runviewtest.Options{Width: 512, Height: 384, NoThumbs: true}).Run
	for b.Loop() {
		if _, err := report.Write(b.Context(), b.TempDir(), run, report.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*7)/b.Elapsed().Seconds(), "candidates/s")
}

// BenchmarkGrid measures a 3×2 grid of 512×384 images in 256-pixel cells.
func BenchmarkGrid(b *testing.B) {
	run := runviewtest.BuildWith(b, runviewtest.Options{Width: 512, Height: 384}).Run
	for b.Loop() {
		if err := report.WriteGridPNG(b.Context(), io.Discard, run, report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait"}); err != nil {
			b.Fatal(err)
		}
	}
}

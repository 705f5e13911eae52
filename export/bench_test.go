package export_test

import (
	"path/filepath"
	"testing"

	"github.com/comfybatch/comfybatch/export"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
)

// BenchmarkExport measures each format on the 7-candidate fixture with
// 512×384 images.
func BenchmarkExport(b *testing.B) {
	run := runviewtest.BuildWith(b, runviewtest.Options{Width: 512, Height: 384}).Run
	for _, f := range []export.Format{export.ImageFolder, export.WebDataset, export.JSONL} {
		b.Run(string(f), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "out")
			var st export.Stats
			for b.Loop() {
				var err error
				if st, err = export.Export(b.Context(), run, export.Options{Format: f, Dir: dir, ShardSize: 4}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*st.Successes)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

package score

import (
	"fmt"
	"testing"
)

// BenchmarkSharpness times Sharpness at full size (no reduction, as the
// OpenCV comparison in bench/ does) and with the default reduction to 512,
// on decoded NRGBA scenes.
func BenchmarkSharpness(b *testing.B) {
	for _, n := range []int{512, 1024, 2048} {
		img := photoLike(n)
		for i, long := range []int{n, DefaultLongSide} {
			if i == 1 && long == n {
				continue
			}
			b.Run(fmt.Sprintf("%d²-to-%d", n, long), func(b *testing.B) {
				for b.Loop() {
					sharpness(img, long)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*n), "ns/pixel")
			})
		}
	}
}

// BenchmarkSharpnessStages times the two per-row stages on a 1024² scene.
func BenchmarkSharpnessStages(b *testing.B) {
	const n = 1024
	img := photoLike(n)
	w, h, row := lumaRowsOf(img)
	rows := make([][]byte, h)
	for y := range rows {
		rows[y] = make([]byte, 2*w)
		row(y, rows[y])
	}
	b.Run("luma", func(b *testing.B) {
		dst := make([]byte, 2*w)
		for b.Loop() {
			for y := range h {
				row(y, dst)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*n), "ns/pixel")
	})
	b.Run("laplacian", func(b *testing.B) {
		for b.Loop() {
			var a lapSums
			for y := 1; y < h-1; y++ {
				a.addRow(rows[y-1], rows[y], rows[y+1], w, y == 1, y == h-2)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*n), "ns/pixel")
	})
}

package score

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// photoLike is a scene with mild noise: compresses like a render, not like
// pure noise, so PNG decoding costs what it does in a real run.
func photoLike(n int) *image.NRGBA {
	img := sceneImage(n, n, uint64(n))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		if i%4 != 3 {
			img.Pix[i] = byte(min(255, max(0, int(img.Pix[i])+r.IntN(9)-4)))
		}
	}
	return img
}

// BenchmarkLocalScorers measures the CPU-bound part of scoring one
// candidate as the pipeline does it: decode once, then sharpness, size,
// blank and phash on the decoded pixels.
func BenchmarkLocalScorers(b *testing.B) {
	for _, n := range []int{512, 1024} {
		data := encodePNG(b, photoLike(n))
		b.Run(fmt.Sprintf("%d²", n), func(b *testing.B) {
			scorers := []interface {
				Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error)
			}{&Sharpness{}, &Size{Width: n, Height: n}, &Blank{}, &Phash{}}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				px, err := Decode(data, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				c := comfybatch.Candidate{Image: data, Pixels: px}
				for _, s := range scorers {
					if _, err := s.Score(b.Context(), c); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "candidates/s")
		})
	}
}

// BenchmarkScorer measures each local scorer alone on decoded 1024² pixels.
func BenchmarkScorer(b *testing.B) {
	data := encodePNG(b, photoLike(1024))
	px, err := Decode(data, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	c := comfybatch.Candidate{Image: data, Pixels: px}
	for _, s := range []struct {
		name string
		s    interface {
			Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error)
		}
	}{
		{"decode", nil},
		{"sharpness", &Sharpness{}},
		{"sharpness-fullres", &Sharpness{LongSide: 1024}},
		{"size", &Size{}},
		{"blank", &Blank{}},
		{"phash", &Phash{}},
	} {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				if s.s == nil {
					if _, err := Decode(data, Limits{}); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := s.s.Score(b.Context(), c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "candidates/s")
		})
	}
}

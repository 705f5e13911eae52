package score

import (
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/cputime"
)

// photoLike is the simulator's picture of a sharp n×n scene (gradients,
// textured shapes, mild grain): natural-looking, so it compresses like a
// real output. comfyPNG encodes it as ComfyUI's SaveImage does (Pillow's
// row filters, zlib level 4), so decoding costs what it does on the files
// a real run downloads.
func photoLike(n int) *image.NRGBA {
	return comfytest.Render(sha256.Sum256([]byte("score benchmark scene")), n, n, 20, false)
}

func comfyPNG(b *testing.B, img *image.NRGBA) []byte {
	b.Helper()
	data, err := comfytest.EncodePNG(img, [][2]string{{"prompt", "{}"}})
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkLocalScorers measures the CPU-bound part of scoring one
// candidate: decode once, then sharpness, size, blank and phash. "frame"
// is what the pipeline does (a Decoder builds only what the scorers read,
// reusing its memory once the Frame is released); "full" decodes the
// whole colour image first, as for a scorer that reads arbitrary pixels.
func BenchmarkLocalScorers(b *testing.B) {
	scorers := []interface {
		Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error)
		Needs() Need
	}{&Sharpness{}, &Size{}, &Blank{}, &Phash{}}
	var need Need
	for _, s := range scorers {
		need = need.Union(s.Needs())
	}
	for _, n := range []int{512, 1024} {
		data := comfyPNG(b, photoLike(n))
		for _, mode := range []string{"frame", "full"} {
			b.Run(fmt.Sprintf("%s/%d²", mode, n), func(b *testing.B) {
				var dec Decoder
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					var px image.Image
					var err error
					if mode == "frame" {
						px, err = dec.DecodeFrame(data, Limits{}, need)
					} else {
						px, err = Decode(data, Limits{})
					}
					if err != nil {
						b.Fatal(err)
					}
					c := comfybatch.Candidate{Image: data, Pixels: px}
					for _, s := range scorers {
						if _, err := s.Score(b.Context(), c); err != nil {
							b.Fatal(err)
						}
					}
					if f, ok := px.(*Frame); ok {
						f.Release()
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "candidates/s")
			})
		}
	}
}

// BenchmarkScorer measures each local scorer alone on decoded 1024² pixels.
func BenchmarkScorer(b *testing.B) {
	data := comfyPNG(b, photoLike(1024))
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

// BenchmarkDecodeFrame times DecodeFrame on a 512² ComfyUI-like PNG for
// each form it can build, alone and all together ("rows" is the decode
// alone); BenchmarkLocalScorers compares the whole with Decode and the
// scorers' own passes.
func BenchmarkDecodeFrame(b *testing.B) {
	data := comfyPNG(b, photoLike(512))
	for _, tc := range []struct {
		name string
		need Need
	}{
		{"rows", Need{}},
		{"luma", Need{Luma: true}},
		{"blank", Need{Blank: true}},
		{"hash", Need{Hash: true}},
		{"thumb", Need{Thumb: 256}},
		{"all", Need{Luma: true, Blank: true, Hash: true, Thumb: 256}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cpu := cputime.Now()
			for b.Loop() {
				if _, err := DecodeFrame(data, Limits{}, tc.need); err != nil {
					b.Fatal(err)
				}
			}
			cputime.PerOp(b, cpu)
		})
	}
}

package score

import (
	"bytes"
	"image"
	"image/color"
	"math"
	"slices"
	"testing"

	"github.com/disintegration/imaging"
)

func TestBlank(t *testing.T) {
	// Two colours of luma 100 and 110 in equal halves: std exactly 5.
	halves := imaging.New(40, 40, color.NRGBA{100, 100, 100, 255})
	for y := range 20 {
		for x := range 40 {
			halves.SetNRGBA(x, y, color.NRGBA{110, 110, 110, 255})
		}
	}
	tests := []struct {
		name       string
		b          Blank
		img        image.Image
		std        float64
		colors     float64
		ok         float64
		wantReason string
	}{
		{"black", Blank{}, imaging.New(64, 64, color.NRGBA{0, 0, 0, 255}), 0, 1, 0, "luma std 0.00 below 2"},
		{"two tones pass std, fail colours", Blank{}, halves, 5, 2, 0, "2 distinct colours, want at least 16"},
		{"two tones, strict std", Blank{MinStd: 6, MinColors: 2}, halves, 5, 2, 0, "luma std 5.00 below 6"},
		{"two tones, lenient", Blank{MinStd: 1, MinColors: 2}, halves, 5, 2, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := tt.b.Score(t.Context(), candidate(tt.img, nil))
			if err != nil {
				t.Fatal(err)
			}
			m := sc.Metrics
			if sc.Scorer != "blank" || math.Abs(m["luma_std"]-tt.std) > 1e-6 || m["distinct_colors"] != tt.colors || m["ok"] != tt.ok {
				t.Errorf("Blank%+v = %+v; want std %v colours %v ok %v", tt.b, sc, tt.std, tt.colors, tt.ok)
			}
			if sc.Values["reason"] != tt.wantReason {
				t.Errorf("reason %q, want %q", sc.Values["reason"], tt.wantReason)
			}
		})
	}
	sc, err := (&Blank{}).Score(t.Context(), candidate(sceneImage(128, 128, 3), nil))
	if err != nil || sc.Metrics["ok"] != 1 || sc.Metrics["luma_std"] < 10 || sc.Metrics["distinct_colors"] < 100 {
		t.Errorf("Blank on a scene = %+v, %v; want ok with std >= 10 and >= 100 colours", sc, err)
	}
	// A paletted (non-RGBA) image takes the conversion path.
	if sc, err := (&Blank{}).Score(t.Context(), candidate(toPaletted(randomImage(64, 64, 1)), nil)); err != nil || sc.Metrics["distinct_colors"] < 100 {
		t.Errorf("Blank on paletted noise = %+v, %v; want >= 100 colours", sc, err)
	}
}

// toRGB returns img's pixels as RGB rows, 3 bytes a pixel, as a decoded
// ComfyUI PNG has them.
func toRGB(img *image.NRGBA) []byte {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	out := make([]byte, 0, 3*w*h)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			out = append(out, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
	return out
}

// TestBlankRowLoopsAgree: the loop for RGB rows with Y16 gives what the
// loop for any pixel size gives, value for value: luma, Y16, sums and
// colours.
func TestBlankRowLoopsAgree(t *testing.T) {
	for _, img := range []*image.NRGBA{sceneImage(97, 31, 5), randomImage(64, 9, 2), imaging.New(7, 3, color.NRGBA{255, 255, 255, 255})} {
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		rgb := toRGB(img)
		fast, slow := newBlankSums(), newBlankSums()
		for y := range h {
			row := rgb[3*w*y : 3*w*(y+1)]
			k1, k2 := make([]int32, w), make([]int32, w)
			y1, y2 := make([]byte, 2*w), make([]byte, 2*w)
			fast.addRow(k1, y1, row, 3)
			slow.addAnyRow(k2, y2, row, 3)
			if !slices.Equal(k1, k2) || !bytes.Equal(y1, y2) {
				t.Fatalf("%dx%d row %d: luma %v / %v, Y16 %v / %v", w, h, y, k1[:4], k2[:4], y1[:8], y2[:8])
			}
		}
		s1, c1 := fast.stats()
		s2, c2 := slow.stats()
		if s1 != s2 || c1 != c2 || *fast.seen != *slow.seen {
			t.Errorf("%dx%d: std %v, %d colours; want %v, %d", w, h, s1, c1, s2, c2)
		}
	}
}

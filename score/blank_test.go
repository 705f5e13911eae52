package score

import (
	"image"
	"image/color"
	"math"
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

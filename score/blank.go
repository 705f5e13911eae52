package score

import (
	"context"
	"fmt"
	"image"
	"math"
	"math/bits"

	"github.com/disintegration/imaging"

	"github.com/comfybatch/comfybatch"
)

// Blank flags images with almost nothing in them: the black frame a safety
// filter returns, a flat colour, a washed-out render. Metrics: "luma_std"
// (standard deviation of Rec.601 luma, 0..255), "distinct_colors" (colours
// counted at 5 bits per channel, so at most 32768; sensor-like noise does
// not inflate it) and "ok" (1 when luma_std >= MinStd and distinct_colors
// >= MinColors). When not ok, Values["reason"] says which check failed.
type Blank struct {
	// Name goes into Score.Scorer; default "blank".
	Name string
	// MinStd is the least luma standard deviation of a real image;
	// default 2.
	MinStd float64
	// MinColors is the least number of distinct colours; default 16.
	MinColors int
}

// Blank defaults.
const (
	DefaultMinStd    = 2.0
	DefaultMinColors = 16
)

// Score implements the pipeline's Scorer.
func (s *Blank) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	name := nameOr(s.Name, "blank")
	img, err := pixels(c)
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: %w", name, err)
	}
	minStd, minColors := s.MinStd, s.MinColors
	if minStd <= 0 {
		minStd = DefaultMinStd
	}
	if minColors <= 0 {
		minColors = DefaultMinColors
	}
	std, colors := blankStats(img)
	sc := comfybatch.Score{
		Scorer:  name,
		Metrics: map[string]float64{"luma_std": std, "distinct_colors": float64(colors), "ok": 1},
	}
	var reason string
	switch {
	case std < minStd:
		reason = fmt.Sprintf("luma std %.2f below %g", std, minStd)
	case colors < minColors:
		reason = fmt.Sprintf("%d distinct colours, want at least %d", colors, minColors)
	}
	if reason != "" {
		sc.Metrics["ok"] = 0
		sc.Values = map[string]string{"reason": reason}
	}
	return sc, nil
}

// blankStats returns the luma standard deviation and the number of distinct
// 15-bit colours in one pass over the pixels.
func blankStats(img image.Image) (std float64, colors int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return 0, 0
	}
	var pix []byte
	var stride int
	switch m := img.(type) {
	case *image.NRGBA:
		pix, stride = m.Pix, m.Stride
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	default:
		n := imaging.Clone(img)
		pix, stride = n.Pix, n.Stride
	}
	var seen [1 << 15 / 64]uint64
	var sum, sumSq float64
	for y := range h {
		row := pix[y*stride : y*stride+4*w]
		var rs, rq int64 // (255000²)·width stays far below 2^63
		for x := 0; x < len(row); x += 4 {
			r, g, bl := row[x], row[x+1], row[x+2]
			l := 299*int64(r) + 587*int64(g) + 114*int64(bl)
			rs += l
			rq += l * l
			q := int(r>>3)<<10 | int(g>>3)<<5 | int(bl>>3)
			seen[q>>6] |= 1 << (q & 63)
		}
		sum += float64(rs)
		sumSq += float64(rq)
	}
	n := float64(w * h)
	mean := sum / n
	v := sumSq/n - mean*mean
	if v < 0 {
		v = 0
	}
	for _, word := range seen {
		colors += bits.OnesCount64(word)
	}
	return math.Sqrt(v) / 1000, colors
}

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
	minStd, minColors := s.MinStd, s.MinColors
	if minStd <= 0 {
		minStd = DefaultMinStd
	}
	if minColors <= 0 {
		minColors = DefaultMinColors
	}
	var std float64
	var colors int
	if f, ok := c.Pixels.(*Frame); ok && f.blank != nil {
		std, colors = f.blank.stats()
	} else {
		img, err := pixels(c)
		if err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: %w", name, err)
		}
		std, colors = blankStats(img)
	}
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
	var s blankSums
	k := make([]int32, w)
	for y := range h {
		row := pix[y*stride : y*stride+4*w]
		lumaKRow(k, row, 4)
		s.addRow(k, row, 4)
	}
	return s.stats()
}

// blankSums accumulates Blank's statistics row by row: the sum and sum of
// squares of Rec.601 luma ×1000 (lumaKRow's values) and the set of 15-bit
// colours seen. Decoding (DecodeFrame) and blankStats feed it the same
// values, so both give the same result.
type blankSums struct {
	sum, sumSq float64
	n          int64
	seen       [1 << 15 / 64]uint64
}

// addRow adds one row: k holds the luma ×1000 of the pixels of pix, which
// has bpp bytes a pixel, red, green and blue first.
func (s *blankSums) addRow(k []int32, pix []byte, bpp int) {
	var rs, rq int64 // (255000²)·width stays far below 2^63
	for _, l := range k {
		l := int64(l)
		rs += l
		rq += l * l
	}
	pix = pix[:bpp*len(k)]
	for x := 0; x+3 <= len(pix); x += bpp {
		p := pix[x : x+3 : x+3]
		q := int(p[0]>>3)<<10 | int(p[1]>>3)<<5 | int(p[2]>>3)
		s.seen[q>>6] |= 1 << (q & 63)
	}
	s.sum += float64(rs)
	s.sumSq += float64(rq)
	s.n += int64(len(k))
}

// stats returns the luma standard deviation (0..255) and the number of
// distinct colours.
func (s *blankSums) stats() (std float64, colors int) {
	if s.n == 0 {
		return 0, 0
	}
	n := float64(s.n)
	mean := s.sum / n
	v := s.sumSq/n - mean*mean
	if v < 0 {
		v = 0
	}
	for _, word := range s.seen {
		colors += bits.OnesCount64(word)
	}
	return math.Sqrt(v) / 1000, colors
}

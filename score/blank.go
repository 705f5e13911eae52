package score

import (
	"context"
	"encoding/binary"
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
	s := newBlankSums()
	k := make([]int32, w)
	for y := range h {
		s.addRow(k, nil, pix[y*stride:y*stride+4*w], 4)
	}
	return s.stats()
}

// blankSums accumulates Blank's statistics row by row: the sum and sum of
// squares of Rec.601 luma ×1000 (lumaKRow's values) and the set of 15-bit
// colours seen. Decoding (DecodeFrame) and blankStats feed it rows of
// the same pixels, so both give the same result.
type blankSums struct {
	sum, sumSq float64
	n          int64
	// seen has a byte per colour, set to 1 when seen: a store with no
	// load, where a bit set would make each pixel wait for the last
	// one's read-modify-write of the same word (neighbours mostly share
	// a colour at 5 bits a channel).
	seen *[1 << 15]byte
}

func newBlankSums() *blankSums { return &blankSums{seen: new([1 << 15]byte)} }

// addRow adds one row of pixels, bpp (3 or 4) bytes each with red, green
// and blue first, and writes their luma ×1000 (lumaKRow's values) to k,
// for other readers of the row. When y16 is not nil it also receives the
// row's Y16 luma (lumaRGBRow's values), for Sharpness.
func (s *blankSums) addRow(k []int32, y16 []byte, pix []byte, bpp int) {
	var rs, rq int64 // (255000²)·width stays far below 2^63
	seen := s.seen
	pix = pix[:bpp*len(k)]
	if y16 != nil {
		y16 = y16[:2*len(k)]
	}
	for x := range k {
		p := pix[bpp*x : bpp*x+3 : bpp*x+3]
		t := pixelTerms[0][p[0]] + pixelTerms[1][p[1]] + pixelTerms[2][p[2]]
		l := int64(t >> termK & (1<<18 - 1))
		k[x] = int32(l)
		rs += l
		rq += l * l
		seen[t&(1<<15-1)] = 1
		if y16 != nil {
			binary.LittleEndian.PutUint16(y16[2*x:2*x+2], uint16((t>>termY+8)>>4))
		}
	}
	s.sum += float64(rs)
	s.sumSq += float64(rq)
	s.n += int64(len(k))
}

// Fields of pixelTerms: bits 0–14 the 15-bit colour (5 bits a channel,
// red highest), bits termK to termK+17 the luma ×1000 (299R + 587G +
// 114B, at most 255000), bits termY to termY+15 the luma ×256 of
// sharpness's weights (77R + 150G + 29B, at most 65280).
const (
	termK = 16
	termY = 40
)

// pixelTerms[c][v] is channel c's share of every field for value v. The
// fields of the three channels' shares add without carrying into the
// next field (each field's largest sum fits its width), so one sum of
// three table entries gives a pixel's colour, luma ×1000 and Y16 (as
// (field+8)>>4, luma16's rounding) at once, for the cost of three loads.
// Computed once, never changed.
var pixelTerms = func() (t [3][256]uint64) {
	weightK := [3]uint64{299, 587, 114}
	weightY := [3]uint64{lumaWR, lumaWG, lumaWB}
	for c := range 3 {
		for v := range uint64(256) {
			t[c][v] = (v>>3)<<(10-5*c) | weightK[c]*v<<termK | weightY[c]*v<<termY
		}
	}
	return t
}()

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
	// Each byte of seen is 0 or 1, so a word's bit count is its count.
	for i := 0; i < len(s.seen); i += 8 {
		colors += bits.OnesCount64(binary.LittleEndian.Uint64(s.seen[i : i+8]))
	}
	return math.Sqrt(v) / 1000, colors
}

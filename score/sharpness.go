package score

import (
	"context"
	"fmt"
	"image"

	"github.com/comfybatch/comfybatch"
)

// Sharpness rates focus as the variance of the Laplacian of the luminance,
// metric "laplacian_var". Luminance is Rec.601 luma on a 0..255 scale in
// 8-bit fixed point, kept to 1/16 of a level:
// ((77R + 150G + 29B + 8) >> 4) / 16; a Gray image's value and a JPEG's Y
// plane are used as they are. The kernel is the 4-neighbour 0 1 0 / 1 -4 1 /
// 0 1 0, evaluated on interior pixels only (no border padding). Images
// whose longest side exceeds LongSide are first reduced to it by area
// averaging (each output pixel is the mean of the source area it covers,
// kept to 1/16 of a level), so scores are comparable across output sizes; smaller images are not
// upscaled. Blurry images score low, a flat image scores 0.
type Sharpness struct {
	// Name goes into Score.Scorer; default "sharpness".
	Name string
	// LongSide is the longest side the image is reduced to; default 512.
	LongSide int
}

// DefaultLongSide is Sharpness's default working size.
const DefaultLongSide = 512

// Score implements the pipeline's Scorer.
func (s *Sharpness) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	name := nameOr(s.Name, "sharpness")
	long := s.LongSide
	if long <= 0 {
		long = DefaultLongSide
	}
	var v float64
	if f, ok := c.Pixels.(*Frame); ok && f.luma != nil {
		w, h, row := f.lumaRows()
		v = sharpnessRows(w, h, row, long)
	} else {
		img, err := pixels(c)
		if err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: %w", name, err)
		}
		v = sharpness(img, long)
	}
	return comfybatch.Score{
		Scorer:  name,
		Metrics: map[string]float64{"laplacian_var": v},
	}, nil
}

// sharpness is the variance of the Laplacian of img's luma, reduced by area
// averaging when its longest side exceeds long.
func sharpness(img image.Image, long int) float64 {
	w, h, row := lumaRowsOf(img)
	return sharpnessRows(w, h, row, long)
}

// sharpnessRows is sharpness on a w×h Y16 image read one row at a time.
// fitSize never enlarges a side, so the reduction needs no resampling up.
func sharpnessRows(w, h int, row lumaRowFunc, long int) float64 {
	if w <= long && h <= long {
		return laplacianVarRows(w, h, row)
	}
	dw, dh := fitSize(w, h, long)
	rows := reduceY16(w, h, row, dw, dh)
	return laplacianVarRows(dw, dh, func(y int, _ []byte) []byte { return rows[y] })
}

// laplacianVarRows computes the variance of the Laplacian of a w×h Y16
// image read one row at a time, over three rolling rows, exactly in
// integers.
func laplacianVarRows(w, h int, row lumaRowFunc) float64 {
	if w < 3 || h < 3 {
		return 0
	}
	buf := make([]byte, 3*2*w)
	bufs := [3][]byte{buf[:2*w], buf[2*w : 4*w], buf[4*w:]} // row y goes into bufs[y%3]
	up, mid := row(0, bufs[0]), row(1, bufs[1])
	var a lapSums
	for y := 1; y < h-1; y++ {
		down := row(y+1, bufs[(y+1)%3])
		a.addRow(up, mid, down, w, y == 1, y == h-2)
		up, mid = mid, down
	}
	return a.variance()
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

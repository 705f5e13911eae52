package score

import (
	"context"
	"fmt"
	"image"

	"github.com/comfybatch/comfybatch"
)

// Sharpness rates focus as the variance of the Laplacian of the luminance,
// metric "laplacian_var". Luminance is Rec.601 luma (0.299R + 0.587G +
// 0.114B) on a 0..255 scale; the kernel is the 4-neighbour 0 1 0 / 1 -4 1 /
// 0 1 0, evaluated on interior pixels only (no border padding). Images
// whose longest side exceeds LongSide are first reduced to it by area
// averaging (each output pixel is the mean of the source area it covers),
// so scores are comparable across output sizes; smaller images are not
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
	img, err := pixels(c)
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: %w", name, err)
	}
	long := s.LongSide
	if long <= 0 {
		long = DefaultLongSide
	}
	return comfybatch.Score{
		Scorer:  name,
		Metrics: map[string]float64{"laplacian_var": sharpness(img, long)},
	}, nil
}

// sharpness is the variance of the Laplacian of img's luma, reduced by area
// averaging when its longest side exceeds long.
func sharpness(img image.Image, long int) float64 {
	b := img.Bounds()
	if b.Dx() <= long && b.Dy() <= long {
		return laplacianVar(img)
	}
	dw, dh := fitSize(b.Dx(), b.Dy(), long)
	return laplacianVarPlane(areaLuma(img, dw, dh))
}

// laplacianVar computes the variance of the Laplacian in one pass over
// three rolling luma rows. Luma is kept as integers scaled by 1000, so the
// Laplacian and the per-row sums are exact; only the totals are floating
// point.
func laplacianVar(img image.Image) float64 {
	switch m := img.(type) {
	case *image.NRGBA:
		return laplacianVar4(m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy())
	case *image.RGBA:
		return laplacianVar4(m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy())
	}
	lr := newLumaRows(img)
	w, h := lr.w, lr.h
	if w < 3 || h < 3 {
		return 0
	}
	buf := make([]int32, 3*w)
	up, mid, down := buf[:w], buf[w:2*w], buf[2*w:]
	lr.row(0, up)
	lr.row(1, mid)
	var sum, sumSq float64
	for y := 1; y < h-1; y++ {
		lr.row(y+1, down)
		rs, rq := laplacianRow(up, mid, down)
		sum += float64(rs)
		sumSq += float64(rq)
		up, mid, down = mid, down, up
	}
	return variance(sum, sumSq, (w-2)*(h-2))
}

// laplacianRow sums the Laplacian and its square over the interior of the
// middle row. |L| <= 4·255000, so L² summed over a row of up to millions of
// pixels fits in an int64.
func laplacianRow(up, mid, down []int32) (sum, sumSq int64) {
	n := len(mid)
	up, down = up[:n], down[:n]
	for x := 1; x < n-1; x++ {
		l := int64(up[x] + down[x] + mid[x-1] + mid[x+1] - 4*mid[x])
		sum += l
		sumSq += l * l
	}
	return sum, sumSq
}

// laplacianVar4 is laplacianVar for 4-byte RGBA/NRGBA pixels, fused: the
// loop that converts row y+1 to luma also finishes the Laplacian of row y.
func laplacianVar4(pix []byte, stride, w, h int) float64 {
	if w < 3 || h < 3 {
		return 0
	}
	buf := make([]int32, 3*w)
	up, mid, down := buf[:w], buf[w:2*w], buf[2*w:]
	luma4(pix[:4*w], up)
	luma4(pix[stride:stride+4*w], mid)
	var sum, sumSq float64
	for y := 1; y < h-1; y++ {
		row := pix[(y+1)*stride : (y+1)*stride+4*w]
		d := down[:len(row)/4]
		u, m := up[:len(d)], mid[:len(d)]
		d[0] = 299*int32(row[0]) + 587*int32(row[1]) + 114*int32(row[2])
		prev := 299*int32(row[4]) + 587*int32(row[5]) + 114*int32(row[6])
		d[1] = prev
		// The window m[x-2], m[x-1] and the luma just computed stay in
		// registers; each step loads one new pixel, m[x] and u[x-1].
		ml, mc := m[0], m[1]
		var rs, rq int64
		x := 2
		// Two pixels per step: one bounds check for both, and two
		// independent chains for the out-of-order core.
		for ; x+1 < len(d); x += 2 {
			p := row[4*x : 4*x+7 : 4*x+7]
			c0 := 299*int32(p[0]) + 587*int32(p[1]) + 114*int32(p[2])
			c1 := 299*int32(p[4]) + 587*int32(p[5]) + 114*int32(p[6])
			d[x], d[x+1] = c0, c1
			m0, m1 := m[x], m[x+1]
			l0 := int64(u[x-1] + prev + ml + m0 - 4*mc) // centre x-1
			l1 := int64(u[x] + c0 + mc + m1 - 4*m0)     // centre x
			rs += l0 + l1
			rq += l0*l0 + l1*l1
			prev, ml, mc = c1, m0, m1
		}
		for ; x < len(d); x++ {
			p := row[4*x : 4*x+3 : 4*x+3]
			cur := 299*int32(p[0]) + 587*int32(p[1]) + 114*int32(p[2])
			d[x] = cur
			mr := m[x]
			l := int64(u[x-1] + prev + ml + mr - 4*mc)
			rs += l
			rq += l * l
			prev, ml, mc = cur, mc, mr
		}
		sum += float64(rs)
		sumSq += float64(rq)
		up, mid, down = mid, down, up
	}
	return variance(sum, sumSq, (w-2)*(h-2))
}

func luma4(row []byte, dst []int32) {
	dst = dst[:len(row)/4]
	for x := range dst {
		p := row[4*x : 4*x+3 : 4*x+3]
		dst[x] = 299*int32(p[0]) + 587*int32(p[1]) + 114*int32(p[2])
	}
}

// variance turns sums of the ×1000-scaled Laplacian into its variance on
// the 0..255 luma scale.
func variance(sum, sumSq float64, n int) float64 {
	mean := sum / float64(n)
	v := sumSq/float64(n) - mean*mean
	if v < 0 { // rounding on a flat image
		v = 0
	}
	return v / 1e6
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

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
// Laplacian is exact and only the sums are floating point.
func laplacianVar(img image.Image) float64 {
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
		var rs int64
		var rq float64
		u, m, d := up[:w], mid[:w], down[:w]
		for x := 1; x < w-1; x++ {
			l := u[x] + d[x] + m[x-1] + m[x+1] - 4*m[x]
			rs += int64(l)
			f := float64(l)
			rq += f * f
		}
		sum += float64(rs)
		sumSq += rq
		up, mid, down = mid, down, up
	}
	n := float64((w - 2) * (h - 2))
	mean := sum / n
	v := sumSq/n - mean*mean
	if v < 0 { // rounding on a flat image
		v = 0
	}
	return v / 1e6 // back from the ×1000 luma scale
}

func nameOr(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

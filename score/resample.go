package score

import (
	"image"
	"math"

	"github.com/disintegration/imaging"
)

// lumaPlane is a w×h luma image, row-major, 0..255.
type lumaPlane struct {
	w, h int
	pix  []float32
}

// fitSize returns the size of a w×h image scaled so its longest side is
// long, keeping the aspect ratio.
func fitSize(w, h, long int) (int, int) {
	if w >= h {
		return long, max(1, int(math.Round(float64(h)*float64(long)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(long)/float64(h)))), long
}

// axisWeights maps n source pixels onto m ≤ n destination pixels by area:
// destination i covers source interval [i·n/m, (i+1)·n/m), and each source
// pixel contributes its overlap with that interval divided by its length.
type axisWeights struct {
	start []int       // first source pixel of destination i
	w     [][]float32 // weights of source start[i], start[i]+1, ...
}

func newAxisWeights(n, m int) axisWeights {
	r := float64(n) / float64(m)
	aw := axisWeights{start: make([]int, m), w: make([][]float32, m)}
	for i := range m {
		lo, hi := float64(i)*r, float64(i+1)*r
		j0 := int(math.Floor(lo))
		j1 := min(n, int(math.Ceil(hi)))
		aw.start[i] = j0
		ws := make([]float32, 0, j1-j0)
		for j := j0; j < j1; j++ {
			ov := math.Min(float64(j+1), hi) - math.Max(float64(j), lo)
			ws = append(ws, float32(ov/r))
		}
		aw.w[i] = ws
	}
	return aw
}

// rowTarget is the one to three destination rows a source row feeds, and
// with what weight.
type rowTarget struct {
	d [3]int
	w [3]float32
	n int
}

// newRowTargets maps each of n source rows onto the m ≤ n destination rows
// it overlaps, with the weights of newAxisWeights. A source row overlaps
// at most two destination rows, as a destination row is at least one
// source row tall; the third slot absorbs a sliver left by rounding.
func newRowTargets(n, m int) []rowTarget {
	ys := newAxisWeights(n, m)
	targets := make([]rowTarget, n)
	for i, j0 := range ys.start {
		for k, w := range ys.w[i] {
			t := &targets[j0+k]
			if w == 0 || t.n == len(t.d) {
				continue
			}
			t.d[t.n], t.w[t.n] = i, w
			t.n++
		}
	}
	return targets
}

// areaLuma reduces img's Rec.601 luma to dw×dh (each no larger than the
// source; a smaller source is first enlarged with a box filter) by area
// averaging, reading the source once, one row at a time.
// Averaging luma equals averaging the channels and then taking luma, since
// luma is linear in them.
func areaLuma(img image.Image, dw, dh int) lumaPlane {
	if b := img.Bounds(); b.Dx() < dw || b.Dy() < dh {
		img = imaging.Resize(img, max(b.Dx(), dw), max(b.Dy(), dh), imaging.Box)
	}
	lr := newLumaRows(img)
	r := newAreaReducer(lr.w, lr.h, dw, dh)
	src := make([]int32, lr.w)
	for y := range lr.h {
		lr.row(y, src)
		r.addRow(y, src)
	}
	return r.out
}

// areaReducer is areaLuma's reduction, fed one source row at a time: by
// areaLuma from an image, and by DecodeFrame from the rows it decodes, so
// both compute the same floating-point sums in the same order.
type areaReducer struct {
	xs      axisWeights
	targets []rowTarget
	hrow    []float32
	out     lumaPlane
	// blocks is the source width of each output column when that is a
	// power of two that divides the width, up to 64: then every weight
	// is 1/blocks and every partial sum of a column, a multiple of
	// 1/blocks below 255001, is exact in float32 (255000·64 < 2^24), so
	// the column's float sum equals its integer sum divided by blocks,
	// which addRow computes instead, to the same bits. 0 otherwise.
	blocks int
}

// newAreaReducer reduces a w×h source to dw×dh, with dw <= w and dh <= h.
func newAreaReducer(w, h, dw, dh int) *areaReducer {
	r := &areaReducer{
		xs:      newAxisWeights(w, dw),
		targets: newRowTargets(h, dh),
		hrow:    make([]float32, dw),
		out:     lumaPlane{w: dw, h: dh, pix: make([]float32, dw*dh)},
	}
	if f := w / dw; w%dw == 0 && f&(f-1) == 0 && f <= 64 {
		r.blocks = f
	}
	return r
}

// addRow adds source row y, luma ×1000 (lumaKRow's values).
func (r *areaReducer) addRow(y int, src []int32) {
	if f := r.blocks; f > 0 {
		src = src[:f*len(r.hrow)]
		for i := range r.hrow {
			blk := src[f*i : f*i+f]
			// Four sums, each at most 64·255000, four pixels a step
			// where the block allows: one chain of additions waited on
			// each pixel (2.1× for 512² to 32², a throwaway benchmark).
			var s0, s1, s2, s3 int32
			j := 0
			for ; j+4 <= len(blk); j += 4 {
				q := blk[j : j+4 : j+4]
				s0 += q[0]
				s1 += q[1]
				s2 += q[2]
				s3 += q[3]
			}
			for ; j < len(blk); j++ {
				s0 += blk[j]
			}
			r.hrow[i] = float32(s0+s1+s2+s3) / float32(f) / 1000
		}
	} else {
		for i, j0 := range r.xs.start {
			var s float32
			for k, w := range r.xs.w[i] {
				s += float32(src[j0+k]) * w
			}
			r.hrow[i] = s / 1000 // luma rows are scaled by 1000
		}
	}
	dw := r.out.w
	t := r.targets[y]
	for k := range t.n {
		dst := r.out.pix[t.d[k]*dw : (t.d[k]+1)*dw]
		w := t.w[k]
		for i, v := range r.hrow {
			dst[i] += v * w
		}
	}
}

package score

import (
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// areaLuma16 reduces img's Y16 luma (see luma16) to dw×dh by area
// averaging and returns it on the 0..255 scale. It reads the source once,
// one row at a time: each row is reduced horizontally, then added with its
// vertical weight into the one or two output rows it overlaps. When the
// width divides exactly, the horizontal step sums whole pixels in integers.
func areaLuma16(img image.Image, dw, dh int) lumaPlane {
	if b := img.Bounds(); b.Dx() < dw || b.Dy() < dh {
		img = imaging.Resize(img, max(b.Dx(), dw), max(b.Dy(), dh), imaging.Box)
	}
	w, h, row := lumaRowsOf(img)
	ys := newAxisWeights(h, dh)
	// For each source row, the output rows it feeds and with what weight.
	// A source row overlaps at most two output rows, as an output row is
	// at least one source row tall; the third slot absorbs a sliver left
	// by rounding.
	type rowTarget struct {
		d [3]int
		w [3]float32
		n int
	}
	targets := make([]rowTarget, h)
	for i, j0 := range ys.start {
		for k, wt := range ys.w[i] {
			t := &targets[j0+k]
			if wt == 0 || t.n == len(t.d) {
				continue
			}
			t.d[t.n], t.w[t.n] = i, wt
			t.n++
		}
	}
	reduce := horizontalReducer(w, dw)
	out := lumaPlane{w: dw, h: dh, pix: make([]float32, dw*dh)}
	src := make([]byte, 2*w)
	hrow := make([]float32, dw)
	for y := range h {
		row(y, src)
		reduce(hrow, src)
		t := targets[y]
		for k := range t.n {
			dst := out.pix[t.d[k]*dw : (t.d[k]+1)*dw]
			wt := t.w[k]
			for i, v := range hrow {
				dst[i] += v * wt
			}
		}
	}
	return out
}

// horizontalReducer returns a function that area-averages a row of w Y16
// values (two bytes each) into dw values on the 0..255 scale.
func horizontalReducer(w, dw int) func(dst []float32, src []byte) {
	if w%dw == 0 {
		f := w / dw
		scale := 1 / float32(f*lumaScale)
		if f == 2 {
			return func(dst []float32, src []byte) {
				src = src[:4*len(dst)]
				for i := range dst {
					p := src[4*i : 4*i+4 : 4*i+4]
					s := uint32(binary.LittleEndian.Uint16(p[0:2])) + uint32(binary.LittleEndian.Uint16(p[2:4]))
					dst[i] = float32(s) * scale
				}
			}
		}
		return func(dst []float32, src []byte) {
			src = src[:2*f*len(dst)]
			for i := range dst {
				p := src[2*f*i : 2*f*(i+1)]
				var s uint32
				for j := 0; j < len(p); j += 2 {
					s += uint32(binary.LittleEndian.Uint16(p[j : j+2]))
				}
				dst[i] = float32(s) * scale
			}
		}
	}
	xs := newAxisWeights(w, dw)
	return func(dst []float32, src []byte) {
		for i, j0 := range xs.start {
			ws := xs.w[i]
			p := src[2*j0 : 2*(j0+len(ws))]
			var s float32
			for k, wt := range ws {
				s += float32(binary.LittleEndian.Uint16(p[2*k:2*k+2])) * wt
			}
			dst[i] = s / lumaScale
		}
	}
}

package score

import (
	"encoding/binary"
	"image"
	"math/bits"

	"github.com/disintegration/imaging"
)

// reduceY16 reduces img's luma to dw×dh by area averaging (each output
// pixel is the mean of the source area it covers) and returns the rows in
// the Y16 format of lumaRowsOf, each mean rounded to 1/16 of a level. It
// reads the source once, one row at a time. When both sides divide
// exactly, the means are block sums in integers; otherwise each source row
// is reduced horizontally with fractional weights and added with its
// vertical weight into the one or two output rows it overlaps.
func reduceY16(img image.Image, dw, dh int) [][]byte {
	if b := img.Bounds(); b.Dx() < dw || b.Dy() < dh {
		img = imaging.Resize(img, max(b.Dx(), dw), max(b.Dy(), dh), imaging.Box)
	}
	w, h, row := lumaRowsOf(img)
	if w%dw == 0 && h%dh == 0 {
		return reduceBlocks(w, h, row, w/dw, h/dh)
	}
	return reduceAreas(w, h, row, dw, dh)
}

// newRows returns h rows of w Y16 values.
func newRows(w, h int) [][]byte {
	buf := make([]byte, 2*w*h)
	rows := make([][]byte, h)
	for y := range rows {
		rows[y] = buf[2*w*y : 2*w*(y+1) : 2*w*(y+1)]
	}
	return rows
}

// reduceBlocks averages fx×fy blocks exactly in integers.
func reduceBlocks(w, h int, row lumaRowFunc, fx, fy int) [][]byte {
	dw, dh := w/fx, h/fy
	out := newRows(dw, dh)
	src := make([]byte, 2*w)
	acc := make([]uint32, dw)
	area := uint32(fx * fy)
	shift := -1 // log2(area) when area is a power of two
	if area&(area-1) == 0 {
		shift = bits.TrailingZeros32(area)
	}
	for i := range dh {
		clear(acc)
		for y := i * fy; y < (i+1)*fy; y++ {
			row(y, src)
			addBlockSums(acc, src, fx)
		}
		dst := out[i]
		for x, s := range acc {
			s += area / 2
			if shift >= 0 {
				s >>= shift
			} else {
				s /= area
			}
			binary.LittleEndian.PutUint16(dst[2*x:2*x+2], uint16(s))
		}
	}
	return out
}

// addBlockSums adds the sums of consecutive groups of f Y16 values of src
// to acc, one group per element.
func addBlockSums(acc []uint32, src []byte, f int) {
	if f == 2 {
		// Two groups per 64-bit load: pairs of 16-bit lanes added into
		// 32-bit lanes.
		const even = 0x0000_FFFF_0000_FFFF
		n := len(acc) / 2
		s4, a2 := src[:8*n], acc[:2*n]
		for i := range n {
			v := binary.LittleEndian.Uint64(s4[8*i : 8*i+8])
			p := v&even + v>>16&even
			a := a2[2*i : 2*i+2 : 2*i+2]
			a[0] += uint32(p)
			a[1] += uint32(p >> 32)
		}
		if len(acc)%2 == 1 {
			x := len(acc) - 1
			acc[x] += uint32(y16At(src, 2*x)) + uint32(y16At(src, 2*x+1))
		}
		return
	}
	src = src[:2*f*len(acc)]
	for i := range acc {
		p := src[2*f*i : 2*f*(i+1)]
		var s uint32
		for j := 0; j+2 <= len(p); j += 2 {
			s += uint32(binary.LittleEndian.Uint16(p[j : j+2]))
		}
		acc[i] += s
	}
}

// reduceAreas is the general area reduction, with the fractional weights
// of newAxisWeights in float32.
func reduceAreas(w, h int, row lumaRowFunc, dw, dh int) [][]byte {
	xs, ys := newAxisWeights(w, dw), newAxisWeights(h, dh)
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
	plane := make([]float32, dw*dh)
	src := make([]byte, 2*w)
	hrow := make([]float32, dw)
	for y := range h {
		row(y, src)
		for i, j0 := range xs.start {
			ws := xs.w[i]
			p := src[2*j0 : 2*(j0+len(ws))]
			var s float32
			for k, wt := range ws {
				s += float32(binary.LittleEndian.Uint16(p[2*k:2*k+2])) * wt
			}
			hrow[i] = s
		}
		t := targets[y]
		for k := range t.n {
			dst := plane[t.d[k]*dw : (t.d[k]+1)*dw]
			wt := t.w[k]
			for i, v := range hrow {
				dst[i] += v * wt
			}
		}
	}
	out := newRows(dw, dh)
	for i, r := range out {
		for x, v := range plane[i*dw : (i+1)*dw] {
			binary.LittleEndian.PutUint16(r[2*x:2*x+2], uint16(min(v, 4080)+0.5))
		}
	}
	return out
}

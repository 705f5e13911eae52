package score

import (
	"encoding/binary"
	"math/bits"
)

// reduceY16 reduces a w×h Y16 image, read one row at a time, to dw×dh
// (dw <= w, dh <= h) by area averaging (each output pixel is the mean of
// the source area it covers) and returns the rows in the Y16 format of
// lumaRowsOf, each mean rounded to 1/16 of a level. It reads the source
// once. When both sides divide exactly, the means are block sums in
// integers; otherwise each source row is reduced horizontally with
// fractional weights and added with its vertical weight into the one or
// two output rows it overlaps.
func reduceY16(w, h int, row lumaRowFunc, dw, dh int) [][]byte {
	// Block sums are uint32: 4080·area must fit, which the decoder's
	// pixel limit guarantees many times over.
	if w%dw == 0 && h%dh == 0 && (w/dw)*(h/dh) <= 1<<20 {
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
	if fx == 2 && fy == 2 {
		return reduceHalf(w, h, row)
	}
	dw, dh := w/fx, h/fy
	out := newRows(dw, dh)
	src := make([]byte, 2*w)
	acc := make([]uint32, dw)
	area := uint32(fx * fy)
	for i := range dh {
		clear(acc)
		for y := i * fy; y < (i+1)*fy; y++ {
			addBlockSums(acc, row(y, src), fx)
		}
		dst := out[i][:2*dw]
		if area&(area-1) == 0 {
			shift := bits.TrailingZeros32(area)
			for x, s := range acc {
				binary.LittleEndian.PutUint16(dst[2*x:2*x+2], uint16((s+area/2)>>shift))
			}
			continue
		}
		for x, s := range acc {
			binary.LittleEndian.PutUint16(dst[2*x:2*x+2], uint16((s+area/2)/area))
		}
	}
	return out
}

// reduceHalf is reduceBlocks for 2×2 blocks, the common reduction from
// 1024 to 512, in SWAR: the two source rows are added in 16-bit lanes,
// then neighbouring lanes in 32-bit lanes, two outputs per 64-bit load.
func reduceHalf(w, h int, row lumaRowFunc) [][]byte {
	dw, dh := w/2, h/2
	out := newRows(dw, dh)
	bufA, bufB := make([]byte, 2*w), make([]byte, 2*w)
	const (
		even  = 0x0000_FFFF_0000_FFFF
		round = 2 | 2<<32
	)
	n := dw / 2 // whole steps
	for i := range dh {
		a, b := row(2*i, bufA), row(2*i+1, bufB)
		a8, b8, d4 := a[:8*n], b[:8*n], out[i][:4*n]
		for j := range n {
			v := binary.LittleEndian.Uint64(a8[8*j:8*j+8]) + binary.LittleEndian.Uint64(b8[8*j:8*j+8])
			p := (v&even + v>>16&even + round) >> 2 & even
			binary.LittleEndian.PutUint32(d4[4*j:4*j+4], uint32(p|p>>16))
		}
		if dw%2 == 1 {
			x := dw - 1
			s := uint32(y16At(a, 2*x)) + uint32(y16At(a, 2*x+1)) + uint32(y16At(b, 2*x)) + uint32(y16At(b, 2*x+1))
			binary.LittleEndian.PutUint16(out[i][2*x:2*x+2], uint16((s+2)>>2))
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
	if f == 4 {
		// One group per 64-bit load.
		const even = 0x0000_FFFF_0000_FFFF
		s8 := src[:8*len(acc)]
		for i := range acc {
			v := binary.LittleEndian.Uint64(s8[8*i : 8*i+8])
			p := v&even + v>>16&even
			acc[i] += uint32(p) + uint32(p>>32)
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
	xs, targets := newAxisWeights(w, dw), newRowTargets(h, dh)
	plane := make([]float32, dw*dh)
	buf := make([]byte, 2*w)
	hrow := make([]float32, dw)
	for y := range h {
		src := row(y, buf)
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

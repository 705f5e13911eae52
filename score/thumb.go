package score

import (
	"image"
	"sync"
)

// thumbSize is the size imaging.Fit gives a w×h image fitted into a
// long×long box: unchanged when it fits, else the longer side becomes long
// and the other is scaled and truncated, but kept at least 1. Thumbnails
// made from a Frame and from a full image so have the same size.
func thumbSize(w, h, long int) (int, int) {
	switch {
	case w <= long && h <= long:
		return w, h
	case w > h:
		return long, max(1, int(float64(long)/(float64(w)/float64(h))))
	}
	return max(1, int(float64(long)*(float64(w)/float64(h)))), long
}

// thumbReducer reduces decoded rows of bpp bytes a pixel (3: RGB, 4: RGBA)
// to an opaque RGBA image of thumbSize by area averaging: each output
// pixel is the mean of the source area it covers. When both sides divide
// exactly, as 512 and 1024 do into 256, the means are block sums in
// integers, rounded; otherwise each row is reduced with newAxisWeights'
// fractional weights in float32 and added into the one or two output rows
// it overlaps, as reduceAreas does for luma. RGBA pixels are premultiplied
// first, as a JPEG of the full image would show them (on black).
//
// It costs a few additions per source channel, where imaging.Fit's
// general resampler (with its Box filter: the same averages) spends tens
// of floating-point operations per source pixel; BenchmarkThumbnail
// compares them.
type thumbReducer struct {
	bpp    int
	dw, dh int
	out    *image.RGBA
	pre    []byte // an RGBA row premultiplied to RGB

	// Whole factors.
	fx, fy int
	acc    []uint32 // channel sums of the output row being built, 3 a pixel
	half   []byte   // 2×2 blocks: the even row

	// Fractional factors.
	xs      axisWeights
	targets []rowTarget
	plane   []float32 // 3 a pixel
	hrow    []float32
}

// newThumbReducer reduces w×h rows of bpp bytes a pixel to fit a long×long
// box. The output's pixels come from pool (every one is written before the
// image is read).
func newThumbReducer(w, h, bpp, long int, pool *sync.Pool) *thumbReducer {
	dw, dh := thumbSize(w, h, long)
	out := &image.RGBA{Pix: get(pool, 4*dw*dh), Stride: 4 * dw, Rect: image.Rect(0, 0, dw, dh)}
	t := &thumbReducer{bpp: bpp, dw: dw, dh: dh, out: out}
	if bpp == 4 {
		t.pre = make([]byte, 3*w)
	}
	if w%dw == 0 && h%dh == 0 {
		t.fx, t.fy = w/dw, h/dh
		if t.fx == 2 && t.fy == 2 {
			t.half = make([]byte, 6*dw)
		} else {
			t.acc = make([]uint32, 3*dw)
		}
		return t
	}
	t.xs, t.targets = newAxisWeights(w, dw), newRowTargets(h, dh)
	t.plane = make([]float32, 3*dw*dh)
	t.hrow = make([]float32, 3*dw)
	return t
}

// addRow adds source row y; rows come in order.
func (t *thumbReducer) addRow(y int, pix []byte) {
	if t.bpp == 4 {
		premultiply(t.pre, pix)
		pix = t.pre
	}
	if t.fx == 0 {
		t.addFractional(y, pix)
		return
	}
	if t.fx == 2 && t.fy == 2 {
		t.addHalf(y, pix)
		return
	}
	acc := t.acc
	if t.fx == 2 {
		pix = pix[:6*t.dw]
		for i := range t.dw {
			p := pix[6*i : 6*i+6 : 6*i+6]
			a := acc[3*i : 3*i+3 : 3*i+3]
			a[0] += uint32(p[0]) + uint32(p[3])
			a[1] += uint32(p[1]) + uint32(p[4])
			a[2] += uint32(p[2]) + uint32(p[5])
		}
	} else {
		n := 3 * t.fx
		pix = pix[:n*t.dw]
		for i := range t.dw {
			p := pix[n*i : n*i+n]
			a := acc[3*i : 3*i+3 : 3*i+3]
			for j := 0; j+3 <= len(p); j += 3 {
				a[0] += uint32(p[j])
				a[1] += uint32(p[j+1])
				a[2] += uint32(p[j+2])
			}
		}
	}
	if (y+1)%t.fy != 0 {
		return
	}
	area := uint32(t.fx * t.fy)
	o := t.out.Pix[y/t.fy*t.out.Stride:][:4*t.dw]
	for i := range t.dw {
		a := acc[3*i : 3*i+3 : 3*i+3]
		d := o[4*i : 4*i+4 : 4*i+4]
		d[0] = uint8((a[0] + area/2) / area)
		d[1] = uint8((a[1] + area/2) / area)
		d[2] = uint8((a[2] + area/2) / area)
		d[3] = 0xff
	}
	clear(acc)
}

// addHalf is addRow for 2×2 blocks (512² to 256²), the common case: an
// even row is kept, and an odd one makes an output row with the kept one
// directly, without sums carried between calls.
func (t *thumbReducer) addHalf(y int, pix []byte) {
	n := 6 * t.dw
	if y%2 == 0 {
		copy(t.half, pix[:n])
		return
	}
	a, b := t.half[:n], pix[:n]
	o := t.out.Pix[y/2*t.out.Stride:][:4*t.dw]
	for i := range t.dw {
		p := a[6*i : 6*i+6 : 6*i+6]
		q := b[6*i : 6*i+6 : 6*i+6]
		d := o[4*i : 4*i+4 : 4*i+4]
		d[0] = uint8((uint32(p[0]) + uint32(p[3]) + uint32(q[0]) + uint32(q[3]) + 2) >> 2)
		d[1] = uint8((uint32(p[1]) + uint32(p[4]) + uint32(q[1]) + uint32(q[4]) + 2) >> 2)
		d[2] = uint8((uint32(p[2]) + uint32(p[5]) + uint32(q[2]) + uint32(q[5]) + 2) >> 2)
		d[3] = 0xff
	}
}

func (t *thumbReducer) addFractional(y int, pix []byte) {
	for i, j0 := range t.xs.start {
		var r, g, b float32
		for k, w := range t.xs.w[i] {
			p := pix[3*(j0+k) : 3*(j0+k)+3 : 3*(j0+k)+3]
			r += float32(p[0]) * w
			g += float32(p[1]) * w
			b += float32(p[2]) * w
		}
		t.hrow[3*i], t.hrow[3*i+1], t.hrow[3*i+2] = r, g, b
	}
	n := 3 * t.dw
	tg := t.targets[y]
	for k := range tg.n {
		dst := t.plane[tg.d[k]*n : (tg.d[k]+1)*n]
		w := tg.w[k]
		for i, v := range t.hrow {
			dst[i] += v * w
		}
	}
}

// finish returns the reduced image once every row is in.
func (t *thumbReducer) finish() *image.RGBA {
	if t.fx == 0 {
		for y := range t.dh {
			src := t.plane[3*t.dw*y : 3*t.dw*(y+1)]
			o := t.out.Pix[y*t.out.Stride:][:4*t.dw]
			for i := range t.dw {
				d := o[4*i : 4*i+4 : 4*i+4]
				for c := range 3 {
					d[c] = uint8(min(src[3*i+c], 255) + 0.5)
				}
				d[3] = 0xff
			}
		}
	}
	return t.out
}

// premultiply writes the RGBA pixels of src as RGB premultiplied by their
// alpha to dst.
func premultiply(dst, src []byte) {
	n := len(src) / 4
	dst = dst[:3*n]
	for i := range n {
		s := src[4*i : 4*i+4 : 4*i+4]
		a := uint32(s[3])
		d := dst[3*i : 3*i+3 : 3*i+3]
		d[0] = uint8((uint32(s[0])*a + 127) / 255)
		d[1] = uint8((uint32(s[1])*a + 127) / 255)
		d[2] = uint8((uint32(s[2])*a + 127) / 255)
	}
}

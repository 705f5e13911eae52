package jpegenc

import (
	"errors"
	"image"
	"io"
	"math"
	"math/bits"
)

// Encode writes m to w as a JPEG of the given quality (1 to 100, clamped;
// image/jpeg's default is 75). The colour of each pixel is its R, G and
// B bytes as they are: for an opaque image, its colour; alpha is ignored,
// as image/jpeg ignores it for *image.RGBA.
func Encode(w io.Writer, m *image.RGBA, quality int) error {
	b := m.Bounds()
	if b.Empty() {
		return errors.New("jpegenc: empty image")
	}
	if b.Dx() >= 1<<16 || b.Dy() >= 1<<16 {
		return errors.New("jpegenc: image is too large to encode")
	}
	e := &encoder{out: make([]byte, 0, 16+b.Dx()*b.Dy()/2)}
	e.setQuality(quality)
	e.writeHeaders(b.Dx(), b.Dy())
	e.writeScan(m)
	e.out = append(e.out, 0xff, 0xd9) // EOI
	_, err := w.Write(e.out)
	return err
}

// unzig maps the zig-zag index of a coefficient to its row-major index in
// the 8×8 block (T.81 figure A.6).
var unzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// baseQuant are T.81 tables K.1 (luminance) and K.2 (chrominance), in
// zig-zag order: the quantizers at quality 50.
var baseQuant = [2][64]uint8{
	{
		16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40,
		26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
		56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
		95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
	},
	{
		17, 18, 18, 24, 21, 24, 47, 26, 26, 47, 99, 66, 56, 66, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
	},
}

// aanScale[k] is the scale of output k of fdct8: cos(kπ/16)·√2, and 1 for
// k = 0. fdct8 returns 8·aanScale[u]·aanScale[v]/... of the DCT-II, see
// setQuality.
var aanScale = func() (s [8]float64) {
	s[0] = 1
	for k := 1; k < 8; k++ {
		s[k] = math.Cos(float64(k)*math.Pi/16) * math.Sqrt2
	}
	return s
}()

// encoder holds one Encode call's tables and output.
type encoder struct {
	quant [2][64]uint8   // zig-zag order, as written in DQT
	recip [2][64]float32 // zig-zag order: what a raw fdct output is multiplied by
	out   []byte
	acc   uint64 // pending bits, the oldest at the top
	nacc  uint   // how many bits of acc are pending
}

// setQuality scales the base tables as libjpeg's jpeg_quality_scaling and
// image/jpeg do, and derives the reciprocals the quantization multiplies
// by. The 2-D fdct of a block returns the orthonormal-free DCT-II
// coefficient F(u,v) (the one T.81 A.3.3 defines, before its ¼·C(u)·C(v))
// as 8·F'(u,v) scaled by aanScale[u]·aanScale[v], where F' is T.81's
// coefficient; so the quantized value is raw / (8·aanScale[u]·aanScale[v]·q).
func (e *encoder) setQuality(quality int) {
	quality = min(max(quality, 1), 100)
	scale := 200 - 2*quality
	if quality < 50 {
		scale = 5000 / quality
	}
	for t := range 2 {
		for k := range 64 {
			q := (int(baseQuant[t][k])*scale + 50) / 100
			q = min(max(q, 1), 255)
			e.quant[t][k] = uint8(q)
			n := unzig[k]
			u, v := n%8, n/8
			e.recip[t][k] = float32(1 / (float64(q) * aanScale[u] * aanScale[v] * 8))
		}
	}
}

func (e *encoder) writeHeaders(w, h int) {
	e.out = append(e.out, 0xff, 0xd8) // SOI
	// DQT: both tables in one segment.
	e.out = append(e.out, 0xff, 0xdb, 0, 2+2*65, 0)
	e.out = append(e.out, e.quant[0][:]...)
	e.out = append(e.out, 1)
	e.out = append(e.out, e.quant[1][:]...)
	// SOF0: 8-bit samples, three components: Y sampled 2×2 with table 0,
	// Cb and Cr 1×1 with table 1.
	e.out = append(e.out, 0xff, 0xc0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	// DHT: the four standard tables.
	n := 2
	for _, s := range huffSpecs {
		n += 17 + len(s.values)
	}
	e.out = append(e.out, 0xff, 0xc4, byte(n>>8), byte(n))
	for _, s := range huffSpecs {
		e.out = append(e.out, s.class)
		e.out = append(e.out, s.counts[:]...)
		e.out = append(e.out, s.values...)
	}
	// SOS: Y with DC/AC tables 0, Cb and Cr with tables 1; the whole
	// spectrum (0..63) without successive approximation.
	e.out = append(e.out, 0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0)
}

// writeScan encodes the image's MCUs: 16×16 pixels each, four luminance
// blocks and one block of each chrominance, from the 2×2 averages. Each
// row of MCUs is first converted to a band of planes, where pixels past
// the right and bottom edges repeat the last column and row.
func (e *encoder) writeScan(m *image.RGBA) {
	p := newBand(m)
	var (
		blk    [64]float32
		prevDC [3]int32
	)
	for my := 0; my < m.Bounds().Dy(); my += 16 {
		p.convert(m, my)
		for mx := 0; mx < p.w; mx += 16 {
			for i := range 4 {
				block(&blk, p.y, p.w, mx+8*(i%2), 8*(i/2))
				prevDC[0] = e.writeBlock(&blk, 0, prevDC[0])
			}
			block(&blk, p.cb, p.w/2, mx/2, 0)
			prevDC[1] = e.writeBlock(&blk, 1, prevDC[1])
			block(&blk, p.cr, p.w/2, mx/2, 0)
			prevDC[2] = e.writeBlock(&blk, 1, prevDC[2])
		}
	}
	// Pad the last byte with 1 bits (T.81 F.1.2.3).
	if e.nacc%8 != 0 {
		e.emit(1<<(8-e.nacc%8)-1, 8-e.nacc%8)
	}
	e.flush()
}

// band is one row of MCUs in YCbCr, level-shifted by 128 (JFIF's
// conversion, T.871), padded to whole MCUs: Y at full size, w×16, and Cb
// and Cr at half size, each value the conversion of the mean of 2×2
// pixels.
type band struct {
	w         int
	y, cb, cr []float32
	sums      []uint32 // R, G and B sums of each 2×2 block of a row pair
}

func newBand(m *image.RGBA) *band {
	w := (m.Bounds().Dx() + 15) &^ 15
	return &band{
		w:    w,
		y:    make([]float32, 16*w),
		cb:   make([]float32, 4*w),
		cr:   make([]float32, 4*w),
		sums: make([]uint32, 3*w/2),
	}
}

// convert fills the band with the 16 rows of m from my.
func (p *band) convert(m *image.RGBA, my int) {
	b := m.Bounds()
	iw, ih := b.Dx(), b.Dy()
	sums := p.sums
	for j := range 16 {
		y := min(my+j, ih-1)
		src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][: 4*iw : 4*iw]
		dst := p.y[j*p.w : (j+1)*p.w]
		if j%2 == 0 {
			clear(sums)
		}
		for x := range iw {
			q := src[4*x : 4*x+3 : 4*x+3]
			r, g, bl := q[0], q[1], q[2]
			dst[x] = yR[r] + yG[g] + yB[bl]
			s := sums[3*(x/2) : 3*(x/2)+3 : 3*(x/2)+3]
			s[0] += uint32(r)
			s[1] += uint32(g)
			s[2] += uint32(bl)
		}
		last := src[4*iw-4 : 4*iw-1 : 4*iw-1]
		for x := iw; x < p.w; x++ {
			dst[x] = dst[iw-1]
			s := sums[3*(x/2) : 3*(x/2)+3 : 3*(x/2)+3]
			s[0] += uint32(last[0])
			s[1] += uint32(last[1])
			s[2] += uint32(last[2])
		}
		if j%2 == 1 {
			cb := p.cb[j/2*p.w/2 : (j/2+1)*p.w/2]
			cr := p.cr[j/2*p.w/2 : (j/2+1)*p.w/2]
			cr = cr[:len(cb)]
			sums := sums[:3*len(cb)]
			for x := range cb {
				s := sums[3*x : 3*x+3 : 3*x+3]
				r, g, bl := float32(s[0]), float32(s[1]), float32(s[2]) // four pixels' worth
				cb[x] = -0.168736/4*r - 0.331264/4*g + 0.5/4*bl
				cr[x] = 0.5/4*r - 0.418688/4*g - 0.081312/4*bl
			}
		}
	}
}

// yR, yG and yB are each channel's part of the luminance, the first one
// level-shifted: Y-128 = yR[r] + yG[g] + yB[b]. Three table reads cost less
// than three conversions to float and multiplications.
var yR, yG, yB = func() (r, g, b [256]float32) {
	for i := range 256 {
		v := float32(i)
		r[i], g[i], b[i] = 0.299*v-128, 0.587*v, 0.114*v
	}
	return r, g, b
}()

// block copies the 8×8 block at (x, y) of a plane of the given stride.
func block(dst *[64]float32, plane []float32, stride, x, y int) {
	for j := range 8 {
		copy(dst[8*j:8*j+8], plane[(y+j)*stride+x:])
	}
}

// writeBlock transforms, quantizes and entropy-codes one block of table t
// (0 luminance, 1 chrominance) and returns its DC coefficient.
func (e *encoder) writeBlock(blk *[64]float32, t int, prevDC int32) int32 {
	fdct(blk)
	recip := &e.recip[t]
	var q [64]int32
	var nz uint64 // bit k set when AC coefficient k is not zero
	for k := range 64 {
		// Round to nearest, as libjpeg's float path does: the offset
		// makes the value positive, so conversion truncates to the floor.
		// Quantized baseline coefficients stay within ±2048.
		v := int32(blk[unzig[k]]*recip[k]+16384.5) - 16384
		q[k] = v
		if v != 0 {
			nz |= 1 << k
		}
	}
	dc := &huffDC[t]
	ac := &huffAC[t]
	n, extra := category(q[0] - prevDC)
	e.emit(uint64(dc.code[n])<<n|uint64(extra), uint(dc.size[n])+uint(n))
	// The AC coefficients in runs of zeros ending with a non-zero one,
	// found from the bit mask.
	nz &^= 1
	last := 0
	for nz != 0 {
		k := bits.TrailingZeros64(nz)
		nz &= nz - 1
		run := k - last - 1
		for run > 15 {
			e.emit(uint64(ac.code[0xf0]), uint(ac.size[0xf0])) // ZRL: sixteen zeros
			run -= 16
		}
		n, extra := category(q[k])
		s := run<<4 | int(n)
		e.emit(uint64(ac.code[s])<<n|uint64(extra), uint(ac.size[s])+uint(n))
		last = k
	}
	if last < 63 {
		e.emit(uint64(ac.code[0]), uint(ac.size[0])) // EOB
	}
	return q[0]
}

// category returns the size category of v (T.81 F.1.2.1) and its extra
// bits: v itself when positive, v-1 in that many bits when negative.
func category(v int32) (uint32, uint32) {
	a, x := v, v
	if v < 0 {
		a, x = -v, v-1
	}
	n := uint32(bits.Len32(uint32(a)))
	return n, uint32(x) & (1<<n - 1)
}

// emit appends the n low bits of code to the bit buffer (n ≤ 32: a
// Huffman code of up to 16 bits with up to 11 extra bits).
func (e *encoder) emit(code uint64, n uint) {
	e.acc |= code << (64 - e.nacc - n)
	e.nacc += n
	if e.nacc >= 32 {
		e.flush32()
	}
}

// flush32 writes the top 32 bits of the buffer, stuffing a zero after each
// 0xff byte (T.81 F.1.2.3).
func (e *encoder) flush32() {
	v := uint32(e.acc >> 32)
	if !hasFF(v) {
		e.out = append(e.out, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	} else {
		for s := 24; s >= 0; s -= 8 {
			c := byte(v >> s)
			e.out = append(e.out, c)
			if c == 0xff {
				e.out = append(e.out, 0)
			}
		}
	}
	e.acc <<= 32
	e.nacc -= 32
}

// hasFF reports whether any byte of v is 0xff.
func hasFF(v uint32) bool {
	x := ^v // a 0xff byte of v is a zero byte of x
	return (x-0x01010101)&^x&0x80808080 != 0
}

// flush writes the whole bytes left in the buffer.
func (e *encoder) flush() {
	for e.nacc >= 8 {
		c := byte(e.acc >> 56)
		e.out = append(e.out, c)
		if c == 0xff {
			e.out = append(e.out, 0)
		}
		e.acc <<= 8
		e.nacc -= 8
	}
}

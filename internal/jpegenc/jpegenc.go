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

// coefOffset is where each coefficient of the 8×8 block, in row-major
// order, goes in coefs: at twice its zig-zag index (unzig's inverse).
var coefOffset = func() (z [64]uint8) {
	for k, n := range unzig {
		z[n] = uint8(2 * k)
	}
	return z
}()

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
	recip [2][64]float32 // natural order: what a raw fdct output is multiplied by
	q     coefs          // the block being coded, quantized
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
			e.recip[t][n] = float32(1 / (float64(q) * aanScale[u] * aanScale[v] * 8))
		}
	}
}

// writeHeaders writes the markers before the scan of a w×h image: SOI,
// the quantization and Huffman tables, the frame header and the scan
// header.
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
// MCU is converted from the pixels straight into its six blocks; an MCU
// cut by the right or bottom edge is first copied out with the last
// column and row repeated.
func (e *encoder) writeScan(m *image.RGBA) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	var (
		u      mcu
		edge   [16 * 64]byte // an edge MCU's pixels, 16 rows of 16
		prevDC [3]int32
	)
	for my := 0; my < h; my += 16 {
		for mx := 0; mx < w; mx += 16 {
			if mx+16 <= w && my+16 <= h {
				u.convert(m.Pix[m.PixOffset(b.Min.X+mx, b.Min.Y+my):], m.Stride)
			} else {
				for j := range 16 {
					row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+min(my+j, h-1)):]
					for i := range 16 {
						x := 4 * min(mx+i, w-1)
						copy(edge[64*j+4*i:64*j+4*i+4], row[x:x+4])
					}
				}
				u.convert(edge[:], 64)
			}
			for i := range 4 {
				prevDC[0] = e.writeBlock(&u[i], 0, prevDC[0])
			}
			prevDC[1] = e.writeBlock(&u[4], 1, prevDC[1])
			prevDC[2] = e.writeBlock(&u[5], 1, prevDC[2])
		}
	}
	// Pad the last byte with 1 bits (T.81 F.1.2.3).
	if e.nacc%8 != 0 {
		e.emit(1<<(8-e.nacc%8)-1, 8-e.nacc%8)
	}
	e.flush()
}

// mcu is one MCU in YCbCr, level-shifted by 128 (JFIF's conversion,
// T.871): its four luminance blocks (top left, top right, bottom left,
// bottom right), then Cb and Cr, each of their values the conversion of
// the mean of 2×2 pixels.
type mcu [6][64]float32

// convert fills the MCU from 16 rows of 16 RGBA pixels, the first at
// pix[0], each row stride bytes after the one before. It reads the 2×2
// pixels of a chroma sample together, two from each of two rows, and
// derives Cb and Cr from their B and R sums and their luminance, which
// spares G a sum and each chrominance two multiplications.
func (u *mcu) convert(pix []byte, stride int) {
	for jj := range 8 { // row pair jj: rows 2jj and 2jj+1
		r0 := (*[64]byte)(pix[2*jj*stride:])
		r1 := (*[64]byte)(pix[(2*jj+1)*stride:])
		cb := (*[8]float32)(u[4][8*jj:])
		cr := (*[8]float32)(u[5][8*jj:])
		for half := range 2 {
			blk := &u[2*(jj/4)+half]
			y0 := (*[8]float32)(blk[16*(jj%4):])
			y1 := (*[8]float32)(blk[16*(jj%4)+8:])
			p, q := (*[32]byte)(r0[32*half:]), (*[32]byte)(r1[32*half:])
			for o := 0; o <= 24; o += 8 {
				// Top left, top right, bottom left, bottom right, at byte
				// o of p and q: a step of 8 lets the compiler address
				// each byte from o and one register.
				k := o / 8
				r, g, b := p[o], p[o+1], p[o+2]
				y00 := yR[r] + yG[g] + yB[b]
				sr, sb := uint32(r), uint32(b)
				r, g, b = p[o+4], p[o+5], p[o+6]
				y01 := yR[r] + yG[g] + yB[b]
				sr, sb = sr+uint32(r), sb+uint32(b)
				r, g, b = q[o], q[o+1], q[o+2]
				y10 := yR[r] + yG[g] + yB[b]
				sr, sb = sr+uint32(r), sb+uint32(b)
				r, g, b = q[o+4], q[o+5], q[o+6]
				y11 := yR[r] + yG[g] + yB[b]
				sr, sb = sr+uint32(r), sb+uint32(b)
				y0[2*k], y0[2*k+1], y1[2*k], y1[2*k+1] = y00, y01, y10, y11
				// Cb and Cr of the mean of the four pixels, from the
				// differences of their B and R with their luminance:
				// T.871's sums of R, G and B rearranged as
				// Cb = (B-Y)/(2-2·0.114) and Cr = (R-Y)/(2-2·0.299).
				ys := y00 + y01 + y10 + y11 + 4*128
				cb[4*half+k] = (float32(sb) - ys) * (0.5 / (1 - 0.114) / 4)
				cr[4*half+k] = (float32(sr) - ys) * (0.5 / (1 - 0.299) / 4)
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

// writeBlock transforms, quantizes and entropy-codes one block of table t
// (0 luminance, 1 chrominance) and returns its DC coefficient.
func (e *encoder) writeBlock(blk *[64]float32, t int, prevDC int32) int32 {
	q := &e.q
	fdctQuant(blk, &e.recip[t], q)
	nz := q.nonzero()
	dc := &huffDC[t]
	ac := &huffAC[t]
	dc0 := q.at(0)
	n, extra := category(dc0 - prevDC)
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
		n, extra := category(q.at(k))
		s := run<<4 | int(n)
		e.emit(uint64(ac.code[s])<<n|uint64(extra), uint(ac.size[s])+uint(n))
		last = k
	}
	if last < 63 {
		e.emit(uint64(ac.code[0]), uint(ac.size[0])) // EOB
	}
	return dc0
}

// category returns the size category of v (T.81 F.1.2.1) and its extra
// bits: v itself when positive, v-1 in that many bits when negative. It
// has no branch: a coefficient's sign is as good as random.
func category(v int32) (uint32, uint32) {
	m := v >> 31 // all ones when v is negative
	n := uint32(bits.Len32(uint32((v ^ m) - m)))
	return n, uint32(v+m) & (1<<n - 1)
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

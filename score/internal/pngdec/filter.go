package pngdec

import (
	"encoding/binary"
	"fmt"
	"image"
)

// PNG filter types (PNG specification section 9.2).
const (
	ftNone = iota
	ftSub
	ftUp
	ftAverage
	ftPaeth
)

// buildImage unfilters raw, the decompressed rows each led by its filter
// type byte, and returns the image in the type image/png returns. For RGB
// and grey+alpha, pix is the image's buffer, with raw at its end.
func buildImage(raw, pix []byte, hdr header) (image.Image, error) {
	w, h, bpp := hdr.width, hdr.height, hdr.bpp
	rb := w * bpp
	stride := rb + 1
	rect := image.Rect(0, 0, w, h)
	switch hdr.colorType {
	case ctGray, ctRGBA:
		// Unfilter each row to its final place, y bytes (the filter
		// bytes before it) earlier in raw. The destination never reaches
		// a byte not yet read, nor the previous row, which serves as the
		// prediction source where it now lies.
		var prev []byte
		for y := range h {
			dst := raw[y*rb : y*rb+rb]
			if !unfilter(raw[y*stride], dst, raw[y*stride+1:y*stride+stride], prev, bpp) {
				return nil, filterError(raw[y*stride], y)
			}
			prev = dst
		}
		pix := raw[: h*rb : h*rb]
		if hdr.colorType == ctGray {
			return &image.Gray{Pix: pix, Stride: rb, Rect: rect}, nil
		}
		return &image.NRGBA{Pix: pix, Stride: rb, Rect: rect}, nil

	case ctRGB:
		// Row y of RGBA ends before row y+1 of raw starts (raw is 3w+1
		// bytes a row, h(w-1) bytes in), and within a row a pixel's RGBA
		// ends before the next pixel's RGB: expanding in order reads every
		// byte of raw before overwriting it.
		var prev []byte
		for y := range h {
			dst := pix[4*w*y : 4*w*y+4*w]
			if !unfilterRGB(raw[y*stride], dst, raw[y*stride+1:y*stride+stride], prev) {
				return nil, filterError(raw[y*stride], y)
			}
			prev = dst
		}
		return &image.RGBA{Pix: pix, Stride: 4 * w, Rect: rect}, nil

	default: // ctGrayAlpha
		// As for RGB, row y of NRGBA ends before row y+1 of raw; each row
		// is unfiltered into a scratch row first.
		rows := make([]byte, 2*rb)
		var prev []byte
		for y := range h {
			cur := rows[y%2*rb : y%2*rb+rb]
			if !unfilter(raw[y*stride], cur, raw[y*stride+1:y*stride+stride], prev, bpp) {
				return nil, filterError(raw[y*stride], y)
			}
			expandGrayAlpha(pix[4*w*y:4*w*y+4*w], cur)
			prev = cur
		}
		return &image.NRGBA{Pix: pix, Stride: 4 * w, Rect: rect}, nil
	}
}

func filterError(ft byte, y int) error {
	return fmt.Errorf("pngdec: bad filter type %d in row %d", ft, y)
}

// expandRGB writes the RGB pixels of src as opaque RGBA to dst.
func expandRGB(dst, src []byte) {
	n := len(src) / 3
	x := 0
	// Load four bytes for three: all but the last pixel have a byte
	// after them.
	for ; x < n-1; x++ {
		v := binary.LittleEndian.Uint32(src[3*x : 3*x+4])
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], v|0xff000000)
	}
	for ; x < n; x++ {
		s := src[3*x : 3*x+3]
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], rgba(uint32(s[0]), uint32(s[1]), uint32(s[2])))
	}
}

// unfilterRGB reverses filter ft on cur, a row of RGB pixels, and writes
// them to dst as opaque RGBA. prev is the previous row as written to dst,
// nil for the first row. dst may start before cur in the same buffer as
// long as each pixel's RGBA ends before the next pixel's RGB begins: every
// pixel is read before its RGBA is written. It reports false for an
// unknown filter type.
//
// Each filter has its own small loop, which keeps its state in registers;
// slices of constant length spare the bounds checks and pointer masking
// that open-ended ones cost.
func unfilterRGB(ft byte, dst, cur, prev []byte) bool {
	w := len(cur) / 3
	cur = cur[:3*w]
	dst = dst[:4*w]
	if prev == nil {
		if ft = firstRowFilter(ft); ft == ftAverage {
			rgbAverageFirst(dst, cur)
			return true
		}
	} else {
		prev = prev[:4*w]
	}
	switch ft {
	case ftNone:
		expandRGB(dst, cur)
	case ftSub:
		rgbSub(dst, cur)
	case ftUp:
		rgbUp(dst, cur, prev)
	case ftAverage:
		rgbAverage(dst, cur, prev)
	case ftPaeth:
		rgbPaeth(dst, cur, prev)
	default:
		return false
	}
	return true
}

// rgba packs an opaque pixel.
func rgba(r, g, b uint32) uint32 { return r&0xff | (g&0xff)<<8 | (b&0xff)<<16 | 0xff000000 }

func rgbSub(dst, cur []byte) {
	var r, g, b uint32
	for x := range len(cur) / 3 {
		s := cur[3*x : 3*x+3]
		r += uint32(s[0])
		g += uint32(s[1])
		b += uint32(s[2])
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], rgba(r, g, b))
	}
}

func rgbUp(dst, cur, prev []byte) {
	n := len(cur) / 3
	x := 0
	for ; x < n-1; x++ {
		// Four bytes for three: the fourth is the next pixel's red,
		// which the alpha replaces.
		v := addBytes(uint64(binary.LittleEndian.Uint32(cur[3*x:3*x+4])), uint64(binary.LittleEndian.Uint32(prev[4*x:4*x+4])))
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], uint32(v)|0xff000000)
	}
	for ; x < n; x++ {
		s := cur[3*x : 3*x+3]
		p := prev[4*x : 4*x+4]
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], rgba(uint32(s[0]+p[0]), uint32(s[1]+p[1]), uint32(s[2]+p[2])))
	}
}

func rgbAverageFirst(dst, cur []byte) {
	var r, g, b uint32
	for x := range len(cur) / 3 {
		s := cur[3*x : 3*x+3]
		r = uint32(s[0]) + r&0xff>>1
		g = uint32(s[1]) + g&0xff>>1
		b = uint32(s[2]) + b&0xff>>1
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], rgba(r, g, b))
	}
}

func rgbAverage(dst, cur, prev []byte) {
	var r, g, b uint32
	for x := range len(cur) / 3 {
		s := cur[3*x : 3*x+3]
		p := prev[4*x : 4*x+4]
		r = uint32(s[0]) + (r&0xff+uint32(p[0]))>>1
		g = uint32(s[1]) + (g&0xff+uint32(p[1]))>>1
		b = uint32(s[2]) + (b&0xff+uint32(p[2]))>>1
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], rgba(r, g, b))
	}
}

func rgbPaeth(dst, cur, prev []byte) {
	var r, g, b, ur, ug, ub byte // left pixel, upper-left pixel
	for x := range len(cur) / 3 {
		s := cur[3*x : 3*x+3]
		p := prev[4*x : 4*x+4]
		r = s[0] + paeth(r, p[0], ur)
		g = s[1] + paeth(g, p[1], ug)
		b = s[2] + paeth(b, p[2], ub)
		ur, ug, ub = p[0], p[1], p[2]
		binary.LittleEndian.PutUint32(dst[4*x:4*x+4], rgba(uint32(r), uint32(g), uint32(b)))
	}
}

// expandGrayAlpha writes the grey+alpha pixels of src as NRGBA to dst.
func expandGrayAlpha(dst, src []byte) {
	n := len(src) / 2
	dst = dst[:4*n]
	src = src[:2*n]
	for i := range n {
		s := src[2*i : 2*i+2 : 2*i+2]
		d := dst[4*i : 4*i+4 : 4*i+4]
		d[0], d[1], d[2], d[3] = s[0], s[0], s[0], s[1]
	}
}

// unfilter reverses filter type ft on one row of bpp-byte pixels. cur is
// the filtered row and dst, of the same length, receives the result: dst
// is cur itself or starts before it in the same buffer, so each byte of
// cur is read before a write can reach it. prev is the previous
// reconstructed row, nil for the first row (whose predecessor counts as
// zeros). It reports false for an unknown filter type.
func unfilter(ft byte, dst, cur, prev []byte, bpp int) bool {
	if prev == nil {
		ft = firstRowFilter(ft)
	}
	switch ft {
	case ftNone:
		copy(dst, cur)
	case ftSub:
		unfilterSub(dst, cur, bpp)
	case ftUp:
		unfilterUp(dst, cur, prev)
	case ftAverage:
		if prev == nil {
			unfilterAverageFirst(dst, cur, bpp)
		} else {
			unfilterAverage(dst, cur, prev, bpp)
		}
	case ftPaeth:
		unfilterPaeth(dst, cur, prev, bpp)
	default:
		return false
	}
	return true
}

// firstRowFilter returns the filter type that reverses ft on the first
// row, whose predecessor counts as zeros: with a zero row above, Up is
// None, and Paeth always predicts the left byte, which is Sub.
func firstRowFilter(ft byte) byte {
	switch ft {
	case ftUp:
		return ftNone
	case ftPaeth:
		return ftSub
	}
	return ft
}

// addBytes adds the eight bytes of x and y lane by lane, modulo 256.
func addBytes(x, y uint64) uint64 {
	const hi = 0x8080808080808080
	return ((x &^ hi) + (y &^ hi)) ^ ((x ^ y) & hi)
}

func unfilterSub(dst, cur []byte, bpp int) {
	n := len(cur)
	dst = dst[:n]
	switch bpp {
	case 1:
		var a byte
		for i := range n {
			a += cur[i]
			dst[i] = a
		}
	case 2:
		var a, b byte
		for i := 0; i+2 <= n; i += 2 {
			s := cur[i : i+2 : i+2]
			a += s[0]
			b += s[1]
			d := dst[i : i+2 : i+2]
			d[0], d[1] = a, b
		}
	case 3:
		var a, b, c byte
		for i := 0; i+3 <= n; i += 3 {
			s := cur[i : i+3 : i+3]
			a += s[0]
			b += s[1]
			c += s[2]
			d := dst[i : i+3 : i+3]
			d[0], d[1], d[2] = a, b, c
		}
	default:
		var a uint32
		for i := 0; i+4 <= n; i += 4 {
			a = uint32(addBytes(uint64(a), uint64(binary.LittleEndian.Uint32(cur[i:]))))
			binary.LittleEndian.PutUint32(dst[i:], a)
		}
	}
}

func unfilterUp(dst, cur, prev []byte) {
	n := len(cur)
	dst = dst[:n]
	prev = prev[:n]
	i := 0
	for ; i+8 <= n; i += 8 {
		// Windows of constant length: no bounds check inside the loop
		// (1.5–1.8× the open-ended slices, BenchmarkUnfilterRows/up).
		c, p, d := cur[i:i+8:i+8], prev[i:i+8:i+8], dst[i:i+8:i+8]
		binary.LittleEndian.PutUint64(d, addBytes(binary.LittleEndian.Uint64(c), binary.LittleEndian.Uint64(p)))
	}
	for ; i < n; i++ {
		dst[i] = cur[i] + prev[i]
	}
}

// unfilterAverage reverses the Average filter. RGB and RGBA rows, the
// common ones, have loops that keep the left pixel in registers.
func unfilterAverage(dst, cur, prev []byte, bpp int) {
	n := len(cur)
	dst = dst[:n]
	prev = prev[:n]
	switch {
	case bpp == 3 && n%3 == 0:
		var a0, a1, a2 uint32 // the left pixel, zero before the first
		for i := 0; i < n; i += 3 {
			s, p, d := cur[i:i+3:i+3], prev[i:i+3:i+3], dst[i:i+3:i+3]
			a0 = uint32(s[0]) + (a0&0xff+uint32(p[0]))>>1
			a1 = uint32(s[1]) + (a1&0xff+uint32(p[1]))>>1
			a2 = uint32(s[2]) + (a2&0xff+uint32(p[2]))>>1
			d[0], d[1], d[2] = byte(a0), byte(a1), byte(a2)
		}
	case bpp == 4 && n%4 == 0:
		var a0, a1, a2, a3 uint32
		for i := 0; i < n; i += 4 {
			s, p, d := cur[i:i+4:i+4], prev[i:i+4:i+4], dst[i:i+4:i+4]
			a0 = uint32(s[0]) + (a0&0xff+uint32(p[0]))>>1
			a1 = uint32(s[1]) + (a1&0xff+uint32(p[1]))>>1
			a2 = uint32(s[2]) + (a2&0xff+uint32(p[2]))>>1
			a3 = uint32(s[3]) + (a3&0xff+uint32(p[3]))>>1
			d[0], d[1], d[2], d[3] = byte(a0), byte(a1), byte(a2), byte(a3)
		}
	default:
		for i := 0; i < bpp && i < n; i++ {
			dst[i] = cur[i] + prev[i]/2
		}
		for i := bpp; i < n; i++ {
			dst[i] = cur[i] + uint8((int(dst[i-bpp])+int(prev[i]))/2)
		}
	}
}

// unfilterAverageFirst is Average on the first row: the byte above is 0.
func unfilterAverageFirst(dst, cur []byte, bpp int) {
	n := len(cur)
	dst = dst[:n]
	copy(dst[:bpp], cur[:bpp])
	for i := bpp; i < n; i++ {
		dst[i] = cur[i] + dst[i-bpp]/2
	}
}

// paeth is the Paeth predictor of the PNG specification (section 9.4) for
// left a, above b and upper-left c. The spec picks whichever of a, b, c is
// nearest p = a+b-c, preferring a, then b, on ties. This equivalent form
// (from stb_image) needs no branches: with lo <= hi the two of a and b, p
// is nearest hi when thresh = 3c-(a+b) <= lo, nearest lo when hi <= thresh,
// and nearest c otherwise. TestPaethExhaustive checks all 2^24 inputs
// against the specification's form.
//
// The selections are on ints: the compiler turns them into conditional
// moves, which it does not do for bytes, and a branch on noisy pixels
// mispredicts half the time.
func paeth(a, b, c byte) byte {
	ia, ib, ic := int(a), int(b), int(c)
	thresh := 3*ic - ia - ib
	lo, hi := min(ia, ib), max(ia, ib)
	t := ic
	if hi <= thresh {
		t = lo
	}
	if thresh <= lo {
		t = hi
	}
	return byte(t)
}

// unfilterPaeth reverses the Paeth filter.
func unfilterPaeth(dst, cur, prev []byte, bpp int) {
	n := len(cur)
	dst = dst[:n]
	prev = prev[:n]
	for i := 0; i < bpp && i < n; i++ {
		// Left and upper-left are zero: the predictor is the byte above.
		dst[i] = cur[i] + prev[i]
	}
	for i := bpp; i < n; i++ {
		dst[i] = cur[i] + paeth(dst[i-bpp], prev[i], prev[i-bpp])
	}
}

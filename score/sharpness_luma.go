package score

import (
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// Luma is Rec.601 in 8-bit fixed point, weights 77, 150 and 29 over 256
// (each within 0.002 of 0.299, 0.587 and 0.114), kept to 1/16 of a level
// rather than rounded to a whole one as OpenCV's cvtColor does:
//
//	Y16 = (77·R + 150·G + 29·B + 8) >> 4   // 0..4080, luma×16
//
// Rounding to whole levels adds about 1.7 to the variance of the Laplacian
// of any image; at 1/16 of a level it adds under 0.01. Eight-bit weights
// let one 64-bit multiply weigh R and B of two pixels at once (see luma2).
const (
	lumaWR    = 77
	lumaWG    = 150
	lumaWB    = 29
	lumaScale = 16 // Y16 / lumaScale is luma on the 0..255 scale
)

// luma16 is the fixed-point luma of one 8-bit RGB pixel.
func luma16(r, g, b byte) uint16 {
	return uint16((lumaWR*uint32(r) + lumaWG*uint32(g) + lumaWB*uint32(b) + 8) >> 4)
}

// lumaRowFunc returns the luma of source row y (0-based within the
// image's bounds) as little-endian uint16 values, two bytes per pixel:
// written into buf (2w bytes), or where they already lie (a Frame's luma
// plane). Readers use the slice it returns and never write to it.
type lumaRowFunc func(y int, buf []byte) []byte

// lumaRowsOf returns img's width, height and a row reader. The common
// decoded types are read in place; any other type is converted to NRGBA
// once. Alpha is ignored: a generated image is opaque, and for RGBA the
// premultiplied channels of an opaque pixel are its colour.
func lumaRowsOf(img image.Image) (w, h int, row lumaRowFunc) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.NRGBA:
		return w, h, func(y int, dst []byte) []byte { lumaRGBARow(dst, m.Pix[y*m.Stride:y*m.Stride+4*w]); return dst }
	case *image.RGBA:
		return w, h, func(y int, dst []byte) []byte { lumaRGBARow(dst, m.Pix[y*m.Stride:y*m.Stride+4*w]); return dst }
	case *image.Gray:
		return w, h, func(y int, dst []byte) []byte { lumaGrayRow(dst, m.Pix[y*m.Stride:y*m.Stride+w]); return dst }
	case *image.YCbCr:
		// JPEG's Y plane is full-range Rec.601 luma already.
		return w, h, func(y int, dst []byte) []byte { lumaGrayRow(dst, m.Y[y*m.YStride:y*m.YStride+w]); return dst }
	}
	n := imaging.Clone(img)
	return w, h, func(y int, dst []byte) []byte { lumaRGBARow(dst, n.Pix[y*n.Stride:y*n.Stride+4*w]); return dst }
}

// lumaRGBARow converts a row of 4-byte RGBA or NRGBA pixels to Y16 values
// in dst (two bytes per pixel, little-endian), four pixels per step.
func lumaRGBARow(dst, src []byte) {
	n := len(src) / 16 // whole steps
	s4, d4 := src[:16*n], dst[:8*n]
	for i := range n {
		s := s4[16*i : 16*i+16 : 16*i+16]
		a := luma2(binary.LittleEndian.Uint64(s[0:8]))
		b := luma2(binary.LittleEndian.Uint64(s[8:16]))
		binary.LittleEndian.PutUint64(d4[8*i:8*i+8], a|b<<32)
	}
	for x := 4 * n; x < len(src)/4; x++ {
		p := src[4*x : 4*x+3 : 4*x+3]
		binary.LittleEndian.PutUint16(dst[2*x:2*x+2], luma16(p[0], p[1], p[2]))
	}
}

// lumaRGBRow converts a row of 3-byte RGB pixels to Y16 values in dst,
// four pixels per step with luma2: two 8-byte loads cover the step's 12
// bytes, and each pixel's three bytes are moved into the four-byte lanes
// luma2 reads (its alpha lane is ignored). The last few pixels are done
// one by one.
func lumaRGBRow(dst, src []byte) {
	w := len(src) / 3
	n := w / 4 // whole steps
	s12, d8 := src[:12*n], dst[:8*n]
	const px = 0xFFFFFF
	for i := range n {
		s := s12[12*i : 12*i+12 : 12*i+12]
		u0 := binary.LittleEndian.Uint64(s[0:8])  // R0 G0 B0 R1 G1 B1 R2 G2
		u1 := binary.LittleEndian.Uint64(s[4:12]) // G1 B1 R2 G2 B2 R3 G3 B3
		a := luma2(u0&px | (u0>>24&px)<<32)
		b := luma2(u1>>16&px | (u1>>40)<<32)
		binary.LittleEndian.PutUint64(d8[8*i:8*i+8], a|b<<32)
	}
	for x := 4 * n; x < w; x++ {
		p := src[3*x : 3*x+3 : 3*x+3]
		binary.LittleEndian.PutUint16(dst[2*x:2*x+2], luma16(p[0], p[1], p[2]))
	}
}

// luma2 returns the Y16 values of the two RGBA pixels in v (little-endian
// bytes R0 G0 B0 A0 R1 G1 B1 A1) packed as y0 | y1<<16.
//
// In 16-bit lanes, v&rb is R0, B0, R1, B1; times wB + wR·2¹⁶ it puts
// wR·R0 + wB·B0 in lane 1 and wR·R1 + wB·B1 in lane 3. G0 and G1, in
// 32-bit lanes, times wG·2¹⁶ land in lanes 1 and 3 too. Every lane stays
// below 2¹⁶ (the weights sum to 256), so none carries into the next, and
// lanes 1 and 3 end up holding 256·Y + 8 for the two pixels.
func luma2(v uint64) uint64 {
	const (
		rb    = 0x00FF00FF_00FF00FF
		g     = 0x000000FF_000000FF
		round = 8<<16 | 8<<48
	)
	t := (v&rb)*(lumaWB|lumaWR<<16) + (v>>8&g)*(lumaWG<<16) + round
	return t>>20&0xFFF | t>>52<<16
}

// lumaGrayRow widens 8-bit luma to Y16 values in dst.
func lumaGrayRow(dst, src []byte) {
	dst = dst[:2*len(src)]
	for x, v := range src {
		binary.LittleEndian.PutUint16(dst[2*x:2*x+2], uint16(v)*lumaScale)
	}
}

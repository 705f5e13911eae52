package score

import (
	"encoding/binary"
	"image"

	"github.com/disintegration/imaging"
)

// Luma is computed as OpenCV's cvtColor(COLOR_RGB2GRAY) does for 8-bit
// images, with Rec.601 weights in 14-bit fixed point that sum to 1<<14,
// but kept to 1/16 of a level instead of being rounded to a whole one:
//
//	Y16 = (4899·R + 9617·G + 1868·B + 512) >> 10   // 0..4080, luma×16
//
// Rounding to whole levels (as OpenCV does) adds about 1.7 to the variance
// of the Laplacian of any image; at 1/16 of a level it adds under 0.01.
const (
	lumaWR    = 4899
	lumaWG    = 9617
	lumaWB    = 1868
	lumaShift = 10 // 14-bit weights, 4 fractional bits kept
	lumaRound = 1 << (lumaShift - 1)
	lumaScale = 16 // Y16 / lumaScale is luma on the 0..255 scale
)

// luma16 is the fixed-point luma of one 8-bit RGB pixel.
func luma16(r, g, b byte) uint16 {
	return uint16((lumaWR*uint32(r) + lumaWG*uint32(g) + lumaWB*uint32(b) + lumaRound) >> lumaShift)
}

// lumaRowFunc writes the luma of source row y (0-based within the image's
// bounds) into dst as little-endian uint16 values, two bytes per pixel.
type lumaRowFunc func(y int, dst []byte)

// lumaRowsOf returns img's width, height and a row reader. The common
// decoded types are read in place; any other type is converted to NRGBA
// once. Alpha is ignored: a generated image is opaque, and for RGBA the
// premultiplied channels of an opaque pixel are its colour.
func lumaRowsOf(img image.Image) (w, h int, row lumaRowFunc) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.NRGBA:
		return w, h, func(y int, dst []byte) { lumaRGBARow(dst, m.Pix[y*m.Stride:y*m.Stride+4*w]) }
	case *image.RGBA:
		return w, h, func(y int, dst []byte) { lumaRGBARow(dst, m.Pix[y*m.Stride:y*m.Stride+4*w]) }
	case *image.Gray:
		return w, h, func(y int, dst []byte) { lumaGrayRow(dst, m.Pix[y*m.Stride:y*m.Stride+w]) }
	case *image.YCbCr:
		// JPEG's Y plane is full-range Rec.601 luma already.
		return w, h, func(y int, dst []byte) { lumaGrayRow(dst, m.Y[y*m.YStride:y*m.YStride+w]) }
	}
	n := imaging.Clone(img)
	return w, h, func(y int, dst []byte) { lumaRGBARow(dst, n.Pix[y*n.Stride:y*n.Stride+4*w]) }
}

// lumaRGBARow converts a row of 4-byte RGBA or NRGBA pixels to Y16 values
// in dst (two bytes per pixel, little-endian). Four pixels per step: each
// 64-bit load holds two pixels, whose channels are multiplied in 32-bit
// lanes of one register (every lane stays below 1<<22, so lanes never
// carry into each other).
func lumaRGBARow(dst, src []byte) {
	n := len(src) / 4
	dst = dst[:2*n]
	x := 0
	for ; x+4 <= n; x += 4 {
		s := src[4*x : 4*x+16 : 4*x+16]
		a := luma2(binary.LittleEndian.Uint64(s[0:8]))
		b := luma2(binary.LittleEndian.Uint64(s[8:16]))
		binary.LittleEndian.PutUint64(dst[2*x:2*x+8], a|b<<32)
	}
	for ; x < n; x++ {
		p := src[4*x : 4*x+3 : 4*x+3]
		binary.LittleEndian.PutUint16(dst[2*x:2*x+2], luma16(p[0], p[1], p[2]))
	}
}

// luma2 returns the Y16 values of the two RGBA pixels in v (little-endian
// bytes R0 G0 B0 A0 R1 G1 B1 A1) packed as y0 | y1<<16.
func luma2(v uint64) uint64 {
	const lanes = 0x000000FF_000000FF // byte 0 of each 32-bit lane
	s := (v&lanes)*lumaWR + (v>>8&lanes)*lumaWG + (v>>16&lanes)*lumaWB + lumaRound*(1|1<<32)
	return s>>lumaShift&0xFFFF | s>>(32+lumaShift)<<16
}

// lumaGrayRow widens 8-bit luma to Y16 values in dst.
func lumaGrayRow(dst, src []byte) {
	dst = dst[:2*len(src)]
	for x, v := range src {
		binary.LittleEndian.PutUint16(dst[2*x:2*x+2], uint16(v)*lumaScale)
	}
}

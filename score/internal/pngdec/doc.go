// Package pngdec is a fast decoder for the common kind of PNG: 8-bit,
// non-interlaced grey, grey+alpha, RGB and RGBA images, as image
// generators write them. It exists for score.Decode's hot path, where
// image/png spends most of its time inflating through an io.ByteReader;
// pngdec decodes a file held in memory with its own table-driven DEFLATE
// decoder writing straight into one buffer of the exact image size.
//
// Decode returns pixel-for-pixel what image/png returns, in the same
// image types, and checks what image/png checks (chunk CRCs, chunk order,
// the zlib header and Adler-32, the amount of pixel data). For valid PNGs
// outside its fast path (interlaced, palette, 16-bit and sub-byte depths,
// tRNS transparency on grey or RGB) it returns an error wrapping
// ErrUnsupported, and the caller falls back to image/png.
package pngdec

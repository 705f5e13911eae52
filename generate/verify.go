package generate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// DefaultMaxImageSide is the largest width or height VerifyImage accepts
// when the caller gives no limit: far above what diffusion models draw, far
// below what would make a decoder allocate gigabytes.
const DefaultMaxImageSide = 16384

// ImageError says why downloaded bytes are not an intact image. It carries
// no error kind: the fleet fetches the image again and, when it stays bad,
// fails the attempt as comfybatch.ErrTransient (another fetch or another
// instance may well succeed).
type ImageError struct {
	// Format is "png", "jpeg", "webp", "gif" or "" when the bytes match no
	// known signature.
	Format string
	// Offset is where in the bytes the problem was found.
	Offset int
	Reason string
}

// Error names the format, the offset and the problem.
func (e *ImageError) Error() string {
	f := e.Format
	if f == "" {
		f = "image"
	}
	return fmt.Sprintf("%s damaged at byte %d: %s", f, e.Offset, e.Reason)
}

// VerifyImage checks that data is a whole image without decoding it, at a
// small fraction of a decode's cost. maxSide bounds the declared width and
// height (<= 0 means DefaultMaxImageSide). The checks per format:
//
//   - PNG: the signature; every chunk's length and CRC-32 up to IEND; IHDR
//     first, 13 bytes, with a width and height in 1..maxSide and a valid
//     bit depth, color type, compression, filter and interlace method;
//     PLTE before IDAT for palette images; at least one IDAT; and the data
//     ends exactly after IEND.
//   - JPEG: SOI, then every marker segment's length up to the first SOS; a
//     SOF with a width and height in 1..maxSide before it; the entropy-coded
//     data is scanned for markers (progressive files have several scans)
//     until EOI. Bytes after EOI are allowed (some writers append metadata).
//     JPEG has no checksum: a corrupt scan that keeps its markers passes.
//   - WebP: the RIFF header, whose size must match the data; every chunk's
//     size up to the end; a VP8, VP8L or VP8X first chunk whose declared
//     canvas is within 1..maxSide. WebP has no checksum either.
//   - GIF: the header, a logical screen within 1..maxSide, every block's
//     sub-blocks up to the trailer, at least one image, and the trailer
//     (0x3B) as the last byte. The LZW data is not decoded.
//
// Anything else is accepted as long as it has at least 12 bytes (no image
// format is smaller, and a cut signature must not pass as an unknown
// format): the fleet cannot tell a truncated file of a format it does not
// know, and the scorers' decoder rejects it later.
func VerifyImage(data []byte, maxSide int) error {
	if maxSide <= 0 {
		maxSide = DefaultMaxImageSide
	}
	switch {
	case len(data) < 12:
		return &ImageError{Offset: len(data), Reason: fmt.Sprintf("%d bytes are too few for an image", len(data))}
	case bytes.HasPrefix(data, pngSignature):
		return verifyPNG(data, maxSide)
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return verifyJPEG(data, maxSide)
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return verifyWebP(data, maxSide)
	case bytes.HasPrefix(data, []byte("GIF87a")) || bytes.HasPrefix(data, []byte("GIF89a")):
		return verifyGIF(data, maxSide)
	}
	return nil
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// verifyPNG walks the chunks (PNG specification §5.3, §11.2).
func verifyPNG(data []byte, maxSide int) error {
	bad := func(off int, format string, args ...any) error {
		return &ImageError{Format: "png", Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	off := len(pngSignature)
	first, plte, idat := true, false, false
	var colorType byte
	for {
		if len(data)-off < 12 {
			return bad(off, "ends without IEND (%d bytes left, a chunk needs 12)", len(data)-off)
		}
		n := binary.BigEndian.Uint32(data[off:])
		if n > 1<<31-1 || int64(n) > int64(len(data)-off-12) {
			return bad(off, "chunk %q declares %d bytes, only %d left", printable(data[off+4:off+8]), n, len(data)-off-12)
		}
		typ := data[off+4 : off+8]
		body := data[off+8 : off+8+int(n)]
		want := binary.BigEndian.Uint32(data[off+8+int(n):])
		if got := crc32.ChecksumIEEE(data[off+4 : off+8+int(n)]); got != want {
			return bad(off, "chunk %q CRC %08x, want %08x", printable(typ), got, want)
		}
		switch string(typ) {
		case "IHDR":
			if !first {
				return bad(off, "second IHDR")
			}
			if n != 13 {
				return bad(off, "IHDR of %d bytes, want 13", n)
			}
			w, h := binary.BigEndian.Uint32(body), binary.BigEndian.Uint32(body[4:])
			if w == 0 || h == 0 || w > uint32(maxSide) || h > uint32(maxSide) {
				return bad(off, "declared size %dx%d outside 1..%d", w, h, maxSide)
			}
			depth, ct := body[8], body[9]
			if !pngDepthOK(ct, depth) {
				return bad(off, "bit depth %d with color type %d", depth, ct)
			}
			if body[10] != 0 || body[11] != 0 || body[12] > 1 {
				return bad(off, "compression %d, filter %d, interlace %d", body[10], body[11], body[12])
			}
			colorType = ct
		case "PLTE":
			plte = true
		case "IDAT":
			if colorType == 3 && !plte {
				return bad(off, "palette image without PLTE before IDAT")
			}
			idat = true
		case "IEND":
			end := off + 12 + int(n)
			switch {
			case !idat:
				return bad(off, "IEND without IDAT")
			case n != 0:
				return bad(off, "IEND of %d bytes", n)
			case end != len(data):
				return bad(end, "%d bytes after IEND", len(data)-end)
			}
			return nil
		}
		if first && string(typ) != "IHDR" {
			return bad(off, "first chunk is %q, want IHDR", printable(typ))
		}
		first = false
		off += 12 + int(n)
	}
}

// pngDepthOK reports whether a bit depth is allowed for a color type
// (PNG specification, table 11.1).
func pngDepthOK(colorType, depth byte) bool {
	switch colorType {
	case 0:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case 3:
		return depth == 1 || depth == 2 || depth == 4 || depth == 8
	case 2, 4, 6:
		return depth == 8 || depth == 16
	}
	return false
}

// printable keeps a chunk type readable in a message when it is garbage.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// verifyJPEG walks the marker segments (ITU T.81 §B.1).
func verifyJPEG(data []byte, maxSide int) error {
	bad := func(off int, format string, args ...any) error {
		return &ImageError{Format: "jpeg", Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	off, frame := 2, false
	for {
		// Markers may be preceded by fill bytes 0xFF.
		for off < len(data) && data[off] == 0xFF && off+1 < len(data) && data[off+1] == 0xFF {
			off++
		}
		if len(data)-off < 2 {
			return bad(off, "ends without EOI")
		}
		if data[off] != 0xFF {
			return bad(off, "marker expected, found %#02x", data[off])
		}
		m := data[off+1]
		switch {
		case m == 0xD9: // EOI
			if !frame {
				return bad(off, "EOI before any frame")
			}
			return nil
		case m == 0x01 || m >= 0xD0 && m <= 0xD7: // TEM, RSTn: no length
			off += 2
			continue
		}
		if len(data)-off < 4 {
			return bad(off, "segment %#02x cut", m)
		}
		n := int(binary.BigEndian.Uint16(data[off+2:]))
		if n < 2 || n > len(data)-off-2 {
			return bad(off, "segment %#02x declares %d bytes, %d left", m, n, len(data)-off-2)
		}
		seg := data[off+4 : off+2+n]
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC { // SOFn
			if len(seg) < 5 {
				return bad(off, "SOF of %d bytes", len(seg))
			}
			h, w := int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:]))
			if w == 0 || h == 0 || w > maxSide || h > maxSide {
				return bad(off, "declared size %dx%d outside 1..%d", w, h, maxSide)
			}
			frame = true
		}
		off += 2 + n
		if m != 0xDA { // not SOS
			continue
		}
		if !frame {
			return bad(off, "scan before any frame")
		}
		// Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte)
		// or by RSTn inside the scan; any other marker ends it.
		for {
			i := bytes.IndexByte(data[off:], 0xFF)
			if i < 0 || off+i+1 >= len(data) {
				return bad(len(data), "scan data ends without EOI")
			}
			off += i
			if next := data[off+1]; next == 0x00 || next >= 0xD0 && next <= 0xD7 {
				off += 2
				continue
			}
			break
		}
	}
}

// verifyWebP walks the RIFF chunks (RFC 9649 §2).
func verifyWebP(data []byte, maxSide int) error {
	bad := func(off int, format string, args ...any) error {
		return &ImageError{Format: "webp", Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	size := int64(binary.LittleEndian.Uint32(data[4:]))
	if size+8 != int64(len(data)) && size+9 != int64(len(data)) { // a writer may pad to even
		return bad(4, "RIFF declares %d bytes, the data has %d", size+8, len(data))
	}
	off := 12
	first := true
	for off < int(size+8) {
		if int(size+8)-off < 8 {
			return bad(off, "chunk header cut")
		}
		n := int64(binary.LittleEndian.Uint32(data[off+4:]))
		if n > int64(len(data)-off-8) {
			return bad(off, "chunk %q declares %d bytes, %d left", printable(data[off:off+4]), n, len(data)-off-8)
		}
		body := data[off+8 : off+8+int(n)]
		if first {
			w, h, err := webpSize(string(data[off:off+4]), body)
			if err != "" {
				return bad(off, "%s", err)
			}
			if w == 0 || h == 0 || w > maxSide || h > maxSide {
				return bad(off, "declared size %dx%d outside 1..%d", w, h, maxSide)
			}
			first = false
		}
		off += 8 + int(n) + int(n&1)
	}
	if first {
		return bad(off, "no image chunk")
	}
	return nil
}

// webpSize reads the canvas size from the first chunk.
func webpSize(fourCC string, b []byte) (w, h int, problem string) {
	switch fourCC {
	case "VP8X":
		if len(b) < 10 {
			return 0, 0, "VP8X chunk cut"
		}
		w = int(b[4]) | int(b[5])<<8 | int(b[6])<<16
		h = int(b[7]) | int(b[8])<<8 | int(b[9])<<16
		return w + 1, h + 1, ""
	case "VP8L":
		if len(b) < 5 || b[0] != 0x2F {
			return 0, 0, "VP8L signature missing"
		}
		v := binary.LittleEndian.Uint32(b[1:])
		return int(v&0x3FFF) + 1, int(v>>14&0x3FFF) + 1, ""
	case "VP8 ":
		if len(b) < 10 || b[3] != 0x9D || b[4] != 0x01 || b[5] != 0x2A {
			return 0, 0, "VP8 start code missing"
		}
		return int(binary.LittleEndian.Uint16(b[6:]) & 0x3FFF), int(binary.LittleEndian.Uint16(b[8:]) & 0x3FFF), ""
	}
	return 0, 0, fmt.Sprintf("first chunk is %q, want VP8, VP8L or VP8X", printable([]byte(fourCC)))
}

// verifyGIF walks the blocks (GIF89a §17-§27): the logical screen, the
// color tables, every extension and image with their data sub-blocks, and
// the trailer, which must be the last byte.
func verifyGIF(data []byte, maxSide int) error {
	bad := func(off int, format string, args ...any) error {
		return &ImageError{Format: "gif", Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if len(data) < 13 {
		return bad(len(data), "header cut")
	}
	w, h := int(binary.LittleEndian.Uint16(data[6:])), int(binary.LittleEndian.Uint16(data[8:]))
	if w == 0 || h == 0 || w > maxSide || h > maxSide {
		return bad(6, "declared size %dx%d outside 1..%d", w, h, maxSide)
	}
	off := 13
	if flags := data[10]; flags&0x80 != 0 {
		off += 3 << (flags&7 + 1)
	}
	// subBlocks skips data sub-blocks up to their terminator.
	subBlocks := func(off int) (int, error) {
		for {
			if off >= len(data) {
				return off, bad(off, "data sub-blocks cut")
			}
			n := int(data[off])
			off++
			if n == 0 {
				return off, nil
			}
			off += n
		}
	}
	images := 0
	for {
		if off >= len(data) {
			return bad(off, "ends without the trailer")
		}
		var err error
		switch data[off] {
		case 0x3B:
			switch {
			case images == 0:
				return bad(off, "no image")
			case off != len(data)-1:
				return bad(off+1, "%d bytes after the trailer", len(data)-off-1)
			}
			return nil
		case 0x21: // extension: label, then sub-blocks
			off, err = subBlocks(off + 2)
		case 0x2C: // image descriptor, local color table, LZW code size, sub-blocks
			if len(data)-off < 11 {
				return bad(off, "image descriptor cut")
			}
			flags := data[off+9]
			off += 10
			if flags&0x80 != 0 {
				off += 3 << (flags&7 + 1)
			}
			off, err = subBlocks(off + 1)
			images++
		default:
			return bad(off, "unknown block %#02x", data[off])
		}
		if err != nil {
			return err
		}
	}
}

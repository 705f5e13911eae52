package pngdec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"math"
)

// ErrUnsupported is returned, possibly wrapped, for a PNG this package does
// not decode although image/png may: interlaced images, palette images,
// bit depths other than 8, a tRNS chunk on a grey or truecolour image, and
// a few oddities where image/png's verdict depends on its internals. The
// caller should decode such data with image/png instead.
var ErrUnsupported = errors.New("pngdec: unsupported PNG (decode with image/png)")

const pngSignature = "\x89PNG\r\n\x1a\n"

// PNG colour types.
const (
	ctGray      = 0
	ctRGB       = 2
	ctPalette   = 3
	ctGrayAlpha = 4
	ctRGBA      = 6
)

// Chunk order stages, as image/png tracks them.
const (
	stStart = iota
	stIHDR
	stPLTE
	stIDAT
)

// header is the content of an IHDR chunk that Decode supports.
type header struct {
	width, height int
	colorType     byte
	bpp           int // bytes per pixel
}

// span is one chunk's data within the file.
type span struct{ start, end int }

func unsupported(format string, args ...any) error {
	return fmt.Errorf("pngdec: "+format+": %w", append(args, ErrUnsupported)...)
}

// Decode decodes a whole PNG file held in data. It returns the same image
// image/png returns for the same data: *image.Gray for 8-bit grey,
// *image.RGBA for 8-bit truecolour, *image.NRGBA for 8-bit grey+alpha and
// truecolour+alpha. For other valid PNGs it returns an error wrapping
// ErrUnsupported; corrupt or truncated data (bad signature, chunk CRC,
// chunk order, zlib or DEFLATE stream, Adler-32, filter type, or the wrong
// amount of pixel data) is an ordinary error. Decode never allocates more
// than the header's image size needs, and fails early when the compressed
// data is too short to hold it.
func Decode(data []byte) (image.Image, error) {
	hdr, run, err := parse(data)
	if err != nil {
		return nil, err
	}
	return decodePixels(data, hdr, run)
}

// parse reads the chunks of data up to IEND and returns the header and
// the first run of consecutive IDAT chunks, checking every chunk's CRC and
// their order.
func parse(data []byte) (header, []span, error) {
	if len(data) < len(pngSignature) || string(data[:len(pngSignature)]) != pngSignature {
		return header{}, nil, errors.New("pngdec: not a PNG file")
	}
	var (
		hdr   header
		stage = stStart
		run   []span // the first run of consecutive IDAT chunks
	)
	p := len(pngSignature)
	for {
		if len(data)-p < 8 {
			return header{}, nil, fmt.Errorf("pngdec: truncated chunk header at byte %d", p)
		}
		length := binary.BigEndian.Uint32(data[p:])
		typ := data[p+4 : p+8]
		body := p + 8
		end := int64(body) + int64(length) // chunk data end; the CRC follows
		if end+4 > int64(len(data)) {
			return header{}, nil, fmt.Errorf("pngdec: truncated %q chunk at byte %d", typ, p)
		}
		next := int(end) + 4
		crcOK := crc32.ChecksumIEEE(data[p+4:end]) == binary.BigEndian.Uint32(data[end:])

		switch string(typ) {
		case "IHDR":
			if stage != stStart {
				return header{}, nil, errors.New("pngdec: chunk out of order: second IHDR")
			}
			if length != 13 {
				return header{}, nil, fmt.Errorf("pngdec: IHDR length %d, want 13", length)
			}
			if !crcOK {
				return header{}, nil, errors.New("pngdec: IHDR checksum mismatch")
			}
			var err error
			if hdr, err = parseIHDR(data[body:end]); err != nil {
				return header{}, nil, err
			}
			stage = stIHDR

		case "PLTE":
			if stage != stIHDR {
				return header{}, nil, errors.New("pngdec: chunk out of order: PLTE")
			}
			// Palette images are ErrUnsupported at IHDR; truecolour images
			// may carry a suggested palette, which image/png ignores.
			if np := length / 3; length%3 != 0 || np == 0 || np > 256 {
				return header{}, nil, fmt.Errorf("pngdec: bad PLTE length %d", length)
			}
			if hdr.colorType != ctRGB && hdr.colorType != ctRGBA {
				return header{}, nil, errors.New("pngdec: PLTE in a grey image")
			}
			if !crcOK {
				return header{}, nil, errors.New("pngdec: PLTE checksum mismatch")
			}
			stage = stPLTE

		case "tRNS":
			switch {
			case stage == stStart:
				return header{}, nil, errors.New("pngdec: chunk out of order: tRNS before IHDR")
			case hdr.colorType == ctGray || hdr.colorType == ctRGB:
				// image/png then returns *image.NRGBA with transparency.
				return header{}, nil, unsupported("tRNS in colour type %d", hdr.colorType)
			default:
				return header{}, nil, errors.New("pngdec: tRNS in an image with an alpha channel")
			}

		case "IDAT":
			if stage == stStart {
				return header{}, nil, errors.New("pngdec: chunk out of order: IDAT before IHDR")
			}
			if stage == stIDAT {
				// A later IDAT run: image/png ignores it, as below.
				if length > 0x7fffffff {
					return header{}, nil, fmt.Errorf("pngdec: bad chunk length %d", length)
				}
				if !crcOK {
					return header{}, nil, errors.New("pngdec: IDAT checksum mismatch")
				}
				break
			}
			if !crcOK {
				return header{}, nil, errors.New("pngdec: IDAT checksum mismatch")
			}
			stage = stIDAT
			run = append(run, span{body, int(end)})
			// The pixel data continues into directly following IDATs.
			for len(data)-next >= 8 && string(data[next+4:next+8]) == "IDAT" {
				q := next
				body := q + 8
				end := int64(body) + int64(binary.BigEndian.Uint32(data[q:]))
				if end+4 > int64(len(data)) {
					return header{}, nil, fmt.Errorf("pngdec: truncated IDAT chunk at byte %d", q)
				}
				if crc32.ChecksumIEEE(data[q+4:end]) != binary.BigEndian.Uint32(data[end:]) {
					return header{}, nil, errors.New("pngdec: IDAT checksum mismatch")
				}
				run = append(run, span{body, int(end)})
				next = int(end) + 4
			}

		case "IEND":
			if stage != stIDAT {
				return header{}, nil, errors.New("pngdec: chunk out of order: IEND before IDAT")
			}
			if length != 0 {
				return header{}, nil, fmt.Errorf("pngdec: IEND length %d, want 0", length)
			}
			if !crcOK {
				return header{}, nil, errors.New("pngdec: IEND checksum mismatch")
			}
			return hdr, run, nil

		default:
			// Ancillary and unknown chunks are skipped, as image/png does.
			if length > 0x7fffffff {
				return header{}, nil, fmt.Errorf("pngdec: bad chunk length %d", length)
			}
			if !crcOK {
				return header{}, nil, fmt.Errorf("pngdec: %q checksum mismatch", typ)
			}
		}
		p = next
	}
}

// parseIHDR checks an IHDR chunk's 13 bytes. Valid combinations outside the
// fast path are ErrUnsupported; invalid ones are errors.
func parseIHDR(b []byte) (header, error) {
	w := int32(binary.BigEndian.Uint32(b[0:]))
	h := int32(binary.BigEndian.Uint32(b[4:]))
	depth, ct := b[8], b[9]
	switch {
	case b[10] != 0:
		return header{}, fmt.Errorf("pngdec: unknown compression method %d", b[10])
	case b[11] != 0:
		return header{}, fmt.Errorf("pngdec: unknown filter method %d", b[11])
	case b[12] > 1:
		return header{}, fmt.Errorf("pngdec: invalid interlace method %d", b[12])
	case w <= 0 || h <= 0:
		return header{}, fmt.Errorf("pngdec: non-positive dimension %dx%d", w, h)
	}
	valid := false
	switch ct {
	case ctGray:
		valid = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case ctPalette:
		valid = depth == 1 || depth == 2 || depth == 4 || depth == 8
	case ctRGB, ctGrayAlpha, ctRGBA:
		valid = depth == 8 || depth == 16
	}
	if !valid {
		return header{}, fmt.Errorf("pngdec: invalid bit depth %d for colour type %d", depth, ct)
	}
	switch {
	case ct == ctPalette:
		return header{}, unsupported("palette image")
	case depth != 8:
		return header{}, unsupported("bit depth %d", depth)
	case b[12] == 1:
		return header{}, unsupported("interlaced image")
	}
	bpp := 1
	switch ct {
	case ctRGB:
		bpp = 3
	case ctGrayAlpha:
		bpp = 2
	case ctRGBA:
		bpp = 4
	}
	return header{width: int(w), height: int(h), colorType: ct, bpp: bpp}, nil
}

// maxDeflateRatio bounds how many output bytes one byte of DEFLATE input
// can produce: a 258-byte match coded in two bits.
const maxDeflateRatio = 1032

// decodePixels inflates the IDAT run, checks the zlib wrapper, unfilters
// and returns the image.
func decodePixels(data []byte, hdr header, run []span) (image.Image, error) {
	size, err := rawSize(hdr, run)
	if err != nil {
		return nil, err
	}
	// Grey and RGBA pixels keep their layout: raw becomes the image,
	// compacted in place. RGB and grey+alpha widen to four bytes a pixel:
	// raw sits at the end of the image's buffer, which expanding row by
	// row from the start never overtakes.
	var raw, pix []byte
	if hdr.colorType == ctRGB || hdr.colorType == ctGrayAlpha {
		pix = make([]byte, 4*uint64(hdr.width)*uint64(hdr.height))
		raw = pix[uint64(len(pix))-size:]
	} else {
		raw = make([]byte, size)
	}
	if err := inflateRun(raw, data, run); err != nil {
		return nil, err
	}
	return buildImage(raw, pix, hdr)
}

// rawSize returns the size of the decompressed rows, each led by its
// filter type byte, after checking that the IDAT run can hold them and
// that an image of four bytes a pixel is addressable.
func rawSize(hdr header, run []span) (uint64, error) {
	rowBytes := uint64(hdr.width) * uint64(hdr.bpp)
	size := uint64(hdr.height) * (rowBytes + 1) // < 2^64: width, height < 2^31
	total := 0
	for _, s := range run {
		total += s.end - s.start
	}
	// Refuse before allocating when the data cannot hold the image: a
	// short file cannot make Decode allocate much.
	if size/maxDeflateRatio > uint64(total)+1 {
		return 0, fmt.Errorf("pngdec: not enough pixel data: %d compressed bytes cannot hold a %dx%d image",
			total, hdr.width, hdr.height)
	}
	// Both buffers must be addressable; on 64-bit machines the check
	// above already bounds them by the input size.
	if size > math.MaxInt/4 || 4*uint64(hdr.width)*uint64(hdr.height) > math.MaxInt/4 {
		return 0, fmt.Errorf("pngdec: %dx%d image too large", hdr.width, hdr.height)
	}
	return size, nil
}

// inflateRun decompresses the zlib stream spread over the IDAT run into
// raw, which it must fill exactly, and checks what follows the stream.
func inflateRun(raw, data []byte, run []span) error {
	var z []byte
	if len(run) == 1 {
		z = data[run[0].start:run[0].end]
	} else {
		total := 0
		for _, s := range run {
			total += s.end - s.start
		}
		z = make([]byte, 0, total)
		for _, s := range run {
			z = append(z, data[s.start:s.end]...)
		}
	}
	used, err := unzlib(raw, z)
	if err != nil {
		return err
	}
	if used < len(z) {
		// Data after the zlib stream. image/png ignores later IDAT chunks
		// but, within the chunk where the stream ends, accepts or refuses
		// the excess depending on its read buffering.
		off := 0
		for _, s := range run {
			off += s.end - s.start
			if off == used {
				break
			}
			if off > used {
				return unsupported("data after the zlib stream within an IDAT chunk")
			}
		}
	}
	return nil
}

// unzlib decodes the zlib stream (RFC 1950) at the start of z into out,
// which it must fill exactly, and returns the stream's length.
func unzlib(out, z []byte) (int, error) {
	if len(z) < 2 {
		return 0, errors.New("pngdec: truncated zlib header")
	}
	cmf, flg := z[0], z[1]
	if cmf&15 != 8 || cmf>>4 > 7 || (uint(cmf)<<8|uint(flg))%31 != 0 {
		return 0, errors.New("pngdec: invalid zlib header")
	}
	p := 2
	if flg&0x20 != 0 {
		// A preset dictionary: image/png supplies none, which only the
		// empty dictionary (Adler-32 of nothing is 1) matches.
		if len(z) < 6 {
			return 0, errors.New("pngdec: truncated zlib header")
		}
		if binary.BigEndian.Uint32(z[2:]) != 1 {
			return 0, errors.New("pngdec: zlib stream needs a preset dictionary")
		}
		p = 6
	}
	n, used, err := inflate(out, z[p:])
	if err != nil {
		return 0, err
	}
	if n != len(out) {
		return 0, fmt.Errorf("pngdec: not enough pixel data: %d of %d bytes", n, len(out))
	}
	p += used
	if len(z)-p < 4 {
		return 0, errors.New("pngdec: truncated zlib checksum")
	}
	if binary.BigEndian.Uint32(z[p:]) != adlerChecksum(out) {
		return 0, errors.New("pngdec: zlib checksum mismatch")
	}
	return p + 4, nil
}

package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math/rand/v2"
	"reflect"
	"testing"
)

// stored asks encodeTest for a zlib stream of stored blocks only.
const stored = zlib.NoCompression

// encOpts says how encodeTest writes a PNG.
type encOpts struct {
	colorType byte
	depth     byte // 0 means 8
	interlace bool
	// filter picks the filter type of each row (0..4, or anything else
	// for an invalid one); nil means None everywhere.
	filter func(y int) byte
	level  int // compress/zlib level; stored (0) writes stored blocks
	// chunks splits the zlib stream into IDAT chunks of these lengths,
	// cycling; nil writes one IDAT.
	chunks []int
	plte   []byte
	trns   []byte
	// before and after are extra chunks (type, data) around the IDATs.
	before, after [][2]string
}

func channels(ct byte) int {
	switch ct {
	case ctRGB:
		return 3
	case ctGrayAlpha:
		return 2
	case ctRGBA:
		return 4
	}
	return 1
}

// appendChunk appends one chunk with a valid CRC.
func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// filterRow applies filter ft to cur (with prev the row above, nil for
// none) and appends the filter byte and result to out.
func filterRow(out []byte, ft byte, cur, prev []byte, bpp int) []byte {
	if prev == nil {
		prev = make([]byte, len(cur))
	}
	out = append(out, ft)
	for i := range cur {
		var a, c byte
		if i >= bpp {
			a, c = cur[i-bpp], prev[i-bpp]
		}
		b := prev[i]
		var pred byte
		switch ft {
		case ftSub:
			pred = a
		case ftUp:
			pred = b
		case ftAverage:
			pred = byte((int(a) + int(b)) / 2)
		case ftPaeth:
			pred = specPaeth(a, b, c)
		case ftNone:
		default:
			pred = byte(i * 7) // invalid filter: any bytes
		}
		out = append(out, cur[i]-pred)
	}
	return out
}

// packRow packs samples of depth bits (< 8) into bytes.
func packRow(samples []byte, depth int) []byte {
	out := make([]byte, (len(samples)*depth+7)/8)
	for i, s := range samples {
		bit := i * depth
		out[bit/8] |= (s & (1<<depth - 1)) << (8 - depth - bit%8)
	}
	return out
}

// encodeTest writes a PNG of w×h pixels whose samples, row after row, are
// pix (one byte per sample; for depths below 8 only the low bits count;
// for depth 16 two bytes per sample, big-endian).
func encodeTest(tb testing.TB, w, h int, pix []byte, o encOpts) []byte {
	tb.Helper()
	depth := int(o.depth)
	if depth == 0 {
		depth = 8
	}
	spp := channels(o.colorType)
	bytesPerSample := max(depth/8, 1)
	bpp := max(spp*depth/8, 1)
	if len(pix) != w*h*spp*bytesPerSample {
		tb.Fatalf("encodeTest: %d bytes for %dx%d", len(pix), w, h)
	}
	rowOf := func(x0, dx, y, pw int) []byte {
		n := spp * bytesPerSample
		var r []byte
		for x := x0; x < w && len(r) < pw*n; x += dx {
			r = append(r, pix[(y*w+x)*n:(y*w+x+1)*n]...)
		}
		if depth < 8 {
			r = packRow(r, depth)
		}
		return r
	}
	var raw []byte
	filterAt := func(y int) byte {
		if o.filter == nil {
			return ftNone
		}
		return o.filter(y)
	}
	type pass struct{ x0, y0, dx, dy int }
	passes := []pass{{0, 0, 1, 1}}
	if o.interlace {
		passes = []pass{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	}
	row := 0
	for _, p := range passes {
		pw := (w - p.x0 + p.dx - 1) / p.dx
		ph := (h - p.y0 + p.dy - 1) / p.dy
		if pw <= 0 || ph <= 0 {
			continue
		}
		var prev []byte
		for y := p.y0; y < h; y += p.dy {
			cur := rowOf(p.x0, p.dx, y, pw)
			raw = filterRow(raw, filterAt(row), cur, prev, bpp)
			prev = cur
			row++
		}
	}

	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, o.level)
	if err != nil {
		tb.Fatal(err)
	}
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}

	out := []byte(pngSignature)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), o.colorType
	if o.interlace {
		ihdr[12] = 1
	}
	out = appendChunk(out, "IHDR", ihdr)
	for _, c := range o.before {
		out = appendChunk(out, c[0], []byte(c[1]))
	}
	if o.plte != nil {
		out = appendChunk(out, "PLTE", o.plte)
	}
	if o.trns != nil {
		out = appendChunk(out, "tRNS", o.trns)
	}
	zb := z.Bytes()
	if o.chunks == nil {
		out = appendChunk(out, "IDAT", zb)
	} else {
		for i := 0; len(zb) > 0; i++ {
			n := min(o.chunks[i%len(o.chunks)], len(zb))
			out = appendChunk(out, "IDAT", zb[:n])
			zb = zb[n:]
		}
	}
	for _, c := range o.after {
		out = appendChunk(out, c[0], []byte(c[1]))
	}
	return appendChunk(out, "IEND", nil)
}

// pngEncode encodes img with image/png at level.
func pngEncode(tb testing.TB, img image.Image, level png.CompressionLevel) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: level}
	if err := enc.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// pixRows returns the pixel bytes of img row by row, without stride
// padding, for the types Decode returns.
func pixRows(img image.Image) ([]byte, error) {
	var pix []byte
	var stride, bpp int
	var r image.Rectangle
	switch m := img.(type) {
	case *image.Gray:
		pix, stride, bpp, r = m.Pix, m.Stride, 1, m.Rect
	case *image.RGBA:
		pix, stride, bpp, r = m.Pix, m.Stride, 4, m.Rect
	case *image.NRGBA:
		pix, stride, bpp, r = m.Pix, m.Stride, 4, m.Rect
	default:
		return nil, fmt.Errorf("unexpected image type %T", img)
	}
	var out []byte
	for y := range r.Dy() {
		out = append(out, pix[y*stride:y*stride+r.Dx()*bpp]...)
	}
	return out, nil
}

// sameImage reports how got differs from want, or "".
func sameImage(got, want image.Image) string {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return fmt.Sprintf("type %T, want %T", got, want)
	}
	if got.Bounds() != want.Bounds() {
		return fmt.Sprintf("bounds %v, want %v", got.Bounds(), want.Bounds())
	}
	g, err := pixRows(got)
	if err != nil {
		return err.Error()
	}
	w, err := pixRows(want)
	if err != nil {
		return err.Error()
	}
	if !bytes.Equal(g, w) {
		for i := range g {
			if g[i] != w[i] {
				return fmt.Sprintf("pixels differ from byte %d: got %d, want %d", i, g[i], w[i])
			}
		}
	}
	return ""
}

// outcome decodes data with Decode and image/png and says what is wrong,
// or "". Decode may only succeed where image/png does, with the same
// image, and may only fail with an ordinary error where image/png fails.
// DecodeRows must agree with Decode (see rowsOutcome).
func outcome(data []byte) (string, error) {
	got, err := Decode(data)
	if msg := rowsOutcome(data, got, err); msg != "" {
		return msg, err
	}
	want, werr := png.Decode(bytes.NewReader(data))
	switch {
	case err == nil && werr != nil:
		return fmt.Sprintf("Decode succeeded, image/png failed: %v", werr), err
	case err == nil:
		return sameImage(got, want), err
	case got != nil:
		return fmt.Sprintf("Decode returned an image with error %v", err), err
	case errors.Is(err, ErrUnsupported):
		return "", err
	case werr == nil:
		return fmt.Sprintf("Decode failed (%v), image/png succeeded", err), err
	}
	return "", err
}

// rowsOutcome decodes data with DecodeRows and says how it disagrees with
// Decode's result (img, err), or "": it must succeed exactly when Decode
// does, handing out img's rows in the PNG's own layout, and fail with
// ErrUnsupported exactly when Decode does.
func rowsOutcome(data []byte, img image.Image, err error) string {
	var got []byte
	var hdr Header
	// Scratch memory full of garbage must not show through.
	scratch := bytes.Repeat([]byte{0xa5}, 1024)
	_, rerr := DecodeRows(data, scratch, func(h Header) (func(int, []byte), error) {
		hdr = h
		next := 0
		return func(y int, pix []byte) {
			if y != next || len(pix) != h.Width*h.Channels {
				panic(fmt.Sprintf("row %d of %d bytes, want row %d of %d", y, len(pix), next, h.Width*h.Channels))
			}
			next++
			got = append(got, pix...)
		}, nil
	})
	switch {
	case (rerr == nil) != (err == nil):
		return fmt.Sprintf("DecodeRows: %v, Decode: %v", rerr, err)
	case errors.Is(rerr, ErrUnsupported) != errors.Is(err, ErrUnsupported):
		return fmt.Sprintf("DecodeRows: %v, Decode: %v (one unsupported, the other not)", rerr, err)
	case err != nil:
		return ""
	}
	b := img.Bounds()
	if hdr.Width != b.Dx() || hdr.Height != b.Dy() {
		return fmt.Sprintf("DecodeRows header %+v, Decode bounds %v", hdr, b)
	}
	want, perr := pixRows(img)
	if perr != nil {
		return perr.Error()
	}
	// Back from Decode's types to the PNG's layout: RGB and grey+alpha
	// were widened to four bytes a pixel.
	switch hdr.Channels {
	case 3:
		want = keepChannels(want, 0, 1, 2)
	case 2:
		want = keepChannels(want, 0, 3)
	}
	if !bytes.Equal(got, want) {
		return fmt.Sprintf("DecodeRows rows differ from Decode's image (%d channels)", hdr.Channels)
	}
	return ""
}

// keepChannels keeps the listed bytes of every four.
func keepChannels(pix []byte, keep ...int) []byte {
	out := make([]byte, 0, len(pix)/4*len(keep))
	for i := 0; i+4 <= len(pix); i += 4 {
		for _, k := range keep {
			out = append(out, pix[i+k])
		}
	}
	return out
}

// mustMatch checks that Decode decodes data exactly as image/png does.
func mustMatch(tb testing.TB, name string, data []byte) {
	tb.Helper()
	msg, err := outcome(data)
	if msg != "" {
		tb.Fatalf("%s: %s", name, msg)
	}
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// Sample generators: n bytes of content for w×h pixels of c channels.
type content struct {
	name string
	gen  func(r *rand.Rand, w, h, c int) []byte
}

var contents = []content{
	{"noise", func(r *rand.Rand, w, h, c int) []byte {
		b := make([]byte, w*h*c)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}},
	{"gradient", func(r *rand.Rand, w, h, c int) []byte {
		b := make([]byte, 0, w*h*c)
		for y := range h {
			for x := range w {
				for k := range c {
					b = append(b, byte((x*(k+1)+y*(3-k))/3))
				}
			}
		}
		return b
	}},
	{"repeat", func(r *rand.Rand, w, h, c int) []byte {
		// Short periods: matches whose distance is below their length.
		period := 1 + r.IntN(7)
		pat := make([]byte, period)
		for i := range pat {
			pat[i] = byte(r.Uint32())
		}
		b := make([]byte, w*h*c)
		for i := range b {
			b[i] = pat[i%period]
			if r.IntN(500) == 0 {
				b[i] = byte(r.Uint32())
			}
		}
		return b
	}},
	{"flat", func(r *rand.Rand, w, h, c int) []byte {
		return bytes.Repeat([]byte{byte(r.Uint32())}, w*h*c)
	}},
	{"textured", func(r *rand.Rand, w, h, c int) []byte { return textured(r, w, h, c) }},
}

// textured is a smooth pattern plus noise, like a rendered image.
func textured(r *rand.Rand, w, h, c int) []byte {
	b := make([]byte, 0, w*h*c)
	for y := range h {
		for x := range w {
			for k := range c {
				v := (x*x+y*3)/(w+1) + k*40 + (x^y)&15 + r.IntN(24)
				b = append(b, byte(v))
			}
		}
	}
	return b
}

// sizes are the image sizes most tests run over.
var sizes = [][2]int{{1, 1}, {1, 9}, {9, 1}, {2, 2}, {3, 5}, {7, 3}, {17, 13}, {33, 40}, {100, 7}, {129, 65}}

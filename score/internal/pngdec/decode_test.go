package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"
)

var levels = []png.CompressionLevel{png.DefaultCompression, png.NoCompression, png.BestSpeed, png.BestCompression}

// stdImage builds the image/png input for samples of c channels: Gray,
// opaque RGBA (written as RGB) or NRGBA (written as RGBA).
func stdImage(w, h, c int, s []byte) image.Image {
	r := image.Rect(0, 0, w, h)
	switch c {
	case 1:
		return &image.Gray{Pix: s, Stride: w, Rect: r}
	case 3:
		m := image.NewRGBA(r)
		for i := range w * h {
			copy(m.Pix[4*i:], s[3*i:3*i+3])
			m.Pix[4*i+3] = 0xff
		}
		return m
	default:
		return &image.NRGBA{Pix: s, Stride: 4 * w, Rect: r}
	}
}

// TestDecodeImagePNG decodes what image/png's encoder writes, at every
// compression level.
func TestDecodeImagePNG(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sz := append(sizes, [2]int{512, 512})
	for _, c := range []int{1, 3, 4} {
		for _, ct := range contents {
			for _, s := range sz {
				if s[0] == 512 && (testing.Short() || c == 4 && ct.name != "noise") {
					continue
				}
				img := stdImage(s[0], s[1], c, ct.gen(r, s[0], s[1], c))
				for _, l := range levels {
					name := fmt.Sprintf("c%d/%s/%dx%d/level%d", c, ct.name, s[0], s[1], l)
					data := pngEncode(t, img, l)
					mustMatch(t, name, data)
				}
			}
		}
	}
}

// TestDecodeTypes checks the image types against image/png's, including
// colour type 4, which image/png never writes.
func TestDecodeTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		ct   byte
		want string
	}{{ctGray, "*image.Gray"}, {ctRGB, "*image.RGBA"}, {ctGrayAlpha, "*image.NRGBA"}, {ctRGBA, "*image.NRGBA"}} {
		data := encodeTest(t, 5, 4, contents[0].gen(r, 5, 4, channels(tc.ct)), encOpts{colorType: tc.ct, level: 6})
		mustMatch(t, tc.want, data)
		img, _ := Decode(data)
		if got := fmt.Sprintf("%T", img); got != tc.want {
			t.Errorf("colour type %d: %s, want %s", tc.ct, got, tc.want)
		}
		if img.Bounds() != image.Rect(0, 0, 5, 4) {
			t.Errorf("colour type %d: bounds %v", tc.ct, img.Bounds())
		}
	}
}

// filterModes choose a filter per row.
var filterModes = []struct {
	name string
	f    func(r *rand.Rand) func(y int) byte
}{
	{"none", func(*rand.Rand) func(int) byte { return func(int) byte { return ftNone } }},
	{"sub", func(*rand.Rand) func(int) byte { return func(int) byte { return ftSub } }},
	{"up", func(*rand.Rand) func(int) byte { return func(int) byte { return ftUp } }},
	{"average", func(*rand.Rand) func(int) byte { return func(int) byte { return ftAverage } }},
	{"paeth", func(*rand.Rand) func(int) byte { return func(int) byte { return ftPaeth } }},
	{"cycle", func(*rand.Rand) func(int) byte { return func(y int) byte { return byte(y % 5) } }},
	{"random", func(r *rand.Rand) func(int) byte {
		seed := r.Uint64()
		return func(y int) byte { return byte(rand.New(rand.NewPCG(seed, uint64(y))).IntN(5)) }
	}},
}

var zlevels = []int{zlib.HuffmanOnly, stored, zlib.BestSpeed, 6, zlib.BestCompression}

// TestDecodeOwnEncoder covers every colour type, filter, zlib level and
// IDAT split the fast path accepts, with content picked at random.
func TestDecodeOwnEncoder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	splits := [][]int{nil, {1}, {7, 0, 3}, {100, 1, 0, 5000}}
	for _, ct := range []byte{ctGray, ctRGB, ctGrayAlpha, ctRGBA} {
		c := channels(ct)
		for _, fm := range filterModes {
			for _, s := range sizes {
				for _, zl := range zlevels {
					cont := contents[r.IntN(len(contents))]
					pix := cont.gen(r, s[0], s[1], c)
					o := encOpts{colorType: ct, filter: fm.f(r), level: zl, chunks: splits[r.IntN(len(splits))]}
					name := fmt.Sprintf("ct%d/%s/%dx%d/%s/z%d/%v", ct, fm.name, s[0], s[1], cont.name, zl, o.chunks)
					mustMatch(t, name, encodeTest(t, s[0], s[1], pix, o))
				}
			}
		}
	}
}

// TestDecodeLarge decodes 512×512 images of each colour type and filter.
func TestDecodeLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, ct := range []byte{ctGray, ctRGB, ctGrayAlpha, ctRGBA} {
		pix := textured(r, 512, 512, channels(ct))
		for i, fm := range filterModes {
			zl := []int{zlib.HuffmanOnly, 6}[i%2]
			o := encOpts{colorType: ct, filter: fm.f(r), level: zl, chunks: [][]int{nil, {8192}}[r.IntN(2)]}
			mustMatch(t, fmt.Sprintf("ct%d/%s/z%d", ct, fm.name, zl), encodeTest(t, 512, 512, pix, o))
		}
	}
}

// TestChunks covers chunk layouts image/png accepts or refuses.
func TestChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	pix := contents[0].gen(r, 6, 5, 3)
	base := encOpts{colorType: ctRGB, level: 6, filter: func(y int) byte { return byte(y % 5) }}
	valid := []struct {
		name string
		o    func(o *encOpts)
	}{
		{"text before", func(o *encOpts) { o.before = [][2]string{{"tEXt", "a\x00b"}, {"gAMA", "\x00\x00\xb1\x8f"}} }},
		{"text after", func(o *encOpts) { o.after = [][2]string{{"tEXt", "a\x00b"}} }},
		{"unknown critical", func(o *encOpts) { o.before = [][2]string{{"ABCD", "xyz"}} }},
		{"suggested palette", func(o *encOpts) { o.plte = []byte{1, 2, 3, 4, 5, 6} }},
		{"garbage IDAT after", func(o *encOpts) { o.after = [][2]string{{"tEXt", ""}, {"IDAT", "junk"}} }},
		{"empty IDAT after", func(o *encOpts) { o.after = [][2]string{{"IDAT", ""}} }},
		{"empty IDATs", func(o *encOpts) { o.chunks = []int{0, 2, 0, 0, 9} }},
		{"one-byte IDATs", func(o *encOpts) { o.chunks = []int{1} }},
	}
	for _, ct := range []byte{ctGray, ctGrayAlpha} {
		p := contents[0].gen(r, 3, 2, channels(ct))
		data := encodeTest(t, 3, 2, p, encOpts{colorType: ct, level: 6, plte: []byte{1, 2, 3}})
		if msg, err := outcome(data); msg != "" || err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("PLTE in colour type %d: %q, %v; want an ordinary error", ct, msg, err)
		}
	}
	for _, v := range valid {
		o := base
		v.o(&o)
		mustMatch(t, v.name, encodeTest(t, 6, 5, pix, o))
	}

	good := encodeTest(t, 6, 5, pix, base)
	mustMatch(t, "good", good)
	// Trailing bytes after IEND are ignored.
	mustMatch(t, "after IEND", append(bytes.Clone(good), "trailing"...))

	// Split good into its chunks to rearrange them.
	type chunk = testChunk
	var chunks []chunk
	for p := 8; p < len(good); {
		n := int(binary.BigEndian.Uint32(good[p:]))
		chunks = append(chunks, chunk{string(good[p+4 : p+8]), good[p+8 : p+8+n]})
		p += 12 + n
	}
	build := func(cs ...chunk) []byte {
		out := []byte(pngSignature)
		for _, c := range cs {
			out = appendChunk(out, c.typ, c.data)
		}
		return out
	}
	ihdr, idat, iend := chunks[0], chunks[1], chunks[2]
	text := chunk{"tEXt", []byte("k\x00v")}
	plte := chunk{"PLTE", []byte{1, 2, 3}}
	bad := map[string][]byte{
		"empty":             nil,
		"signature only":    []byte(pngSignature),
		"bad signature":     append([]byte("\x89PNG\r\n\x1a\x0a"[:7]+"x"), good[8:]...),
		"no IEND":           build(ihdr, idat),
		"no IDAT":           build(ihdr, iend),
		"IDAT first":        build(idat, ihdr, iend),
		"two IHDR":          build(ihdr, ihdr, idat, iend),
		"IEND first":        build(iend, ihdr, idat, iend),
		"PLTE after IDAT":   build(ihdr, idat, plte, iend),
		"two PLTE":          build(ihdr, plte, plte, idat, iend),
		"PLTE bad length":   build(ihdr, chunk{"PLTE", []byte{1, 2}}, idat, iend),
		"IEND with data":    build(ihdr, idat, chunk{"IEND", []byte{0}}),
		"IHDR short":        build(chunk{"IHDR", ihdr.data[:12]}, idat, iend),
		"split IDAT run":    build(ihdr, chunk{"IDAT", idat.data[:5]}, text, chunk{"IDAT", idat.data[5:]}, iend),
		"no pixel data":     build(ihdr, chunk{"IDAT", nil}, iend),
		"text before IHDR":  build(text, ihdr, idat, iend), // valid: unknown chunks anywhere
		"bad IHDR CRC":      corruptCRC(build(ihdr, idat, iend), 8),
		"bad IDAT CRC":      corruptCRC(build(ihdr, idat, iend), 8+25),
		"bad text CRC":      corruptCRC(build(ihdr, idat, text, iend), 8+25+12+len(idat.data)),
		"bad IEND CRC":      corruptCRC(build(ihdr, idat, iend), 8+25+12+len(idat.data)),
		"tRNS before IHDR":  build(chunk{"tRNS", []byte{0, 0}}, ihdr, idat, iend),
		"interlace method":  build(ihdrWith(ihdr.data, 12, 2), idat, iend),
		"compression":       build(ihdrWith(ihdr.data, 10, 1), idat, iend),
		"filter method":     build(ihdrWith(ihdr.data, 11, 1), idat, iend),
		"bit depth 3":       build(ihdrWith(ihdr.data, 8, 3), idat, iend),
		"colour type 5":     build(ihdrWith(ihdr.data, 9, 5), idat, iend),
		"zero width":        build(ihdrWith(ihdr.data, 3, 0), idat, iend),
		"negative height":   build(ihdrWith(ihdr.data, 4, 0x80), idat, iend),
		"wrong width":       build(ihdrWith(ihdr.data, 3, 7), idat, iend),
		"huge":              build(ihdrWith(ihdrWith(ihdr.data, 0, 0x7f).data, 4, 0x7f), idat, iend),
		"bad chunk length":  append(build(ihdr, idat), 0x80, 0, 0, 0, 't', 'E', 'X', 't'),
		"truncated IEND":    build(ihdr, idat, iend)[:len(good)-2],
		"trailing IDAT run": build(ihdr, idat, chunk{"IDAT", []byte{1, 2, 3}}, iend), // valid
	}
	for name, data := range bad {
		msg, err := outcome(data)
		if msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
		if errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want an ordinary error", name, err)
		}
		if (err == nil) != (name == "text before IHDR" || name == "trailing IDAT run") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

type testChunk struct {
	typ  string
	data []byte
}

func ihdrWith(d []byte, i int, v byte) testChunk {
	d = bytes.Clone(d)
	d[i] = v
	return testChunk{"IHDR", d}
}

// corruptCRC flips a bit in the CRC of the chunk at offset p.
func corruptCRC(data []byte, p int) []byte {
	n := int(binary.BigEndian.Uint32(data[p:]))
	data[p+8+n] ^= 1
	return data
}

// TestZlibWrapper covers the zlib header, preset dictionary, checksum and
// data around the stream.
func TestZlibWrapper(t *testing.T) {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, 6)
	zw.Write([]byte{0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9})
	zw.Close()
	stream := z.Bytes()
	withIDAT := func(idat ...[]byte) []byte {
		out := []byte(pngSignature)
		out = appendChunk(out, "IHDR", []byte{0, 0, 0, 3, 0, 0, 0, 3, 8, 0, 0, 0, 0})
		for _, d := range idat {
			out = appendChunk(out, "IDAT", d)
		}
		return appendChunk(out, "IEND", nil)
	}
	mustMatch(t, "plain", withIDAT(stream))

	// An empty preset dictionary is what image/png supplies.
	hdr := []byte{0x78, 0x20}
	hdr[1] += byte(31 - (uint(hdr[0])<<8|uint(hdr[1]))%31)
	dict1 := append(append(bytes.Clone(hdr), 0, 0, 0, 1), stream[2:]...)
	mustMatch(t, "empty dictionary", withIDAT(dict1))
	dict2 := append(append(bytes.Clone(hdr), 0, 0, 0, 2), stream[2:]...)

	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(stream)) }
	for name, data := range map[string][]byte{
		"dictionary":  withIDAT(dict2),
		"method":      withIDAT(mod(func(b []byte) []byte { b[0] = 0x79; return b })),
		"window":      withIDAT(mod(func(b []byte) []byte { b[0], b[1] = 0x88, 0x1c; return b })),
		"fcheck":      withIDAT(mod(func(b []byte) []byte { b[1]++; return b })),
		"adler":       withIDAT(mod(func(b []byte) []byte { b[len(b)-1]++; return b })),
		"no adler":    withIDAT(stream[:len(stream)-4]),
		"short adler": withIDAT(stream[:len(stream)-1]),
		"header only": withIDAT(stream[:1]),
		"too much":    withIDAT(zlibOf(t, make([]byte, 13))),
		"too little":  withIDAT(zlibOf(t, make([]byte, 11))),
		"bad filter":  withIDAT(zlibOf(t, []byte{5, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9})),
	} {
		msg, err := outcome(data)
		if msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
		if err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want an ordinary error", name, err)
		}
	}

	// Extra data after the stream: in a later IDAT image/png ignores it,
	// within the same chunk Decode defers to image/png.
	mustMatch(t, "next chunk", withIDAT(stream, []byte("junk")))
	_, err := Decode(withIDAT(append(bytes.Clone(stream), "junk"...)))
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("junk after stream: %v, want ErrUnsupported", err)
	}
}

func zlibOf(tb testing.TB, raw []byte) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, 6)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return z.Bytes()
}

// TestUnsupported checks the valid PNGs outside the fast path.
func TestUnsupported(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	rect := image.Rect(0, 0, 9, 7)
	pal := image.NewPaletted(rect, color.Palette{color.Black, color.White, color.RGBA{200, 0, 0, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(r.IntN(3))
	}
	g16 := image.NewGray16(rect)
	rgba64 := image.NewRGBA64(rect)
	for i := range g16.Pix {
		g16.Pix[i] = byte(r.Uint32())
	}
	for i := range rgba64.Pix {
		rgba64.Pix[i] = byte(r.Uint32())
	}
	cases := map[string][]byte{
		"palette": pngEncode(t, pal, png.DefaultCompression),
		"gray16":  pngEncode(t, g16, png.DefaultCompression),
		"rgba64":  pngEncode(t, rgba64, png.DefaultCompression),
		"rgb16":   encodeTest(t, 3, 2, contents[0].gen(r, 3, 2, 6), encOpts{colorType: ctRGB, depth: 16, level: 6}),
		"gray1":   encodeTest(t, 11, 3, contents[0].gen(r, 11, 3, 1), encOpts{colorType: ctGray, depth: 1, level: 6}),
		"gray4":   encodeTest(t, 5, 3, contents[0].gen(r, 5, 3, 1), encOpts{colorType: ctGray, depth: 4, level: 6}),
		"gray tRNS": encodeTest(t, 4, 4, contents[0].gen(r, 4, 4, 1),
			encOpts{colorType: ctGray, level: 6, trns: []byte{0, 7}}),
		"rgb tRNS": encodeTest(t, 4, 4, contents[0].gen(r, 4, 4, 3),
			encOpts{colorType: ctRGB, level: 6, trns: []byte{0, 7, 0, 8, 0, 9}}),
	}
	for _, ct := range []byte{ctGray, ctRGB, ctGrayAlpha, ctRGBA} {
		for _, s := range [][2]int{{1, 1}, {5, 3}, {9, 9}, {16, 17}} {
			pix := contents[0].gen(r, s[0], s[1], channels(ct))
			o := encOpts{colorType: ct, level: 6, interlace: true, filter: func(y int) byte { return byte(y % 5) }}
			cases[fmt.Sprintf("interlaced ct%d %dx%d", ct, s[0], s[1])] = encodeTest(t, s[0], s[1], pix, o)
		}
	}
	for name, data := range cases {
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: image/png: %v", name, err)
		}
		img, err := Decode(data)
		if !errors.Is(err, ErrUnsupported) || img != nil {
			t.Errorf("%s: %T, %v; want ErrUnsupported", name, img, err)
		}
	}
	// tRNS on an image with alpha is an error in image/png too.
	for _, ct := range []byte{ctGrayAlpha, ctRGBA} {
		data := encodeTest(t, 2, 2, contents[0].gen(r, 2, 2, channels(ct)), encOpts{colorType: ct, level: 6, trns: []byte{0, 0}})
		msg, err := outcome(data)
		if msg != "" || err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("tRNS ct%d: %q %v", ct, msg, err)
		}
	}
}

// TestCorruption truncates and flips bits in valid files: Decode must not
// panic, and may only succeed where image/png succeeds with the same image.
func TestCorruption(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var files [][]byte
	for _, ct := range []byte{ctGray, ctRGB, ctGrayAlpha, ctRGBA} {
		for _, zl := range zlevels {
			pix := contents[r.IntN(len(contents))].gen(r, 23, 11, channels(ct))
			files = append(files, encodeTest(t, 23, 11, pix, encOpts{
				colorType: ct, level: zl, filter: func(y int) byte { return byte(y % 5) }, chunks: []int{50, 200}}))
		}
	}
	files = append(files, pngEncode(t, stdImage(40, 30, 3, textured(r, 40, 30, 3)), png.DefaultCompression))
	check := func(name string, data []byte) {
		t.Helper()
		if msg, _ := outcome(data); msg != "" {
			t.Fatalf("%s: %s", name, msg)
		}
	}
	for fi, f := range files {
		for n := 0; n < len(f); n += 1 + n/64 {
			check(fmt.Sprintf("file %d truncated to %d", fi, n), f[:n])
		}
		for range 300 {
			d := bytes.Clone(f)
			for range 1 + r.IntN(3) {
				d[r.IntN(len(d))] ^= 1 << r.IntN(8)
			}
			check(fmt.Sprintf("file %d flipped", fi), d)
		}
		// Flips inside the pixel data with the CRC fixed up, so they
		// reach the zlib and DEFLATE decoders, and with the Adler-32
		// fixed too, so that those that still inflate reach the filters.
		for range 1000 {
			d := fixCRCs(flipIDAT(r, bytes.Clone(f)))
			check(fmt.Sprintf("file %d flipped in IDAT", fi), d)
			check(fmt.Sprintf("file %d flipped in IDAT, Adler-32 fixed", fi), fixAdler(d))
		}
	}
}

// flipIDAT flips one to three bits inside IDAT chunk data.
func flipIDAT(r *rand.Rand, data []byte) []byte {
	var spans [][2]int
	for p := 8; p+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if string(data[p+4:p+8]) == "IDAT" && n > 0 {
			spans = append(spans, [2]int{p + 8, p + 8 + n})
		}
		p += 12 + n
	}
	for range 1 + r.IntN(3) {
		s := spans[r.IntN(len(spans))]
		data[s[0]+r.IntN(s[1]-s[0])] ^= 1 << r.IntN(8)
	}
	return data
}

// fixCRCs recomputes every chunk's CRC.
func fixCRCs(data []byte) []byte {
	for p := 8; p+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if p+12+n > len(data) {
			break
		}
		binary.BigEndian.PutUint32(data[p+8+n:], crc32.ChecksumIEEE(data[p+4:p+8+n]))
		p += 12 + n
	}
	return data
}

// TestBomb checks the decompression-bomb guard: the most compressible
// images still decode, and a header promising far more pixels than the
// data can hold fails without allocating for them.
func TestBomb(t *testing.T) {
	for _, s := range [][2]int{{2000, 2000}, {1, 300000}, {300000, 1}} {
		for _, zl := range []int{zlib.BestCompression, zlib.BestSpeed, zlib.HuffmanOnly} {
			pix := make([]byte, s[0]*s[1])
			data := encodeTest(t, s[0], s[1], pix, encOpts{colorType: ctGray, level: zl})
			mustMatch(t, fmt.Sprintf("flat %dx%d level %d (%d bytes)", s[0], s[1], zl, len(data)), data)
		}
	}

	// 30000×30000 RGBA (3.6 GB) from a few KB.
	data := encodeTest(t, 100, 100, make([]byte, 100*100*4), encOpts{colorType: ctRGBA, level: 9})
	ihdr := data[8+8 : 8+8+13]
	binary.BigEndian.PutUint32(ihdr, 30000)
	binary.BigEndian.PutUint32(ihdr[4:], 30000)
	data = fixCRCs(data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(data)
	runtime.ReadMemStats(&after)
	if err == nil || errors.Is(err, ErrUnsupported) {
		t.Fatalf("bomb: %v, want an ordinary error", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("bomb: allocated %d bytes", n)
	}
}

// specPaeth is the Paeth predictor as the PNG specification writes it.
func specPaeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestPaethExhaustive checks paeth against the specification's form for
// every input.
func TestPaethExhaustive(t *testing.T) {
	for i := range 1 << 24 {
		a, b, c := byte(i), byte(i>>8), byte(i>>16)
		if got, want := paeth(a, b, c), specPaeth(a, b, c); got != want {
			t.Fatalf("paeth(%d, %d, %d) = %d, want %d", a, b, c, got, want)
		}
	}
}

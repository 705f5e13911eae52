package pngdec

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"hash/adler32"
	"image/png"
	"io"
	"math/rand/v2"
	"testing"
)

// FuzzDecode checks Decode against image/png: it may only succeed where
// image/png does, with the same image, and may only fail with an ordinary
// error where image/png fails.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, ct := range []byte{ctGray, ctRGB, ctGrayAlpha, ctRGBA} {
		for i, zl := range []int{zlib.HuffmanOnly, stored, zlib.BestSpeed, zlib.BestCompression} {
			w, h := 1+i, 3-i%2
			pix := contents[i%len(contents)].gen(r, w, h, channels(ct))
			f.Add(encodeTest(f, w, h, pix, encOpts{colorType: ct, level: zl,
				filter: func(y int) byte { return byte((y + i) % 5) }, chunks: [][]int{nil, {5}}[i%2]}))
		}
		f.Add(encodeTest(f, 3, 3, contents[0].gen(r, 3, 3, channels(ct)), encOpts{colorType: ct, level: 6, interlace: true}))
	}
	for _, c := range []int{1, 3, 4} {
		f.Add(pngEncode(f, stdImage(4, 3, c, textured(r, 4, 3, c)), png.DefaultCompression))
	}
	f.Add(encodeTest(f, 2, 2, []byte{1, 2, 3, 4}, encOpts{colorType: ctGray, level: 6, trns: []byte{0, 1},
		before: [][2]string{{"tEXt", "k\x00v"}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// image/png allocates the whole image before reading pixel data;
		// keep it to sizes a fuzzer can afford. Decode must cope with any.
		if cfg, err := png.DecodeConfig(bytes.NewReader(fixCRCs(bytes.Clone(data)))); err == nil && cfg.Width*cfg.Height > 1<<20 {
			if img, err := Decode(data); err == nil {
				t.Fatalf("decoded a %v image from %d bytes", img.Bounds(), len(data))
			}
			return
		}
		if msg, _ := outcome(data); msg != "" {
			t.Fatal(msg)
		}
		// Mutations rarely keep chunk CRCs valid: check the same data
		// with its CRCs fixed, which reaches the zlib layer, and with the
		// Adler-32 fixed too, which reaches the filters and pixels.
		fixed := fixCRCs(bytes.Clone(data))
		if msg, _ := outcome(fixed); msg != "" {
			t.Fatal("with CRCs fixed: " + msg)
		}
		if msg, _ := outcome(fixAdler(fixed)); msg != "" {
			t.Fatal("with CRCs and Adler-32 fixed: " + msg)
		}
	})
}

// fixAdler rewrites the Adler-32 of the zlib stream in the first IDAT run
// to match what compress/flate decodes the stream to, and the CRCs after
// it. It returns data unchanged when the stream does not decode.
func fixAdler(data []byte) []byte {
	var spans [][2]int
	for p := 8; p+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if n > len(data)-p-12 {
			break
		}
		if string(data[p+4:p+8]) == "IDAT" {
			spans = append(spans, [2]int{p + 8, p + 8 + n})
		} else if len(spans) > 0 {
			break
		}
		p += 12 + n
	}
	var z []byte
	for _, s := range spans {
		z = append(z, data[s[0]:s[1]]...)
	}
	skip := 2
	if len(z) >= 2 && z[1]&0x20 != 0 {
		skip = 6
	}
	if len(z) < skip {
		return data
	}
	br := bytes.NewReader(z[skip:])
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(br), 1<<22))
	end := len(z) - br.Len()
	if err != nil || len(z)-end < 4 {
		return data
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], adler32.Checksum(raw))
	data = bytes.Clone(data)
	for i, b := range sum {
		off := end + i
		for _, s := range spans {
			if off < s[1]-s[0] {
				data[s[0]+off] = b
				break
			}
			off -= s[1] - s[0]
		}
	}
	return fixCRCs(data)
}

// FuzzInflate checks inflate against compress/flate with an output limit.
func FuzzInflate(f *testing.F) {
	r := rand.New(rand.NewPCG(53, 54))
	for _, c := range edgeStreams() {
		f.Add(uint32(edgeLimit), c.data)
	}
	for level := -2; level <= 9; level++ {
		data := contents[level&3].gen(r, 50+level*20, 3, 1)
		f.Add(uint32(len(data)), deflate(f, data, level))
	}
	f.Fuzz(func(t *testing.T, limit uint32, data []byte) {
		checkInflate(t, "fuzz", data, int(limit%(1<<18)))
	})
}

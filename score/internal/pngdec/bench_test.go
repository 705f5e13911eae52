package pngdec

import (
	"bytes"
	"compress/zlib"
	"image"
	"image/png"
	"math"
	"testing"
)

// noisyRGB is a deterministic 512×512-style render: a gradient crossed by
// stripes with film grain, as the project's simulator draws; samples are
// RGB.
func noisyRGB(w, h int) []byte {
	pix := make([]byte, 0, 3*w*h)
	noise := uint64(0x9e3779b97f4a7c15)
	c0 := [3]float64{30, 120, 200}
	c1 := [3]float64{220, 90, 40}
	for y := range h {
		for x := range w {
			t := (float64(x)/float64(w) + float64(y)/float64(h)) / 2
			stripe := 0.0
			if math.Sin(float64(x+2*y)*0.05) > 0 {
				stripe = 40
			}
			noise ^= noise << 13
			noise ^= noise >> 7
			noise ^= noise << 17
			n := float64(int(noise%33) - 16)
			for c := range 3 {
				v := c0[c]*(1-t) + c1[c]*t + stripe + n
				pix = append(pix, uint8(min(max(v, 0), 255)))
			}
		}
	}
	return pix
}

// benchFiles are the 512×512 RGB PNGs the benchmark decodes: the
// simulator's encoding (filter Sub, Huffman-only zlib, ~600 KB) and image/png's
// default encoding of the same pixels.
func benchFiles(tb testing.TB) (sim, std []byte) {
	const w, h = 512, 512
	pix := noisyRGB(w, h)
	sim = encodeTest(tb, w, h, pix, encOpts{colorType: ctRGB, level: zlib.HuffmanOnly, filter: func(int) byte { return ftSub }})
	return sim, pngEncode(tb, stdImage(w, h, 3, pix), png.DefaultCompression)
}

func BenchmarkDecode512(b *testing.B) {
	sim, std := benchFiles(b)
	// Also the same pixels as a libpng-style encoder might write them:
	// Paeth on every row, zlib level 6.
	paethFile := encodeTest(b, 512, 512, noisyRGB(512, 512), encOpts{colorType: ctRGB, level: 6, filter: func(int) byte { return ftPaeth }})
	for _, f := range []struct {
		name string
		data []byte
	}{{"sub-huffman", sim}, {"png-default", std}, {"paeth-zlib6", paethFile}} {
		mustMatch(b, f.name, f.data)
		b.Run(f.name, func(b *testing.B) {
			b.Logf("%s: %d bytes", f.name, len(f.data))
			b.Run("image/png", func(b *testing.B) {
				b.SetBytes(512 * 512 * 3)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := png.Decode(bytes.NewReader(f.data)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("pngdec", func(b *testing.B) {
				b.SetBytes(512 * 512 * 3)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decode(f.data); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkStages times the parts of Decode on the simulator's file.
func BenchmarkStages(b *testing.B) {
	sim, _ := benchFiles(b)
	img, err := Decode(sim)
	if err != nil {
		b.Fatal(err)
	}
	_ = img.(*image.RGBA)
	z := sim[8+25+8 : len(sim)-12-4]
	raw := make([]byte, 512*(1+3*512))
	b.Run("inflate", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, _, err := inflate(raw, z[2:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unzlib", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := unzlib(raw, z); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tables", func(b *testing.B) {
		// The codes of the first block.
		f := &inflater{in: z[2:], out: raw}
		f.refill()
		f.take(3)
		nlit, ndist := int(f.bits&31)+257, int(f.bits>>5&31)+1
		if err := f.dynamic(); err != nil {
			b.Fatal(err)
		}
		lens := bytes.Clone(f.lens[:nlit+ndist])
		var t tables
		for b.Loop() {
			if !buildTable(t.lit[:], litRootBits, lens[:nlit], alphaLit) ||
				!buildTable(t.dist[:], distRootBits, lens[nlit:], alphaDist) {
				b.Fatal("invalid code")
			}
		}
	})
	b.Run("buildImage", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		pix := make([]byte, 4*512*512)
		for b.Loop() {
			buf := pix[len(pix)-len(raw):]
			copy(buf, raw)
			if _, err := buildImage(buf, pix, header{512, 512, ctRGB, 3}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUnfilterRGB times each filter on 512 rows of 512 RGB pixels.
func BenchmarkUnfilterRGB(b *testing.B) {
	const w, h = 512, 512
	src := noisyRGB(w, h)
	pix := make([]byte, 4*w*h)
	for ft := range byte(5) {
		b.Run([]string{"none", "sub", "up", "average", "paeth"}[ft], func(b *testing.B) {
			b.SetBytes(3 * w * h)
			for b.Loop() {
				var prev []byte
				for y := range h {
					dst := pix[4*w*y : 4*w*y+4*w]
					unfilterRGB(ft, dst, src[3*w*y:3*w*y+3*w], prev)
					prev = dst
				}
			}
		})
	}
}

package pngdec

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/cputime"
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
// simulator's picture encoded as ComfyUI's SaveImage encodes it (Pillow's
// adaptive row filters, zlib level 4; about 420 KB), which is what a real
// run downloads, and image/png's default encoding of the same pixels.
func benchFiles(tb testing.TB) (comfy, std []byte) {
	img := comfytest.Render(sha256.Sum256([]byte("pngdec benchmark scene")), 512, 512, 20, false)
	comfy, err := comfytest.EncodePNG(img, [][2]string{{"prompt", "{}"}})
	if err != nil {
		tb.Fatal(err)
	}
	return comfy, pngEncode(tb, img, png.DefaultCompression)
}

func BenchmarkDecode512(b *testing.B) {
	comfy, std := benchFiles(b)
	// Also pixels as the simulator drew them before it looked like
	// ComfyUI (noise, filter Sub, Huffman-only), and the same pixels as a
	// libpng-style encoder might write them: Paeth on every row, level 6.
	huffman := encodeTest(b, 512, 512, noisyRGB(512, 512), encOpts{colorType: ctRGB, level: zlib.HuffmanOnly, filter: func(int) byte { return ftSub }})
	paethFile := encodeTest(b, 512, 512, noisyRGB(512, 512), encOpts{colorType: ctRGB, level: 6, filter: func(int) byte { return ftPaeth }})
	for _, f := range []struct {
		name string
		data []byte
	}{{"comfyui", comfy}, {"png-default", std}, {"sub-huffman", huffman}, {"paeth-zlib6", paethFile}} {
		mustMatch(b, f.name, f.data)
		b.Run(f.name, func(b *testing.B) {
			b.Logf("%s: %d bytes", f.name, len(f.data))
			b.Run("image/png", func(b *testing.B) {
				b.SetBytes(512 * 512 * 3)
				b.ReportAllocs()
				cpu := cputime.Now()
				for b.Loop() {
					if _, err := png.Decode(bytes.NewReader(f.data)); err != nil {
						b.Fatal(err)
					}
				}
				cputime.PerOp(b, cpu)
			})
			b.Run("pngdec", func(b *testing.B) {
				b.SetBytes(512 * 512 * 3)
				b.ReportAllocs()
				cpu := cputime.Now()
				for b.Loop() {
					if _, err := Decode(f.data); err != nil {
						b.Fatal(err)
					}
				}
				cputime.PerOp(b, cpu)
			})
			b.Run("pngdec-rows", func(b *testing.B) {
				b.SetBytes(512 * 512 * 3)
				b.ReportAllocs()
				cpu := cputime.Now()
				var scratch []byte
				for b.Loop() {
					var err error
					if scratch, err = DecodeRows(f.data, scratch, discardRows); err != nil {
						b.Fatal(err)
					}
				}
				cputime.PerOp(b, cpu)
			})
		})
	}
}

// discardRows takes every row and keeps nothing.
func discardRows(Header) (func(int, []byte), error) { return func(int, []byte) {}, nil }

// BenchmarkStages times the parts of Decode on a ComfyUI-like file.
func BenchmarkStages(b *testing.B) {
	sim, _ := benchFiles(b)
	img, err := Decode(sim)
	if err != nil {
		b.Fatal(err)
	}
	_ = img.(*image.RGBA)
	z := idatOf(b, sim)
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

// idatOf returns the zlib stream of a PNG with a single IDAT chunk.
func idatOf(tb testing.TB, data []byte) []byte {
	for p := 8; p+8 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if string(data[p+4:p+8]) == "IDAT" {
			return data[p+8 : p+8+n]
		}
		p += 12 + n
	}
	tb.Fatal("no IDAT chunk")
	return nil
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

// BenchmarkSpeedup512 decodes each file with pngdec and image/png in
// turn, every iteration, and reports both times and their ratio: on a
// machine whose load varies, a paired measurement keeps the ratio honest
// where two separate benchmarks would each catch different load.
func BenchmarkSpeedup512(b *testing.B) {
	comfy, std := benchFiles(b)
	huffman := encodeTest(b, 512, 512, noisyRGB(512, 512), encOpts{colorType: ctRGB, level: zlib.HuffmanOnly, filter: func(int) byte { return ftSub }})
	for _, f := range []struct {
		name string
		data []byte
	}{{"comfyui", comfy}, {"png-default", std}, {"sub-huffman", huffman}} {
		b.Run(f.name, func(b *testing.B) {
			var ours, theirs time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := Decode(f.data); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := png.Decode(bytes.NewReader(f.data)); err != nil {
					b.Fatal(err)
				}
				ours, theirs = ours+t1.Sub(t0), theirs+time.Since(t1)
			}
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "pngdec-ns/op")
			b.ReportMetric(float64(theirs.Nanoseconds())/float64(b.N), "image/png-ns/op")
			b.ReportMetric(float64(theirs)/float64(ours), "speedup")
		})
	}
}

// BenchmarkUnfilterRows times each filter reversed in place, as DecodeRows
// reverses it, on 512 rows of 512 pixels of 3 (RGB) and 4 (RGBA) bytes.
// The comfyui case is the benchmark file's own rows with the filters
// Pillow chose for them (mostly Up, then Paeth, on the simulator's
// picture; renders of real scenes choose Paeth and Average more often).
func BenchmarkUnfilterRows(b *testing.B) {
	const w, h = 512, 512
	run := func(b *testing.B, raw []byte, bpp int) {
		work := make([]byte, len(raw))
		rb := w * bpp
		b.SetBytes(int64(h * rb))
		for b.Loop() {
			copy(work, raw)
			var prev []byte
			for y := range h {
				dst := work[y*rb : y*rb+rb : y*rb+rb]
				if !unfilter(work[y*(rb+1)], dst, work[y*(rb+1)+1:(y+1)*(rb+1)], prev, bpp) {
					b.Fatal("bad filter")
				}
				prev = dst
			}
		}
	}
	b.Run("comfyui", func(b *testing.B) {
		sim, _ := benchFiles(b)
		raw := make([]byte, h*(1+3*w))
		if _, err := unzlib(raw, idatOf(b, sim)); err != nil {
			b.Fatal(err)
		}
		run(b, raw, 3)
	})
	rgb := noisyRGB(w, h)
	for _, bpp := range []int{3, 4} {
		src := rgb
		if bpp == 4 {
			src = make([]byte, 0, 4*w*h)
			for i := 0; i < len(rgb); i += 3 {
				src = append(src, rgb[i], rgb[i+1], rgb[i+2], byte(i))
			}
		}
		for ft := range byte(5) {
			raw := make([]byte, 0, h*(1+bpp*w))
			for y := range h {
				raw = append(raw, ft)
				raw = append(raw, src[y*bpp*w:(y+1)*bpp*w]...)
			}
			b.Run(fmt.Sprintf("bpp%d/%s", bpp, []string{"none", "sub", "up", "average", "paeth"}[ft]), func(b *testing.B) {
				run(b, raw, bpp)
			})
		}
	}
}

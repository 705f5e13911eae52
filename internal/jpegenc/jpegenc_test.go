package jpegenc

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/score"
)

// TestFDCTMatchesDefinition: the transform fdctQuant quantizes (fdctRows,
// then even and odd down each column), divided by the scale setQuality
// folds into the quantization, is T.81's F(u,v) (A.3.3); and fdctQuant
// with quality 100's quantizers (all 1) stores F(u,v) rounded, at its
// zig-zag index.
func TestFDCTMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var e encoder
	e.setQuality(100)
	for n := range 20 {
		var b [64]float32
		var x [64]float64
		for i := range b {
			v := float64(r.IntN(256) - 128)
			if n == 0 {
				v = 127 // flat: only the DC term
			}
			b[i], x[i] = float32(v), v
		}
		var q coefs
		quantized := b
		fdctQuant(&quantized, &e.recip[0], &q)
		fdctRows(&b)
		for i := range 8 {
			c := [8]float32{b[i], b[8+i], b[16+i], b[24+i], b[32+i], b[40+i], b[48+i], b[56+i]}
			b[i], b[16+i], b[32+i], b[48+i] = even(c[0]+c[7], c[1]+c[6], c[2]+c[5], c[3]+c[4])
			b[8+i], b[24+i], b[40+i], b[56+i] = odd(c[0]-c[7], c[1]-c[6], c[2]-c[5], c[3]-c[4])
		}
		for v := range 8 {
			for u := range 8 {
				var s float64
				for j := range 8 {
					for i := range 8 {
						s += x[8*j+i] * math.Cos(float64((2*i+1)*u)*math.Pi/16) * math.Cos(float64((2*j+1)*v)*math.Pi/16)
					}
				}
				cu, cv := 1.0, 1.0
				if u == 0 {
					cu = 1 / math.Sqrt2
				}
				if v == 0 {
					cv = 1 / math.Sqrt2
				}
				want := s * cu * cv / 4
				got := float64(b[8*v+u]) / (8 * aanScale[u] * aanScale[v])
				if math.Abs(got-want) > 1e-3*max(1, math.Abs(want)) {
					t.Fatalf("block %d: F(%d,%d) = %g, want %g", n, u, v, got, want)
				}
				// Skip values too near a tie to say which way they round.
				if _, f := math.Modf(math.Abs(want)); math.Abs(f-0.5) > 1e-3*max(1, math.Abs(want)) {
					if got, want := q.at(int(coefOffset[8*v+u]/2)), int32(math.Round(want)); got != want {
						t.Fatalf("block %d: quantized F(%d,%d) = %d, want %d", n, u, v, got, want)
					}
				}
			}
		}
	}
}

// TestCoefsNonzero: nonzero finds exactly the coefficients that are not
// zero, at the extremes of the baseline range too, and at reads back what
// quantize stored.
func TestCoefsNonzero(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 1000 {
		var q coefs
		var want uint64
		var vals [64]int32
		for k := range 64 {
			var v int32
			switch r.IntN(4) {
			case 0:
				v = int32(r.IntN(4095)) - 2047
			case 1:
				v = []int32{-2048, -2047, -1, 1, 2047, 2048}[r.IntN(6)]
			}
			if n == 0 {
				v = 0
			}
			vals[k] = v
			if v != 0 {
				want |= 1 << k
			}
			q.quantize(float32(v), 1, uint8(2*k))
		}
		if got := q.nonzero(); got != want {
			t.Fatalf("block %d: nonzero %#x, want %#x", n, got, want)
		}
		for k, v := range vals {
			if got := q.at(k); got != v {
				t.Fatalf("block %d: coefficient %d is %d, want %d", n, k, got, v)
			}
		}
	}
}

// render is the simulator's picture at w×h, as an *image.RGBA.
func render(w, h int, seed string) *image.RGBA {
	n := comfytest.Render(sha256.Sum256([]byte(seed)), w, h, 20, false)
	return &image.RGBA{Pix: n.Pix, Stride: n.Stride, Rect: n.Rect}
}

// thumbOf is the simulator's picture at 2w×2h, saved as ComfyUI saves it
// and reduced to at most w×h by score's decoder, exactly as a run makes a
// candidate's thumbnail (score.Frame.Thumbnail): it keeps more fine
// detail than a w×h render.
func thumbOf(tb testing.TB, w, h int, seed string) *image.RGBA {
	img := comfytest.Render(sha256.Sum256([]byte(seed)), 2*w, 2*h, 20, false)
	data, err := comfytest.EncodePNG(img, nil)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := score.DecodeFrame(data, score.Limits{}, score.Need{Thumb: max(w, h)})
	if err != nil {
		tb.Fatal(err)
	}
	th, err := f.Thumbnail()
	if err != nil {
		tb.Fatal(err)
	}
	m, ok := th.(*image.RGBA)
	if !ok {
		tb.Fatalf("thumbnail is a %T, want *image.RGBA", th)
	}
	return m
}

// psnr compares a decoded JPEG with the source, over the RGB channels.
func psnr(t *testing.T, src *image.RGBA, data []byte) float64 {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/jpeg cannot decode the output: %v", err)
	}
	if img.Bounds() != src.Bounds() {
		t.Fatalf("decoded bounds %v, want %v", img.Bounds(), src.Bounds())
	}
	var se float64
	b := src.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			p := src.RGBAAt(x, y)
			for _, d := range []float64{float64(r>>8) - float64(p.R), float64(g>>8) - float64(p.G), float64(bl>>8) - float64(p.B)} {
				se += d * d
			}
		}
	}
	mse := se / float64(3*b.Dx()*b.Dy())
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// TestEncodeQuality: at every size (MCUs cut by both edges, single
// pixels, thumbnails) and several qualities, image/jpeg decodes the
// output to the source's size, and it is as faithful as image/jpeg's own
// encoding at that quality, within 0.2 dB (rounding differences on the
// smallest images; at 256² ours is slightly ahead), at about the same
// size.
func TestEncodeQuality(t *testing.T) {
	sizes := [][2]int{{1, 1}, {7, 5}, {8, 8}, {16, 16}, {17, 33}, {100, 3}, {256, 171}, {256, 256}}
	if testing.Short() {
		sizes = sizes[:6]
	}
	for _, s := range sizes {
		src := render(s[0], s[1], fmt.Sprint(s))
		for _, q := range []int{30, 82, 95} {
			var ours, std bytes.Buffer
			if err := Encode(&ours, src, q); err != nil {
				t.Fatal(err)
			}
			if err := jpeg.Encode(&std, src, &jpeg.Options{Quality: q}); err != nil {
				t.Fatal(err)
			}
			got, want := psnr(t, src, ours.Bytes()), psnr(t, src, std.Bytes())
			if got < want-0.2 {
				t.Errorf("%dx%d quality %d: PSNR %.2f dB, image/jpeg's %.2f", s[0], s[1], q, got, want)
			}
			if ratio := float64(ours.Len()) / float64(std.Len()); s[0]*s[1] >= 256 && (ratio < 0.9 || ratio > 1.1) {
				t.Errorf("%dx%d quality %d: %d bytes, image/jpeg's %d", s[0], s[1], q, ours.Len(), std.Len())
			}
		}
	}
}

// TestEncodeFlatAndExtremes: flat images of extreme and middle colours
// come back within a level, which exercises the largest DC differences;
// noise exercises the longest AC codes and 0xff byte stuffing.
func TestEncodeFlatAndExtremes(t *testing.T) {
	for _, c := range []color.RGBA{{0, 0, 0, 255}, {255, 255, 255, 255}, {255, 0, 0, 255}, {0, 0, 255, 255}, {128, 64, 200, 255}} {
		src := image.NewRGBA(image.Rect(0, 0, 40, 24))
		for i := 0; i < len(src.Pix); i += 4 {
			src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = c.R, c.G, c.B, c.A
		}
		var buf bytes.Buffer
		if err := Encode(&buf, src, 82); err != nil {
			t.Fatal(err)
		}
		if p := psnr(t, src, buf.Bytes()); p < 40 {
			t.Errorf("flat %v: PSNR %.1f dB, want a near-exact copy", c, p)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	noise := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range noise.Pix {
		noise.Pix[i] = byte(r.Uint32())
	}
	for _, q := range []int{1, 50, 100} {
		var buf bytes.Buffer
		if err := Encode(&buf, noise, q); err != nil {
			t.Fatal(err)
		}
		var std bytes.Buffer
		jpeg.Encode(&std, noise, &jpeg.Options{Quality: q})
		if got, want := psnr(t, noise, buf.Bytes()), psnr(t, noise, std.Bytes()); got < want-0.2 {
			t.Errorf("noise quality %d: PSNR %.2f dB, image/jpeg's %.2f", q, got, want)
		}
	}
	if err := Encode(&bytes.Buffer{}, image.NewRGBA(image.Rect(0, 0, 0, 5)), 82); err == nil {
		t.Error("Encode of an empty image succeeded")
	}
}

// TestEncodeSubImage: a sub-image is encoded from its own bounds.
func TestEncodeSubImage(t *testing.T) {
	src := render(48, 40, "sub")
	sub := src.SubImage(image.Rect(5, 7, 30, 33)).(*image.RGBA)
	whole := image.NewRGBA(image.Rect(0, 0, 25, 26))
	for y := range 26 {
		copy(whole.Pix[y*whole.Stride:], sub.Pix[y*sub.Stride:y*sub.Stride+4*25])
	}
	var a, b bytes.Buffer
	if err := Encode(&a, sub, 82); err != nil {
		t.Fatal(err)
	}
	if err := Encode(&b, whole, 82); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("a sub-image encodes differently from a copy of its pixels")
	}
}

// BenchmarkEncode encodes a 256² thumbnail of a ComfyUI-like render with
// Encode and with image/jpeg in turn, every iteration, at the thumbnails'
// quality, and reports the median of each one's times and of their
// ratios: on a machine whose load varies, the pair sees the same load, and
// medians leave out the encodes the scheduler interrupted. "thumb" is
// what a run encodes, a 512² render reduced by 2×2 means; "render" is a
// 256² render, with less fine detail.
func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		name string
		src  *image.RGBA
	}{
		{"thumb", thumbOf(b, 256, 256, "bench")},
		{"render", render(256, 256, "bench")},
	} {
		b.Run(tc.name, func(b *testing.B) { benchEncode(b, tc.src) })
	}
}

func benchEncode(b *testing.B, src *image.RGBA) {
	var buf bytes.Buffer
	var ours, theirs, ratios []float64
	for b.Loop() {
		buf.Reset()
		t0 := time.Now()
		if err := Encode(&buf, src, 82); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		buf.Reset()
		if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 82}); err != nil {
			b.Fatal(err)
		}
		o, t := float64(t1.Sub(t0)), float64(time.Since(t1))
		ours, theirs, ratios = append(ours, o), append(theirs, t), append(ratios, t/o)
	}
	med := func(x []float64) float64 {
		slices.Sort(x)
		return x[len(x)/2]
	}
	b.ReportMetric(med(ours), "jpegenc-ns/op")
	b.ReportMetric(med(theirs), "image/jpeg-ns/op")
	b.ReportMetric(med(ratios), "speedup")
}

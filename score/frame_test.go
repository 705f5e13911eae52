package score

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// allNeeds asks DecodeFrame for every form, with thumbnails of side 64 so
// that small test images are reduced too.
var allNeeds = Need{Luma: true, Blank: true, Hash: true, Thumb: 64}

// withAlpha returns img with a varying alpha channel, so PNG encodes it
// as RGBA.
func withAlpha(img *image.NRGBA) *image.NRGBA {
	out := imaging.Clone(img)
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = uint8(128 + i%128)
	}
	return out
}

// frameCases are PNGs on DecodeFrame's row path: RGB as ComfyUI and
// image/png write it, RGBA, sizes whose reductions divide exactly or not,
// and one smaller than Phash's 32×32.
func frameCases(t testing.TB) map[string][]byte {
	comfy := func(img *image.NRGBA) []byte {
		data, err := comfytest.EncodePNG(img, [][2]string{{"prompt", "{}"}})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	return map[string][]byte{
		"comfyui-256":     comfy(comfytest.Render(sha256.Sum256([]byte("frame")), 256, 256, 20, false)),
		"comfyui-192x128": comfy(comfytest.Render(sha256.Sum256([]byte("frame2")), 192, 128, 20, false)),
		"scene-77x53":     encodePNG(t, sceneImage(77, 53, 1)),
		"scene-130x200":   encodePNG(t, sceneImage(130, 200, 2)),
		"noise-64x64":     encodePNG(t, randomImage(64, 64, 3)),
		"scene-31x20":     encodePNG(t, sceneImage(31, 20, 4)),
		"scene-3x3":       encodePNG(t, sceneImage(3, 3, 5)),
		"rgba-96x80":      encodePNG(t, withAlpha(sceneImage(96, 80, 6))),
		"rgba-1x1":        encodePNG(t, withAlpha(sceneImage(1, 1, 7))),
	}
}

// scoreAll runs the local scorers on c and returns their scores.
func scoreAll(t *testing.T, c comfybatch.Candidate) []comfybatch.Score {
	t.Helper()
	b := c.Pixels.Bounds()
	var out []comfybatch.Score
	for _, s := range []interface {
		Score(context.Context, comfybatch.Candidate) (comfybatch.Score, error)
	}{&Sharpness{}, &Sharpness{Name: "reduced", LongSide: 24}, &Size{Width: b.Dx()}, &Blank{}, &Phash{}} {
		sc, err := s.Score(t.Context(), c)
		if err != nil {
			t.Errorf("%T: %v", s, err) // not Fatal: goroutines call this too
			return nil
		}
		out = append(out, sc)
	}
	return out
}

// TestFrameScoresEqualImageScores: scoring a Frame built from decoded
// rows gives exactly the scores of the full decoded image, for every
// local scorer: the rows feed the same integer and floating-point sums.
func TestFrameScoresEqualImageScores(t *testing.T) {
	for name, data := range frameCases(t) {
		t.Run(name, func(t *testing.T) {
			img, err := Decode(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := DecodeFrame(data, Limits{}, allNeeds)
			if err != nil {
				t.Fatal(err)
			}
			if f.full != nil || f.luma == nil || f.blank == nil || f.thumb == nil {
				t.Fatalf("DecodeFrame did not take the row path (full %v, luma %v, blank %v, thumb %v)",
					f.full != nil, f.luma != nil, f.blank != nil, f.thumb != nil)
			}
			if f.Bounds() != img.Bounds() {
				t.Fatalf("Frame bounds %v, image %v", f.Bounds(), img.Bounds())
			}
			got, want := scoreAll(t, candidate(f, data)), scoreAll(t, candidate(img, data))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Frame scores\n%v\nimage scores\n%v", got, want)
			}
			// Only an image smaller than Phash's 32×32 needs the full
			// image (areaLuma enlarges it first).
			if small := img.Bounds().Dx() < phashSize || img.Bounds().Dy() < phashSize; f.full != nil && !small {
				t.Error("scoring the Frame decoded the full image")
			}
		})
	}
}

// TestFrameLumaEqualsImageLuma: the luma plane is lumaRowsOf's, to the
// last bit (Sharpness's luma of the decoded image).
func TestFrameLumaEqualsImageLuma(t *testing.T) {
	for name, data := range frameCases(t) {
		img, err := Decode(data, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := DecodeFrame(data, Limits{}, Need{Luma: true})
		if err != nil {
			t.Fatal(err)
		}
		w, h, row := lumaRowsOf(img)
		fw, fh, frow := f.lumaRows()
		if fw != w || fh != h {
			t.Fatalf("%s: luma %dx%d, image %dx%d", name, fw, fh, w, h)
		}
		buf := make([]byte, 2*w)
		for y := range h {
			want := row(y, make([]byte, 2*w))
			got := frow(y, buf)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: luma row %d differs", name, y)
			}
		}
	}
}

// TestLumaRGBRowMatchesScalar covers every row length up to 9 (the step
// that leaves the last pixel alone) and the channel extremes.
func TestLumaRGBRowMatchesScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for w := range 10 {
		src := make([]byte, 3*w)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		if w == 5 {
			copy(src, []byte{255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255})
		}
		got := make([]byte, 2*w)
		lumaRGBRow(got, src)
		for x := range w {
			p := src[3*x : 3*x+3]
			if g, want := binary.LittleEndian.Uint16(got[2*x:]), luma16(p[0], p[1], p[2]); g != want {
				t.Errorf("width %d pixel %d %v: Y16 %d, want %d", w, x, p, g, want)
			}
		}
	}
}

// TestFrameThumbnail: the reduced copy has imaging.Fit's size, and each
// pixel is the exact area average of what it covers (referenceArea),
// within rounding; RGBA is averaged as a JPEG shows it, premultiplied.
// Against imaging.Fit with the box filter, which averages whole pixels
// only, it agrees to rounding where the factors are whole and on average
// to a level or so where they are not.
func TestFrameThumbnail(t *testing.T) {
	for name, data := range frameCases(t) {
		t.Run(name, func(t *testing.T) {
			img, err := Decode(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := DecodeFrame(data, Limits{}, Need{Thumb: 64})
			if err != nil {
				t.Fatal(err)
			}
			th, err := f.Thumbnail()
			if err != nil {
				t.Fatal(err)
			}
			fit := imaging.Fit(img, 64, 64, imaging.Box)
			if th.Bounds() != fit.Bounds() {
				t.Fatalf("thumbnail %v, imaging.Fit %v", th.Bounds(), fit.Bounds())
			}
			dw, dh := fit.Rect.Dx(), fit.Rect.Dy()
			b := img.Bounds()
			var ref [3][][]float64
			for c := range ref {
				grid := make([][]float64, b.Dy())
				for y := range grid {
					grid[y] = make([]float64, b.Dx())
					for x := range grid[y] {
						p := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
						v := [3]uint8{p.R, p.G, p.B}[c]
						grid[y][x] = float64((uint32(v)*uint32(p.A) + 127) / 255)
					}
				}
				ref[c] = referenceArea(grid, dw, dh)
			}
			fitSum := 0
			for y := range dh {
				for x := range dw {
					g := th.At(x, y).(color.RGBA)
					if g.A != 255 {
						t.Fatalf("thumbnail pixel (%d,%d) alpha %d, want opaque", x, y, g.A)
					}
					for c, v := range [3]uint8{g.R, g.G, g.B} {
						if want := ref[c][y][x]; math.Abs(float64(v)-want) > 0.5+1e-3 {
							t.Fatalf("thumbnail pixel (%d,%d) channel %d = %d, area average %.3f", x, y, c, v, want)
						}
					}
					w := color.RGBAModel.Convert(fit.At(x, y)).(color.RGBA)
					for _, d := range []int{int(g.R) - int(w.R), int(g.G) - int(w.G), int(g.B) - int(w.B)} {
						fitSum += max(d, -d)
					}
				}
			}
			mean := float64(fitSum) / float64(3*dw*dh)
			limit := 0.5
			if b.Dx()%dw != 0 || b.Dy()%dh != 0 {
				limit = 2
			}
			if mean > limit {
				t.Errorf("thumbnail differs from imaging.Fit's by %.2f levels on average, want at most %g", mean, limit)
			}
		})
	}
}

// TestFrameFallsBackToFullDecode: images off the row path (grey, 16-bit,
// palette, JPEG) and Need.Full keep the full image, and the scorers give
// the full image's scores.
func TestFrameFallsBackToFullDecode(t *testing.T) {
	scene := sceneImage(40, 36, 9)
	gray := imaging.Grayscale(scene)
	g8 := image.NewGray(gray.Rect)
	for i := range g8.Pix {
		g8.Pix[i] = gray.Pix[4*i]
	}
	g16 := image.NewGray16(gray.Rect)
	for y := range 36 {
		for x := range 40 {
			g16.Set(x, y, scene.At(x, y))
		}
	}
	pal := image.NewPaletted(scene.Rect, color.Palette{color.Black, color.White, color.RGBA{200, 10, 10, 255}})
	for y := range 36 {
		for x := range 40 {
			pal.SetColorIndex(x, y, uint8((x*y)%3))
		}
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, scene, nil); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		data []byte
		need Need
	}{
		"gray":      {encodePNG(t, g8), allNeeds},
		"gray16":    {encodePNG(t, g16), allNeeds},
		"paletted":  {encodePNG(t, pal), allNeeds},
		"jpeg":      {jpg.Bytes(), allNeeds},
		"rgb, full": {encodePNG(t, scene), Need{Full: true, Luma: true, Thumb: 16}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			img, err := Decode(tc.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := DecodeFrame(tc.data, Limits{}, tc.need)
			if err != nil {
				t.Fatal(err)
			}
			if f.full == nil || f.luma != nil {
				t.Fatalf("DecodeFrame kept full image %v, built luma %v; want the full image only", f.full != nil, f.luma != nil)
			}
			if got, want := scoreAll(t, candidate(f, tc.data)), scoreAll(t, candidate(img, tc.data)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Frame scores\n%v\nimage scores\n%v", got, want)
			}
			if th, err := f.Thumbnail(); err != nil || th != f.full {
				t.Errorf("Thumbnail() = %T, %v; want the full image", th, err)
			}
		})
	}
}

// TestFrameIsTheImage: a Frame without the full image decodes it on
// demand, for readers of arbitrary pixels, and scorers whose form was not
// built read it too.
func TestFrameIsTheImage(t *testing.T) {
	data := encodePNG(t, sceneImage(50, 40, 11))
	img, err := Decode(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFrame(data, Limits{}, Need{})
	if err != nil {
		t.Fatal(err)
	}
	if f.full != nil {
		t.Fatal("DecodeFrame kept the full image without Need.Full")
	}
	if got, want := scoreAll(t, candidate(f, data)), scoreAll(t, candidate(img, data)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Frame scores\n%v\nimage scores\n%v", got, want)
	}
	if f.ColorModel() != img.ColorModel() {
		t.Errorf("ColorModel %v, want %v", f.ColorModel(), img.ColorModel())
	}
	for _, p := range []image.Point{{0, 0}, {49, 39}, {17, 23}} {
		if got, want := f.At(p.X, p.Y), img.At(p.X, p.Y); got != want {
			t.Errorf("At%v = %v, want %v", p, got, want)
		}
	}
}

// TestDecodeFrameErrors: DecodeFrame refuses what Decode refuses, with
// ErrInvalid, whatever it was asked to build.
func TestDecodeFrameErrors(t *testing.T) {
	good := encodePNG(t, sceneImage(64, 48, 12))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	for name, data := range map[string][]byte{
		"empty":          nil,
		"truncated half": good[:len(good)/2],
		"truncated tail": good[:len(good)-13],
		"corrupt body":   flipped,
		"bomb":           pngHeader(100000, 100000),
		"text":           []byte("<html>502 Bad Gateway</html>"),
	} {
		for _, need := range []Need{{}, allNeeds} {
			f, err := DecodeFrame(data, Limits{}, need)
			if err == nil || f != nil {
				t.Errorf("%s, %+v: DecodeFrame = %v, %v; want an error", name, need, f, err)
			} else if !errors.Is(err, comfybatch.ErrInvalid) {
				t.Errorf("%s, %+v: error %v does not wrap ErrInvalid", name, need, err)
			}
		}
	}
	if _, err := DecodeFrame(good, Limits{MaxPixels: 64*48 - 1}, allNeeds); err == nil {
		t.Error("DecodeFrame ignored Limits.MaxPixels")
	}
}

func TestNeedUnion(t *testing.T) {
	var n Need
	for _, s := range []interface{ Needs() Need }{&Sharpness{}, &Size{}, &Blank{}, &Phash{}, &HTTP{}, &Exec{}} {
		n = n.Union(s.Needs())
	}
	n = n.Union(Need{Thumb: 256}).Union(Need{Thumb: 128})
	if want := (Need{Luma: true, Blank: true, Hash: true, Thumb: 256}); n != want {
		t.Errorf("union of the local scorers' needs = %+v, want %+v", n, want)
	}
}

// FuzzDecodeFrame: DecodeFrame succeeds exactly when Decode does, never
// panics, and scores what the decoded image scores.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(encodePNG(f, randomImage(8, 8, 4)))
	f.Add(encodePNG(f, sceneImage(40, 33, 5)))
	f.Add(encodePNG(f, withAlpha(sceneImage(9, 7, 6))))
	f.Add(pngHeader(100000, 100000))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxPixels: 1 << 16}
		img, err := Decode(data, lim)
		fr, ferr := DecodeFrame(data, lim, allNeeds)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("Decode: %v, DecodeFrame: %v", err, ferr)
		}
		if ferr != nil {
			if !errors.Is(ferr, comfybatch.ErrInvalid) {
				t.Fatalf("DecodeFrame error %v does not wrap ErrInvalid", ferr)
			}
			return
		}
		if got, want := scoreAll(t, candidate(fr, data)), scoreAll(t, candidate(img, data)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Frame scores\n%v\nimage scores\n%v", got, want)
		}
	})
}

var _ image.Image = (*Frame)(nil)

// TestAreaReducerBlocksExact: the integer column sums areaReducer takes
// for power-of-two factors give the float sums' bits, at the extremes
// (every pixel white, the largest sums) and on noise, up to the factor 64
// where float32 is still exact.
func TestAreaReducerBlocksExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, w := range []int{32, 64, 512, 1024, 2048} {
		for _, fill := range []string{"white", "noise"} {
			h := 64
			fast, slow := newAreaReducer(w, h, 32, 32), newAreaReducer(w, h, 32, 32)
			if fast.blocks != w/32 {
				t.Fatalf("width %d: blocks %d, want %d", w, fast.blocks, w/32)
			}
			slow.blocks = 0
			row := make([]int32, w)
			for y := range h {
				for x := range row {
					row[x] = 255000
					if fill == "noise" {
						row[x] = int32(r.IntN(255001))
					}
				}
				fast.addRow(y, row)
				slow.addRow(y, row)
			}
			for i := range fast.out.pix {
				if math.Float32bits(fast.out.pix[i]) != math.Float32bits(slow.out.pix[i]) {
					t.Fatalf("width %d, %s: pixel %d = %v by blocks, %v by weights", w, fill, i, fast.out.pix[i], slow.out.pix[i])
				}
			}
		}
	}
	if r := newAreaReducer(96, 96, 32, 32); r.blocks != 0 {
		t.Errorf("factor 3: blocks %d, want the weighted path", r.blocks)
	}
	if r := newAreaReducer(4096, 32, 32, 32); r.blocks != 0 {
		t.Errorf("factor 128: blocks %d, want the weighted path", r.blocks)
	}
}

// TestDecoderReusesMemory: one Decoder, used by several goroutines at once
// on images of different sizes, each after others, gives what a fresh
// DecodeFrame gives: reused memory never shows through.
func TestDecoderReusesMemory(t *testing.T) {
	cases := frameCases(t)
	want, wantThumb := map[string]string{}, map[string]string{}
	for name, data := range cases {
		f, err := DecodeFrame(data, Limits{}, allNeeds)
		if err != nil {
			t.Fatal(err)
		}
		want[name] = fmt.Sprint(scoreAll(t, candidate(f, data)))
		th, err := f.Thumbnail()
		if err != nil {
			t.Fatal(err)
		}
		wantThumb[name] = thumbSum(th)
	}
	var d Decoder
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for round := range 2 {
				for name, data := range cases {
					f, err := d.DecodeFrame(data, Limits{}, allNeeds)
					if err != nil {
						t.Error(err)
						return
					}
					if got := fmt.Sprint(scoreAll(t, candidate(f, data))); got != want[name] {
						t.Errorf("goroutine %d, round %d, %s: scores\n%s\nwant\n%s", g, round, name, got, want[name])
					}
					th, err := f.Thumbnail()
					if err != nil {
						t.Error(err)
						return
					}
					if got := thumbSum(th); got != wantThumb[name] {
						t.Errorf("goroutine %d, round %d, %s: thumbnail %s, want %s", g, round, name, got, wantThumb[name])
					}
					f.Release()
					if f.luma != nil || f.thumb != nil {
						t.Errorf("%s: Release kept the planes", name)
					}
				}
			}
		})
	}
	wg.Wait()
}

// thumbSum names an image's size and pixels' SHA-256.
func thumbSum(img image.Image) string {
	b := img.Bounds()
	h := sha256.New()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			h.Write([]byte{byte(r >> 8), byte(g >> 8), byte(bl >> 8), byte(a >> 8)})
		}
	}
	return fmt.Sprintf("%v %x", b.Size(), h.Sum(nil)[:8])
}

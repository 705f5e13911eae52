package score

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"

	"github.com/disintegration/imaging"
)

// referenceLaplacianVar is the obviously correct version: luma as
// Sharpness defines it into a 2-D slice, then the kernel, then the
// textbook variance.
func referenceLaplacianVar(img image.Image) float64 {
	return gridLaplacianVar(referenceSharpLuma(img))
}

// referenceSharpLuma is the luma Sharpness documents: Rec.601 with 8-bit
// fixed-point weights, rounded to 1/16 of a level.
func referenceSharpLuma(img image.Image) [][]float64 {
	b := img.Bounds()
	lum := make([][]float64, b.Dy())
	for y := range lum {
		lum[y] = make([]float64, b.Dx())
		for x := range lum[y] {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			y16 := (77*int(c.R) + 150*int(c.G) + 29*int(c.B) + 8) >> 4
			lum[y][x] = float64(y16) / 16
		}
	}
	return lum
}

// TestSharpLumaWithinRoundingOfRec601: the luma Sharpness computes is its
// documented fixed-point formula (referenceSharpLuma), and that stays
// within rounding of exact Rec.601.
func TestSharpLumaWithinRoundingOfRec601(t *testing.T) {
	img := randomImage(64, 64, 3)
	exact, ref := referenceLuma(img), referenceSharpLuma(img)
	w, _, row := lumaRowsOf(img)
	y16 := make([]byte, 2*w)
	for y := range exact {
		row(y, y16)
		for x := range exact[y] {
			fixed := float64(y16At(y16, x)) / lumaScale
			if fixed != ref[y][x] {
				t.Fatalf("pixel (%d,%d): Sharpness luma %g, documented formula %g", x, y, fixed, ref[y][x])
			}
			// Weights within 0.0018 of Rec.601's: at most 0.46 apart
			// on 0..255, plus 1/32 of rounding.
			if d := math.Abs(exact[y][x] - fixed); d > 0.46+1.0/32 {
				t.Fatalf("pixel (%d,%d): fixed-point luma %g, Rec.601 %g", x, y, fixed, exact[y][x])
			}
		}
	}
}

func sharpnessOf(t *testing.T, s *Sharpness, img image.Image) float64 {
	t.Helper()
	sc, err := s.Score(t.Context(), candidate(img, nil))
	if err != nil {
		t.Fatalf("Sharpness.Score: %v", err)
	}
	if sc.Scorer != "sharpness" {
		t.Errorf("Scorer = %q, want sharpness", sc.Scorer)
	}
	return sc.Metrics["laplacian_var"]
}

func TestSharpnessMatchesReference(t *testing.T) {
	s := &Sharpness{}
	for i, sz := range []image.Point{{3, 3}, {17, 5}, {64, 64}, {200, 130}, {301, 97}} {
		img := randomImage(sz.X, sz.Y, uint64(i))
		var gray image.Image = imaging.Grayscale(img)
		for _, m := range []struct {
			name string
			img  image.Image
		}{
			{"nrgba", img},
			{"rgba", toRGBA(img)},
			{"scene", sceneImage(sz.X, sz.Y, uint64(i))},
			{"gray-as-nrgba", gray},
			{"paletted", toPaletted(img)},
		} {
			got, want := sharpnessOf(t, s, m.img), referenceLaplacianVar(m.img)
			if math.Abs(got-want) > 1e-6*math.Max(1, want) {
				t.Errorf("%s %v: laplacian_var = %.9g, reference %.9g", m.name, sz, got, want)
			}
		}
	}
}

func TestSharpnessSubImageAndGray(t *testing.T) {
	img := randomImage(40, 30, 9)
	sub := img.SubImage(image.Rect(5, 7, 35, 27))
	if got, want := sharpnessOf(t, &Sharpness{}, sub), referenceLaplacianVar(sub); math.Abs(got-want) > 1e-6*want {
		t.Errorf("sub-image laplacian_var = %g, reference %g", got, want)
	}
	g := image.NewGray(image.Rect(0, 0, 20, 20))
	for i := range g.Pix {
		g.Pix[i] = byte(i * 37)
	}
	if got, want := sharpnessOf(t, &Sharpness{}, g), referenceLaplacianVar(g); math.Abs(got-want) > 1e-6*want {
		t.Errorf("gray laplacian_var = %g, reference %g", got, want)
	}
}

func TestSharpnessDecreasesWithBlur(t *testing.T) {
	s := &Sharpness{}
	img := sceneImage(256, 256, 42)
	prev := sharpnessOf(t, s, img)
	for _, sigma := range []float64{0.5, 1, 2, 4, 8} {
		v := sharpnessOf(t, s, imaging.Blur(img, sigma))
		if !(v < prev) {
			t.Errorf("blur sigma %g: laplacian_var %g, not below %g at the previous sigma", sigma, v, prev)
		}
		prev = v
	}
}

func TestSharpnessFlatAndTiny(t *testing.T) {
	flat := imaging.New(300, 200, color.NRGBA{120, 30, 200, 255})
	if v := sharpnessOf(t, &Sharpness{}, flat); v > 1e-9 {
		t.Errorf("flat image laplacian_var = %g, want 0", v)
	}
	if v := sharpnessOf(t, &Sharpness{}, randomImage(2, 50, 1)); v != 0 {
		t.Errorf("2-pixel-wide image laplacian_var = %g, want 0", v)
	}
}

// referenceLuma returns the exact Rec.601 luma of every pixel, as areaLuma
// (used by Phash) computes it.
func referenceLuma(img image.Image) [][]float64 {
	b := img.Bounds()
	lum := make([][]float64, b.Dy())
	for y := range lum {
		lum[y] = make([]float64, b.Dx())
		for x := range lum[y] {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			lum[y][x] = 0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)
		}
	}
	return lum
}

// referenceArea reduces a luma grid to dw×dh by integrating, for every
// output pixel, each source pixel's overlap with the output pixel's
// footprint in both axes.
func referenceArea(lum [][]float64, dw, dh int) [][]float64 {
	h, w := len(lum), len(lum[0])
	rx, ry := float64(w)/float64(dw), float64(h)/float64(dh)
	overlap := func(j int, lo, hi float64) float64 {
		return math.Max(0, math.Min(float64(j+1), hi)-math.Max(float64(j), lo))
	}
	out := make([][]float64, dh)
	for i := range dh {
		out[i] = make([]float64, dw)
		for k := range dw {
			var s float64
			for y := range h {
				oy := overlap(y, float64(i)*ry, float64(i+1)*ry)
				if oy == 0 {
					continue
				}
				for x := range w {
					s += lum[y][x] * oy * overlap(x, float64(k)*rx, float64(k+1)*rx)
				}
			}
			out[i][k] = s / (rx * ry)
		}
	}
	return out
}

// roundY16 rounds a luma grid to 1/16 of a level, as Sharpness keeps the
// means of its area reduction.
func roundY16(lum [][]float64) [][]float64 {
	for _, row := range lum {
		for x, v := range row {
			row[x] = math.Round(v*16) / 16
		}
	}
	return lum
}

func gridLaplacianVar(lum [][]float64) float64 {
	var vals []float64
	for y := 1; y < len(lum)-1; y++ {
		for x := 1; x < len(lum[0])-1; x++ {
			vals = append(vals, lum[y-1][x]+lum[y+1][x]+lum[y][x-1]+lum[y][x+1]-4*lum[y][x])
		}
	}
	var mean, v float64
	for _, x := range vals {
		mean += x
	}
	mean /= float64(len(vals))
	for _, x := range vals {
		v += (x - mean) * (x - mean)
	}
	return v / float64(len(vals))
}

func TestAreaLumaMatchesReference(t *testing.T) {
	for _, tt := range []struct{ w, h, dw, dh int }{
		{8, 8, 4, 4}, {19, 13, 7, 5}, {121, 83, 51, 35}, {64, 20, 64, 7}, {10, 10, 10, 10}, {5, 40, 1, 3},
	} {
		img := randomImage(tt.w, tt.h, uint64(tt.w))
		got := areaLuma(img, tt.dw, tt.dh)
		want := referenceArea(referenceLuma(img), tt.dw, tt.dh)
		for y := range tt.dh {
			for x := range tt.dw {
				if g, w := float64(got.pix[y*tt.dw+x]), want[y][x]; math.Abs(g-w) > 1e-3 {
					t.Fatalf("%dx%d -> %dx%d: pixel (%d,%d) = %v, reference %v", tt.w, tt.h, tt.dw, tt.dh, x, y, g, w)
				}
			}
		}
	}
}

func TestSharpnessDownscalesToLongSide(t *testing.T) {
	img := sceneImage(300, 210, 5)
	s := &Sharpness{LongSide: 128}
	want := gridLaplacianVar(roundY16(referenceArea(referenceSharpLuma(img), 128, 90)))
	if got := sharpnessOf(t, s, img); math.Abs(got-want) > 1e-4*want {
		t.Errorf("LongSide 128 on 300x210: laplacian_var = %g, want %g (the reference on the area-reduced 128x90 copy)", got, want)
	}
	// The same scene rendered at two sizes scores alike once reduced.
	big, small := sharpnessOf(t, s, sceneImage(1024, 1024, 6)), sharpnessOf(t, s, sceneImage(512, 512, 6))
	if r := big / small; r < 0.5 || r > 2 {
		t.Errorf("scene at 1024² vs 512² (LongSide 128): %g vs %g, ratio %g; want within 2x", big, small, r)
	}
}

func TestSharpnessDecodesWhenNoPixels(t *testing.T) {
	img := randomImage(32, 32, 8)
	sc, err := (&Sharpness{Name: "focus"}).Score(t.Context(), candidate(nil, encodePNG(t, img)))
	if err != nil || sc.Scorer != "focus" {
		t.Fatalf("Score(no pixels) = %+v, %v; want Scorer focus", sc, err)
	}
	if got, want := sc.Metrics["laplacian_var"], referenceLaplacianVar(img); math.Abs(got-want) > 1e-6*want {
		t.Errorf("laplacian_var = %g, want %g", got, want)
	}
	if _, err := (&Sharpness{}).Score(t.Context(), candidate(nil, []byte("junk"))); err == nil {
		t.Error("Score(junk bytes) = nil error, want a decode error")
	}
}

func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y).(color.NRGBA)
			c.A = 255
			out.Set(x, y, c)
		}
	}
	return out
}

func toPaletted(img image.Image) *image.Paletted {
	b := img.Bounds()
	pal := make(color.Palette, 0, 216)
	for r := 0; r < 6; r++ {
		for g := 0; g < 6; g++ {
			for bl := 0; bl < 6; bl++ {
				pal = append(pal, color.NRGBA{byte(r * 51), byte(g * 51), byte(bl * 51), 255})
			}
		}
	}
	out := image.NewPaletted(b, pal)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

func TestSharpnessYCbCrUsesLumaPlane(t *testing.T) {
	img := sceneImage(120, 90, 4)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	dec, err := Decode(buf.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ycc, ok := dec.(*image.YCbCr)
	if !ok {
		t.Fatalf("decoded JPEG is %T, want *image.YCbCr", dec)
	}
	// The Y plane is the luma JPEG stored; the reference recomputes it from
	// RGB after a round trip through chroma, so allow rounding.
	got, want := sharpnessOf(t, &Sharpness{}, ycc), referenceLaplacianVar(ycc)
	if math.Abs(got-want) > 0.02*want {
		t.Errorf("YCbCr laplacian_var = %g, reference from RGB %g; want within 2%%", got, want)
	}
	// Exactly the Y plane's value, not luma recomputed from RGB.
	yPlane := &image.Gray{Pix: ycc.Y, Stride: ycc.YStride, Rect: ycc.Rect}
	if y := sharpnessOf(t, &Sharpness{}, yPlane); got != y {
		t.Errorf("YCbCr laplacian_var = %g, of its Y plane %g; want equal", got, y)
	}
}

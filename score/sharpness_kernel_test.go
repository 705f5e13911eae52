package score

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// The SWAR kernels must be exact at the extremes of their lanes: a
// checkerboard of black and white puts every Laplacian at ±4·255, the
// bounds of the biased 16-bit lanes.
func TestSharpnessExtremes(t *testing.T) {
	for _, sz := range []image.Point{{3, 3}, {4, 4}, {5, 3}, {9, 7}, {64, 33}} {
		board := image.NewNRGBA(image.Rect(0, 0, sz.X, sz.Y))
		lone := image.NewGray(image.Rect(0, 0, sz.X, sz.Y))
		for y := range sz.Y {
			for x := range sz.X {
				if (x+y)%2 == 0 {
					board.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
				}
			}
		}
		lone.SetGray(sz.X/2, sz.Y/2, color.Gray{255})
		for name, img := range map[string]image.Image{"checkerboard": board, "lone white pixel": lone} {
			got, want := sharpness(img, max(sz.X, sz.Y)), referenceLaplacianVar(img)
			if math.Abs(got-want) > 1e-12*math.Max(1, want) {
				t.Errorf("%s %v: laplacian_var = %.12g, reference %.12g", name, sz, got, want)
			}
		}
	}
	// Every Laplacian of the 9×7 checkerboard is ±4080 on the Y16 scale, and
	// they alternate: the variance is 4080²/16² less the squared mean.
	board := image.NewGray(image.Rect(0, 0, 9, 7))
	for i := range board.Pix {
		if i%2 == 0 {
			board.Pix[i] = 255
		}
	}
	var a lapSums
	w, h, row := lumaRowsOf(board)
	rows := make([][]byte, h)
	for y := range rows {
		rows[y] = make([]byte, 2*w)
		row(y, rows[y])
	}
	for y := 1; y < h-1; y++ {
		a.addRow(rows[y-1], rows[y], rows[y+1], w, y == 1, y == h-2)
	}
	// Interior 7×5 = 35 centres; centre (x,y) is white when x+y is even
	// (i%2 on a 9-wide row), where L = -4·4080.
	var wantSum, wantSq int64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			l := int64(4 * 4080)
			if (x+y)%2 == 0 {
				l = -l
			}
			wantSum += l
			wantSq += l * l
		}
	}
	if v, want := a.variance(), (float64(wantSq)/35-math.Pow(float64(wantSum)/35, 2))/256; a.sum != wantSum || a.n != 35 || v != want {
		t.Errorf("lapSums on 9×7 checkerboard: ΣL %d, n %d, variance %g; want %d, 35, %g", a.sum, a.n, v, wantSum, want)
	}
}

// A row of over 2¹⁸ pixels, alternating black and white in threes: the
// kernel's sums over it stay exact.
func TestSharpnessWideRow(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 8*32768+21, 3))
	for i := range img.Pix {
		img.Pix[i] = byte(255 * ((i / 3) % 2))
	}
	got, want := sharpness(img, img.Rect.Dx()), referenceLaplacianVar(img)
	if math.Abs(got-want) > 1e-9*want {
		t.Errorf("%v: laplacian_var = %.12g, reference %.12g", img.Rect.Size(), got, want)
	}
}

func TestLumaRGBARowMatchesScalar(t *testing.T) {
	for _, w := range []int{1, 2, 3, 4, 5, 7, 8, 33} {
		img := randomImage(w, 1, uint64(w))
		got := make([]byte, 2*w)
		lumaRGBARow(got, img.Pix)
		for x := range w {
			p := img.Pix[4*x:]
			want := luma16(p[0], p[1], p[2])
			if g := uint16(got[2*x]) | uint16(got[2*x+1])<<8; g != want {
				t.Errorf("width %d pixel %d %v: Y16 %d, want %d", w, x, p[:3], g, want)
			}
		}
	}
	// The lane arithmetic at its extremes.
	for _, c := range [][3]byte{{0, 0, 0}, {255, 255, 255}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {1, 2, 3}} {
		px := []byte{c[0], c[1], c[2], 255, c[0], c[1], c[2], 0, 0, 0, 0, 0, c[0], c[1], c[2], 7}
		got := make([]byte, 8)
		lumaRGBARow(got, px)
		want := luma16(c[0], c[1], c[2])
		for _, x := range []int{0, 1, 3} {
			if g := uint16(got[2*x]) | uint16(got[2*x+1])<<8; g != want {
				t.Errorf("RGB %v at pixel %d: Y16 %d, want %d", c, x, g, want)
			}
		}
	}
}

// Reductions by whole factors take the integer path (2×2 and 4×4 by SWAR,
// 8×8 and 3×3 by plain sums and division); each must equal the reference
// area average rounded to 1/16 of a level.
func TestSharpnessDownscaleWholeFactors(t *testing.T) {
	for _, tt := range []struct{ w, h, long int }{{256, 192, 128}, {258, 130, 129}, {512, 300, 128}, {256, 96, 32}, {96, 96, 32}, {90, 60, 30}} {
		img := sceneImage(tt.w, tt.h, uint64(tt.w))
		dw, dh := fitSize(tt.w, tt.h, tt.long)
		want := gridLaplacianVar(roundY16(referenceArea(referenceSharpLuma(img), dw, dh)))
		if got := sharpness(img, tt.long); math.Abs(got-want) > 1e-4*want {
			t.Errorf("%dx%d to %d: laplacian_var = %g, want %g (reference on the %dx%d area reduction)", tt.w, tt.h, tt.long, got, want, dw, dh)
		}
	}
}

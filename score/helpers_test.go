package score

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// randomImage returns a w×h NRGBA image of uniform noise from seed.
func randomImage(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(r.UintN(256))
	}
	return img
}

// sceneImage returns a smooth but structured w×h image: gradients, a disc
// and stripes, whose appearance depends on seed. Unlike noise it survives
// resizing, as a real picture does.
func sceneImage(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	cx, cy := r.Float64()*float64(w), r.Float64()*float64(h)
	rad := (0.15 + 0.2*r.Float64()) * float64(min(w, h))
	period := 8 + r.IntN(24)
	base := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			c := [3]float64{base[0] * fx, base[1] * fy, base[2] * (1 - fx)}
			if dx, dy := float64(x)-cx, float64(y)-cy; dx*dx+dy*dy < rad*rad {
				c = [3]float64{255 - c[0], 255 - c[1], 200}
			}
			if (x/period)%2 == 0 && y > h/2 {
				c[2] = 255 - c[2]
			}
			img.SetNRGBA(x, y, color.NRGBA{byte(c[0]), byte(c[1]), byte(c[2]), 255})
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func candidate(img image.Image, data []byte) comfybatch.Candidate {
	return comfybatch.Candidate{Job: comfybatch.Job{Key: "k"}, Pixels: img, Image: data}
}

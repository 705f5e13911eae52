package comfytest

import (
	"encoding/binary"
	"image"
	"math"
	"math/rand/v2"

	"github.com/disintegration/imaging"
)

// Render draws the deterministic image for key at w×h. The same key gives the
// same pixels. Most images are sharp procedural scenes (gradient, stripes,
// shapes, grain); a share are blurry, more so with fewer steps; about 4% are
// nearly blank (near-uniform or near-black). empty forces a near-black image,
// as decoding an unsampled latent would.
func Render(key [32]byte, w, h, steps int, empty bool) *image.NRGBA {
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(key[0:8]), binary.LittleEndian.Uint64(key[8:16])))
	kind := float64(binary.LittleEndian.Uint16(key[16:18])) / 65536
	blurDraw := float64(binary.LittleEndian.Uint16(key[18:20])) / 65536
	if empty || kind < 0.04 {
		return renderBlank(rng, w, h, empty || kind < 0.02)
	}
	// Fewer steps, more blur: about 40% blurry at 5 steps, 27% at 20, 14% at 50.
	blurProb := 0.55 * 15 / float64(steps+15)
	if blurDraw >= blurProb {
		return renderScene(rng, w, h, true)
	}
	// Blur strength from the hash, lower with more steps.
	f := 3 + rng.Float64()*10*20/float64(steps+10)
	sw, sh := max(2, int(float64(w)/f)), max(2, int(float64(h)/f))
	small := renderScene(rng, sw, sh, false)
	return imaging.Resize(small, w, h, imaging.Linear)
}

func renderBlank(rng *rand.Rand, w, h int, black bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	var base [3]int
	for c := range base {
		if black {
			base[c] = rng.IntN(12)
		} else {
			base[c] = 40 + rng.IntN(180)
		}
	}
	x := rng.Uint64() | 1
	for i := 0; i < len(img.Pix); i += 4 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		d := int(x%3) - 1 // ±1 grey level of noise
		for c := range 3 {
			img.Pix[i+c] = clamp8(base[c] + d)
		}
		img.Pix[i+3] = 255
	}
	return img
}

type shape struct {
	cx, cy, r float64
	rect      bool
	col       [3]float64
	hw, hh    float64
}

func renderScene(rng *rand.Rand, w, h int, grain bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	var c0, c1, c2 [3]float64
	for c := range 3 {
		c0[c], c1[c], c2[c] = rng.Float64()*255, rng.Float64()*255, rng.Float64()*255
	}
	ang := rng.Float64() * math.Pi
	ca, sa := math.Cos(ang), math.Sin(ang)
	freq := (2 + rng.Float64()*30) * 2 * math.Pi / float64(max(w, h))
	stripeMix := rng.Float64() * 0.6
	shapes := make([]shape, 2+rng.IntN(7))
	for i := range shapes {
		sh := &shapes[i]
		sh.cx, sh.cy = rng.Float64()*float64(w), rng.Float64()*float64(h)
		sh.r = (0.05 + rng.Float64()*0.25) * float64(min(w, h))
		sh.rect = rng.IntN(2) == 0
		sh.hw, sh.hh = sh.r*(0.5+rng.Float64()), sh.r*(0.5+rng.Float64())
		for c := range 3 {
			sh.col[c] = rng.Float64() * 255
		}
	}
	amp := 0.0
	if grain {
		amp = 4 + rng.Float64()*24
	}
	x := rng.Uint64() | 1
	invW, invH := 1/float64(w), 1/float64(h)
	i := 0
	for py := range h {
		fy := float64(py)
		for px := range w {
			fx := float64(px)
			t := (fx*invW*ca + fy*invH*sa + 1) / 2
			var col [3]float64
			for c := range 3 {
				col[c] = c0[c]*(1-t) + c1[c]*t
			}
			if math.Sin(freq*(fx*ca-fy*sa)) > 0 {
				for c := range 3 {
					col[c] = col[c]*(1-stripeMix) + c2[c]*stripeMix
				}
			}
			for k := range shapes {
				sh := &shapes[k]
				dx, dy := fx-sh.cx, fy-sh.cy
				inside := false
				if sh.rect {
					inside = math.Abs(dx) < sh.hw && math.Abs(dy) < sh.hh
				} else {
					inside = dx*dx+dy*dy < sh.r*sh.r
				}
				if inside {
					col = sh.col
				}
			}
			n := 0.0
			if amp > 0 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				n = (float64(x&1023)/1023 - 0.5) * amp
			}
			img.Pix[i] = clamp8(int(col[0] + n))
			img.Pix[i+1] = clamp8(int(col[1] + n))
			img.Pix[i+2] = clamp8(int(col[2] + n))
			img.Pix[i+3] = 255
			i += 4
		}
	}
	return img
}

func clamp8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

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
	amp := 0
	if grain {
		amp = 4 + rng.IntN(24)
	}
	noise := rng.Uint64() | 1

	// Background: a linear gradient crossed by hard-edged stripes. Both are
	// linear in x along a row, so they are stepped incrementally.
	const twoPi = 2 * math.Pi
	invW, invH := 1/float64(w), 1/float64(h)
	dt, dphase := invW*ca/2, math.Mod(freq*ca, twoPi)
	for py := range h {
		fy := float64(py)
		t := (fy*invH*sa + 1) / 2
		phase := math.Mod(-freq*fy*sa, twoPi)
		if phase < 0 {
			phase += twoPi
		}
		row := img.Pix[py*img.Stride : py*img.Stride+w*4]
		for i := 0; i < len(row); i += 4 {
			mix := 0.0
			if phase < math.Pi {
				mix = stripeMix
			}
			for c := range 3 {
				v := c0[c]*(1-t) + c1[c]*t
				row[i+c] = uint8(v*(1-mix) + c2[c]*mix)
			}
			row[i+3] = 255
			t += dt
			phase += dphase
			if phase >= twoPi {
				phase -= twoPi
			}
		}
	}
	// Shapes, painted as horizontal spans.
	for k := range shapes {
		sh := &shapes[k]
		col := [3]uint8{uint8(sh.col[0]), uint8(sh.col[1]), uint8(sh.col[2])}
		hy := sh.hh
		if !sh.rect {
			hy = sh.r
		}
		for py := max(0, int(sh.cy-hy)); py < min(h, int(sh.cy+hy)+1); py++ {
			dy := float64(py) - sh.cy
			half := sh.hw
			if !sh.rect {
				if d := sh.r*sh.r - dy*dy; d > 0 {
					half = math.Sqrt(d)
				} else {
					continue
				}
			} else if math.Abs(dy) >= sh.hh {
				continue
			}
			x0, x1 := max(0, int(sh.cx-half)), min(w, int(sh.cx+half)+1)
			row := img.Pix[py*img.Stride:]
			for px := x0; px < x1; px++ {
				copy(row[px*4:px*4+3], col[:])
			}
		}
	}
	// Film grain: high-frequency detail that makes sharp images measurably sharp.
	if amp > 0 {
		for i := 0; i < len(img.Pix); i += 4 {
			noise ^= noise << 13
			noise ^= noise >> 7
			noise ^= noise << 17
			n := int(noise%uint64(2*amp+1)) - amp
			img.Pix[i] = clamp8(int(img.Pix[i]) + n)
			img.Pix[i+1] = clamp8(int(img.Pix[i+1]) + n)
			img.Pix[i+2] = clamp8(int(img.Pix[i+2]) + n)
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

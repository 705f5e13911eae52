package comfytest

import (
	"encoding/binary"
	"image"
	"math"
	"math/rand/v2"

	"github.com/disintegration/imaging"
)

// Render draws the deterministic image for key at w×h. The same key gives the
// same pixels. Most images are sharp natural-looking scenes (gradients,
// textured shapes with soft edges, mild grain); a share are blurry, more so with fewer steps; about 4% are
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

// shape is one object of a scene: an ellipse or a rounded rectangle with a
// soft edge, shaded by a linear light gradient.
type shape struct {
	cx, cy, rx, ry float64
	rect           bool
	col            [3]float64
	lx, ly         float64 // light direction: shading gradient per pixel
	tex            float64 // how much of the texture field shows on it
}

// renderScene draws a natural-looking picture: a sky-to-ground gradient of
// three colours modulated by fractal value noise (clouds, terrain), a few
// soft-edged shaded objects with texture, and, when grain is set, mild
// per-pixel noise as a camera or a sampler leaves. Its PNG weighs what a
// photograph's does (about 13 bits per pixel at 512² through Pillow's
// level 4; see README.md, Performance).
func renderScene(rng *rand.Rand, w, h int, grain bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	var pal [3][3]float64
	for i := range pal {
		for c := range 3 {
			pal[i][c] = 20 + rng.Float64()*215
		}
	}
	horizon := 0.35 + rng.Float64()*0.3
	tilt := (rng.Float64() - 0.5) * 0.4
	texAmp := 18 + rng.Float64()*30
	field := newValueNoise(rng, w, h)

	var shapeArr [7]shape // on the stack: read for every pixel
	shapes := shapeArr[:2+rng.IntN(6)]
	for i := range shapes {
		sh := &shapes[i]
		sh.cx, sh.cy = rng.Float64()*float64(w), rng.Float64()*float64(h)
		r := (0.06 + rng.Float64()*0.22) * float64(min(w, h))
		sh.rx, sh.ry = r*(0.6+rng.Float64()*0.8), r*(0.6+rng.Float64()*0.8)
		sh.rect = rng.IntN(3) == 0
		for c := range 3 {
			sh.col[c] = 15 + rng.Float64()*225
		}
		a := rng.Float64() * 2 * math.Pi
		sh.lx, sh.ly = math.Cos(a)*60/r, math.Sin(a)*60/r
		sh.tex = rng.Float64()
	}
	amp := 0.0
	if grain {
		amp = 1.5 + rng.Float64()*2.5 // σ of the grain, in grey levels
	}
	noise := rng.Uint64() | 1

	fw, fh := float64(w), float64(h)
	row := make([]float64, w)
	for py := range h {
		field.row(py, row)
		fy := float64(py) / fh
		for px := range w {
			fx := float64(px) / fw
			t := fy + tilt*(fx-0.5)
			n := row[px]
			var col [3]float64
			// Sky above the horizon, ground below, blended over a band.
			k := smoothstep(horizon-0.08, horizon+0.08, t+0.05*n)
			for c := range 3 {
				sky := pal[0][c]*(1-t) + pal[1][c]*t
				col[c] = sky*(1-k) + pal[2][c]*k + texAmp*n*(0.4+0.6*k)
			}
			for i := range shapes {
				sh := &shapes[i]
				if math.Abs(float64(px)-sh.cx) > sh.rx+1 || math.Abs(float64(py)-sh.cy) > sh.ry+1 {
					continue // outside its bounding box
				}
				dx, dy := (float64(px)-sh.cx)/sh.rx, (float64(py)-sh.cy)/sh.ry
				var d float64 // signed distance to the edge, in pixels (negative inside)
				if sh.rect {
					d = (max(math.Abs(dx), math.Abs(dy)) - 1) * min(sh.rx, sh.ry)
				} else {
					d = (math.Sqrt(dx*dx+dy*dy) - 1) * min(sh.rx, sh.ry)
				}
				if d >= 1 {
					continue
				}
				cover := min(1, 0.5-d/2) // a one-pixel soft edge
				light := 1 + 0.25*(dx*sh.lx*sh.rx+dy*sh.ly*sh.ry)/60
				for c := range 3 {
					v := sh.col[c]*light + texAmp*sh.tex*n
					col[c] = col[c]*(1-cover) + v*cover
				}
			}
			px4 := [4]byte{3: 255}
			for c := range 3 {
				v := col[c]
				if amp > 0 {
					noise ^= noise << 13
					noise ^= noise >> 7
					noise ^= noise << 17
					// The sum of two uniforms: a triangular distribution
					// of standard deviation amp.
					u := float64(noise&0xffff)/65536 + float64(noise>>16&0xffff)/65536 - 1
					v += u * amp * 2.45
				}
				px4[c] = clamp8(int(v + 0.5))
			}
			copy(img.Pix[py*img.Stride+px*4:], px4[:])
		}
	}
	return img
}

func smoothstep(a, b, x float64) float64 {
	t := min(1, max(0, (x-a)/(b-a)))
	return t * t * (3 - 2*t)
}

// valueNoise is fractal value noise: octaves of smoothly interpolated
// random lattices, periods from a quarter of the image down to 4 pixels,
// each octave half the amplitude of the one before. Values lie in about
// [-1, 1].
type valueNoise struct {
	octaves []noiseOctave
}

type noiseOctave struct {
	period float64
	amp    float64
	gw     int
	grid   []float64
	lat    []float64 // the lattice interpolated to the current row, times amp
}

func newValueNoise(rng *rand.Rand, w, h int) *valueNoise {
	v := &valueNoise{}
	amp, total := 1.0, 0.0
	for period := float64(max(w, h)) / 4; period >= 4; period /= 2 {
		gw, gh := int(float64(w)/period)+2, int(float64(h)/period)+2
		o := noiseOctave{period: period, amp: amp, gw: gw, grid: make([]float64, gw*gh)}
		for i := range o.grid {
			o.grid[i] = rng.Float64()*2 - 1
		}
		v.octaves = append(v.octaves, o)
		total += amp
		amp *= 0.55
	}
	for i := range v.octaves {
		v.octaves[i].amp /= total
	}
	return v
}

// row writes the noise of image row y into out. Each octave's lattice is
// first interpolated down to the row, then along it.
func (v *valueNoise) row(y int, out []float64) {
	for i := range v.octaves {
		o := &v.octaves[i]
		gy := float64(y) / o.period
		iy := int(gy)
		ty := gy - float64(iy)
		ty = ty * ty * (3 - 2*ty)
		r0, r1 := o.grid[iy*o.gw:(iy+1)*o.gw], o.grid[(iy+1)*o.gw:(iy+2)*o.gw]
		if cap(o.lat) < o.gw {
			o.lat = make([]float64, o.gw)
		}
		o.lat = o.lat[:o.gw]
		for x := range o.lat {
			o.lat[x] = o.amp * (r0[x] + (r1[x]-r0[x])*ty)
		}
	}
	for x := range out {
		n := 0.0
		for i := range v.octaves {
			o := &v.octaves[i]
			gx := float64(x) / o.period
			ix := int(gx)
			tx := gx - float64(ix)
			tx = tx * tx * (3 - 2*tx)
			a, b := o.lat[ix], o.lat[ix+1]
			n += a + (b-a)*tx
		}
		out[x] = n
	}
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

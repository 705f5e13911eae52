package cliptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
)

// The shared space: images and texts are both described by featureCount
// interpretable features, then projected by one fixed random matrix into
// Dim dimensions. Texts also get a small hash-derived component so distinct
// prompts never embed identically.
const featureCount = 16

const (
	fRed = iota
	fGreen
	fBlue
	fBright
	fSat
	fEdge
	fHist0 // 8 luma histogram bins follow
	fWarm  = fHist0 + 8
	fBias  = fWarm + 1
)

type wordFeature struct {
	f int
	v float64
}

// vocabulary maps prompt words to the features they ask for.
func vocabulary() map[string][]wordFeature {
	return map[string][]wordFeature{
		"red":      {{fRed, 1}, {fWarm, 0.5}},
		"fox":      {{fRed, 0.5}, {fWarm, 0.5}},
		"orange":   {{fRed, 0.6}, {fGreen, 0.2}, {fWarm, 0.8}},
		"golden":   {{fWarm, 0.8}, {fBright, 0.4}},
		"green":    {{fGreen, 1}},
		"forest":   {{fGreen, 0.8}, {fBright, -0.3}},
		"blue":     {{fBlue, 1}, {fWarm, -0.5}},
		"sky":      {{fBlue, 0.6}, {fBright, 0.4}},
		"ocean":    {{fBlue, 0.8}},
		"snow":     {{fBright, 0.8}, {fSat, -0.6}},
		"white":    {{fBright, 1}, {fSat, -0.8}},
		"bright":   {{fBright, 1}},
		"sunny":    {{fBright, 0.8}, {fWarm, 0.4}},
		"dark":     {{fBright, -1}},
		"night":    {{fBright, -0.8}, {fBlue, 0.3}},
		"black":    {{fBright, -1}, {fSat, -0.5}},
		"colorful": {{fSat, 1}},
		"vibrant":  {{fSat, 1}},
		"sharp":    {{fEdge, 1}},
		"detailed": {{fEdge, 1}},
		"blurry":   {{fEdge, -1}},
		"soft":     {{fEdge, -0.5}},
	}
}

// space holds the fixed projection. It is built once per Server from a
// constant seed, so every Server embeds identically.
type space struct {
	dim   int
	words map[string][]wordFeature // read-only after newSpace
	proj  [][featureCount]float64  // dim rows
}

func newSpace(dim int) space {
	r := rand.New(rand.NewPCG(0x636c6970, 0x74657374))
	s := space{dim: dim, words: vocabulary(), proj: make([][featureCount]float64, dim)}
	for i := range s.proj {
		for j := range featureCount {
			s.proj[i][j] = r.NormFloat64()
		}
	}
	return s
}

func (s space) project(f [featureCount]float64) []float64 {
	out := make([]float64, s.dim)
	for i, row := range s.proj {
		var v float64
		for j, p := range row {
			v += p * f[j]
		}
		out[i] = v
	}
	return out
}

// text embeds a text: its known words' features plus a hash direction.
func (s space) text(t string) []float64 {
	var f [featureCount]float64
	f[fBias] = 1
	for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool {
		return !(r >= 'a' && r <= 'z')
	}) {
		for _, fv := range s.words[w] {
			f[fv.f] += fv.v
		}
	}
	e := s.project(f)
	h := fnv.New64a()
	h.Write([]byte(t))
	r := rand.New(rand.NewPCG(h.Sum64(), 1))
	norm := math.Sqrt(dot(e, e))
	for i := range e {
		e[i] += 0.15 * norm * r.NormFloat64() / math.Sqrt(float64(s.dim))
	}
	return e
}

func decodeDataURI(uri string) (image.Image, error) {
	rest, ok := strings.CutPrefix(uri, "data:")
	if !ok {
		return nil, errors.New("not a data URI")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, errors.New("data URI is not base64")
	}
	data, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("data URI base64: %v", err)
	}
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG")):
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode png: %v", err)
		}
		return img, nil
	case bytes.HasPrefix(data, []byte("\xff\xd8")):
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode jpeg: %v", err)
		}
		return img, nil
	}
	return nil, errors.New("image is neither png nor jpeg")
}

// imageFeatures samples about 128×128 pixels; statistics need no more.
func imageFeatures(img image.Image) [featureCount]float64 {
	b := img.Bounds()
	step := max(1, max(b.Dx(), b.Dy())/128)
	var sr, sg, sb, sl, ssat, edge float64
	var hist [8]float64
	var n, ne float64
	luma := func(c color.Color) float64 {
		r, g, bl, _ := c.RGBA()
		return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
	}
	for y := b.Min.Y; y < b.Max.Y; y += step {
		for x := b.Min.X; x < b.Max.X; x += step {
			c := img.At(x, y)
			r32, g32, b32, _ := c.RGBA()
			r, g, bl := float64(r32)/257, float64(g32)/257, float64(b32)/257
			l := 0.299*r + 0.587*g + 0.114*bl
			sr, sg, sb, sl = sr+r, sg+g, sb+bl, sl+l
			ssat += max(r, g, bl) - min(r, g, bl)
			hist[min(7, int(l/32))]++
			n++
			if x+step < b.Max.X && y+step < b.Max.Y {
				edge += math.Abs(luma(img.At(x+step, y))-l) + math.Abs(luma(img.At(x, y+step))-l)
				ne++
			}
		}
	}
	var f [featureCount]float64
	mr, mg, mb, ml := sr/n, sg/n, sb/n, sl/n
	f[fRed] = 4 * (mr - ml) / 255
	f[fGreen] = 4 * (mg - ml) / 255
	f[fBlue] = 4 * (mb - ml) / 255
	f[fBright] = 2 * (ml/255 - 0.5)
	f[fSat] = 2*(ssat/n)/255 - 0.5
	if ne > 0 {
		f[fEdge] = math.Tanh(edge/ne/16)*2 - 1
	}
	for i, h := range hist {
		f[fHist0+i] = 2 * (h/n - 1.0/8)
	}
	f[fWarm] = 2 * (mr - mb) / 255
	f[fBias] = 1
	return f
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

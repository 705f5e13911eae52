package score

import (
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/comfybatch/comfybatch"
)

// Phash computes a 64-bit DCT perceptual hash, reported as
// Values["hash"] (16 hex digits); Metrics is empty.
// Near-duplicates (the same image resized, re-encoded or slightly edited)
// have hashes a few bits apart; compare them with HammingHex. The selectors
// use it to keep top-K picks diverse.
//
// The image is reduced to 32×32 luma by area averaging, transformed with a
// 2-D DCT-II, and the 8×8 lowest frequencies are compared with the median
// of those 64 coefficients, DC excluded: bit i (most significant first, row
// by row) is 1 when coefficient i is above the median.
type Phash struct {
	// Name goes into Score.Scorer; default "phash".
	Name string
}

// Score implements the pipeline's Scorer.
func (p *Phash) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	name := nameOr(p.Name, "phash")
	var h uint64
	if f, ok := c.Pixels.(*Frame); ok && f.hash != nil {
		h = phashOf(*f.hash)
	} else {
		img, err := pixels(c)
		if err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: %w", name, err)
		}
		h = phash64(img)
	}
	var b [8]byte
	for i := range b {
		b[i] = byte(h >> (56 - 8*i))
	}
	return comfybatch.Score{
		Scorer:  name,
		Metrics: map[string]float64{},
		Values:  map[string]string{"hash": hex.EncodeToString(b[:])},
	}, nil
}

const (
	phashSize = 32 // side of the reduced image
	phashLow  = 8  // side of the kept low-frequency block
)

func phash64(img image.Image) uint64 {
	return phashOf(areaLuma(img, phashSize, phashSize))
}

// phashOf is the hash of the phashSize×phashSize reduced luma.
func phashOf(small lumaPlane) uint64 {
	var lum [phashSize][phashSize]float64
	for y := range phashSize {
		for x := range phashSize {
			lum[y][x] = float64(small.pix[y*phashSize+x])
		}
	}
	// cos[k][n] = cos(π(2n+1)k / 2N), only for the kept frequencies.
	var cos [phashLow][phashSize]float64
	for k := range phashLow {
		for n := range phashSize {
			cos[k][n] = math.Cos(math.Pi * float64((2*n+1)*k) / (2 * phashSize))
		}
	}
	// Separable DCT: rows first (32 rows × 8 frequencies), then columns.
	var rows [phashSize][phashLow]float64
	for y := range phashSize {
		for k := range phashLow {
			var s float64
			for n := range phashSize {
				s += lum[y][n] * cos[k][n]
			}
			rows[y][k] = s
		}
	}
	var coef [phashLow * phashLow]float64
	for v := range phashLow {
		for u := range phashLow {
			var s float64
			for n := range phashSize {
				s += rows[n][u] * cos[v][n]
			}
			coef[v*phashLow+u] = s
		}
	}
	ac := slices.Clone(coef[1:])
	slices.Sort(ac)
	median := (ac[len(ac)/2-1] + ac[len(ac)/2]) / 2
	var h uint64
	for i, c := range coef {
		if c > median {
			h |= 1 << (63 - i)
		}
	}
	return h
}

// HammingHex returns the number of differing bits between two hex-encoded
// hashes of equal length, such as two Phash values.
func HammingHex(a, b string) (int, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("hamming distance: hashes %q and %q differ in length: %w", a, b, comfybatch.ErrInvalid)
	}
	d := 0
	for i := 0; i < len(a); i += 16 {
		j := min(i+16, len(a))
		x, err := strconv.ParseUint(a[i:j], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("hamming distance: hash %q is not hex: %w", a, comfybatch.ErrInvalid)
		}
		y, err := strconv.ParseUint(b[i:j], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("hamming distance: hash %q is not hex: %w", b, comfybatch.ErrInvalid)
		}
		d += bits.OnesCount64(x ^ y)
	}
	return d, nil
}

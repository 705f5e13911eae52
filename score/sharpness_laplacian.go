package score

import (
	"encoding/binary"
	"math/bits"
)

// lapBias makes every Laplacian of Y16 values non-negative: with luma at
// most 4080, L = up + down + left + right - 4·centre lies in
// [-4·4080, 4·4080], so S = L + lapBias lies in [0, 32640] and fits a
// 16-bit lane.
const lapBias = 4 * 255 * lumaScale

// lapSums accumulates the Laplacian over the interior of an image exactly,
// in integers, on the Y16 scale: sum is ΣL, sumSq ΣL² and n the number of
// centres. sumSq stays below 1<<63 for images of up to about 8·10⁹ pixels.
//
// ΣL needs no work per pixel: summed over the interior, the kernel's
// vertical part telescopes to the first two and last two rows, and its
// horizontal part to the first two and last two columns:
//
//	ΣL = Σx [I(0,x) - I(1,x) - I(h-2,x) + I(h-1,x)] + Σy [I(y,0) - I(y,1) - I(y,w-2) + I(y,w-1)]
//
// with x and y over the interior. The kernel works on S = L + lapBias,
// and ΣL² = ΣS² - 2·lapBias·ΣL - n·lapBias², as ΣS = ΣL + n·lapBias.
type lapSums struct {
	sum   int64
	sumSq uint64 // ΣS² until variance
	n     int64
}

// addRow adds the Laplacian at the interior pixels of mid, whose
// neighbours above and below are in up and down. Each row holds w Y16
// values, two bytes each, little-endian. first and last say whether mid is
// the first or the last interior row (both, for an image 3 rows tall).
//
// Four centres per step, SWAR: one 64-bit load holds four 16-bit lanes, so
// S = up + down + left + right + lapBias - 4·centre is five loads and six
// operations for four pixels, with no lane ever carrying or borrowing.
// Squares are taken two at a time: with a = s0 + s2·2³², the low 64 bits
// of a·rotate(a, 32) hold s0² + s2² in their upper half and s0·s2 in the
// lower. With S ≤ 32640, the sums of both halves over the four lanes stay
// below 2³² (4·32640² < 2³²), so the two products can be added before the
// upper half is taken.
func (a *lapSums) addRow(up, mid, down []byte, w int, first, last bool) {
	if w < 3 {
		return
	}
	a.sum += int64(y16At(mid, 0)) - int64(y16At(mid, 1)) - int64(y16At(mid, w-2)) + int64(y16At(mid, w-1))
	if first {
		a.sum += interiorSum(up, w) - interiorSum(mid, w)
	}
	if last {
		a.sum += interiorSum(down, w) - interiorSum(mid, w)
	}
	a.n += int64(w - 2)
	a.sumSq += squaresRow(up, mid, down, w, lapBias*0x0001_0001_0001_0001, 0x0000_FFFF_0000_FFFF)
}

// squaresRow returns ΣS² over the interior of mid. bias4 (lapBias in each
// 16-bit lane) and even (the mask of lanes 0 and 2) are arguments, and the
// function is not inlined, so that they stay in registers instead of being
// rematerialised in the loop.
//
//go:noinline
func squaresRow(up, mid, down []byte, w int, bias4, even uint64) uint64 {
	// Byte i of each slice belongs to centre 1 + i/2.
	k := 2 * (w - 2)
	n := k &^ 7 // whole four-centre steps
	u, d, l, c, r := up[2:2+n], down[2:2+n], mid[0:n], mid[2:2+n], mid[4:4+n]
	var sq uint64
	for j := 0; j < len(u); j += 8 {
		s := binary.LittleEndian.Uint64(u[j:j+8:len(u)]) + binary.LittleEndian.Uint64(d[j:j+8:len(d)]) +
			binary.LittleEndian.Uint64(l[j:j+8:len(l)]) + binary.LittleEndian.Uint64(r[j:j+8:len(r)]) +
			bias4 - binary.LittleEndian.Uint64(c[j:j+8:len(c)])<<2
		lo, hi := s&even, s>>16&even
		sq += (lo*bits.RotateLeft64(lo, 32) + hi*bits.RotateLeft64(hi, 32)) >> 32
	}
	for x := 1 + n/2; x < w-1; x++ {
		s := uint64(y16At(up, x)) + uint64(y16At(down, x)) + uint64(y16At(mid, x-1)) + uint64(y16At(mid, x+1)) +
			lapBias - 4*uint64(y16At(mid, x))
		sq += s * s
	}
	return sq
}

// y16At is the Y16 value of pixel x of a row.
func y16At(row []byte, x int) uint16 {
	return binary.LittleEndian.Uint16(row[2*x : 2*x+2])
}

// interiorSum is the sum of a row's Y16 values but the first and last.
func interiorSum(row []byte, w int) int64 {
	var s int64
	for x := 1; x < w-1; x++ {
		s += int64(y16At(row, x))
	}
	return s
}

// variance returns the variance of the Laplacian on the 0..255 luma scale.
func (a *lapSums) variance() float64 {
	if a.n == 0 {
		return 0
	}
	sumSq := int64(a.sumSq) - 2*lapBias*a.sum - a.n*lapBias*lapBias
	n := float64(a.n)
	mean := float64(a.sum) / n
	v := float64(sumSq)/n - mean*mean
	return max(0, v) / (lumaScale * lumaScale)
}

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
// in integers: sum is ΣL and sumSq ΣL² over n centres, all on the Y16
// scale. ΣL² stays below 1<<63 for images of up to about 3·10¹⁰ pixels.
type lapSums struct {
	sum, sumSq int64
	n          int64
}

// addRow adds the Laplacian at the interior pixels of mid, whose
// neighbours above and below are in up and down. Each row holds w Y16
// values, two bytes each, little-endian.
//
// Four centres per step, SWAR: one 64-bit load holds four 16-bit lanes, so
// S = up + down + left + right + lapBias - 4·centre is five loads and six
// operations for four pixels, with no lane ever carrying or borrowing.
// Squares are taken two at a time: with a = s0 + s2·2³², the low 64 bits
// of a·rotate(a, 32) hold s0² + s2² in their upper half (s0·s2 < 2³² below
// it, s0² + s2² < 2³²). The sums of S and S² become those of L once per
// row.
func (a *lapSums) addRow(up, mid, down []byte, w int) {
	if w < 3 {
		return
	}
	// Byte i of each slice belongs to centre 1 + i/2.
	k := 2 * (w - 2)
	u, d := up[2:2+k], down[2:2+k]
	l, c, r := mid[0:k], mid[2:2+k], mid[4:4+k]
	const (
		bias4 = lapBias * 0x0001_0001_0001_0001
		even  = 0x0000_FFFF_0000_FFFF // lanes 0 and 2, as 32-bit lanes
	)
	var rs, rq uint64
	i := 0
	for i+8 <= k {
		// acc sums pairs of lanes, each pair at most 2·32640, in two
		// 32-bit lanes: flush it before 65536 pairs could overflow them.
		var acc uint64
		end := min(k, i+8*32768)
		n := (end - i) &^ 7
		uu, dd, ll, cc, rr := u[i:i+n], d[i:i+n], l[i:i+n], c[i:i+n], r[i:i+n]
		for j := 0; j < len(uu); j += 8 {
			s := binary.LittleEndian.Uint64(uu[j:j+8:len(uu)]) + binary.LittleEndian.Uint64(dd[j:j+8:len(dd)]) +
				binary.LittleEndian.Uint64(ll[j:j+8:len(ll)]) + binary.LittleEndian.Uint64(rr[j:j+8:len(rr)]) +
				bias4 - binary.LittleEndian.Uint64(cc[j:j+8:len(cc)])<<2
			lo, hi := s&even, s>>16&even
			acc += lo + hi
			rq += (lo*bits.RotateLeft64(lo, 32))>>32 + (hi*bits.RotateLeft64(hi, 32))>>32
		}
		i += n
		rs += acc&0xFFFF_FFFF + acc>>32
	}
	for ; i < k; i += 2 {
		s := uint64(binary.LittleEndian.Uint16(u[i:i+2])) + uint64(binary.LittleEndian.Uint16(d[i:i+2])) +
			uint64(binary.LittleEndian.Uint16(l[i:i+2])) + uint64(binary.LittleEndian.Uint16(r[i:i+2])) +
			lapBias - 4*uint64(binary.LittleEndian.Uint16(c[i:i+2]))
		rs += s
		rq += s * s
	}
	// With n = w-2 centres: ΣL = ΣS - n·b, ΣL² = ΣS² - 2b·ΣS + n·b².
	n := int64(w - 2)
	a.sum += int64(rs) - n*lapBias
	a.sumSq += int64(rq) - 2*lapBias*int64(rs) + n*lapBias*lapBias
	a.n += n
}

// variance returns the variance of the Laplacian on the 0..255 luma scale.
func (a *lapSums) variance() float64 {
	if a.n == 0 {
		return 0
	}
	n := float64(a.n)
	mean := float64(a.sum) / n
	v := float64(a.sumSq)/n - mean*mean
	return max(0, v) / (lumaScale * lumaScale)
}

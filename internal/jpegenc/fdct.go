package jpegenc

import "encoding/binary"

// The AAN rotation constants: cos(π/4), cos(3π/8), cos(π/8)-cos(3π/8)
// and cos(π/8)+cos(3π/8).
const (
	c4    = 0.707106781186547524
	c6    = 0.382683432365089772
	c2mc6 = 0.541196100146196984
	c2pc6 = 1.306562964876376527
)

// fdctQuant transforms an 8×8 block, rows then columns, each with the
// eight-point DCT of Arai, Agui and Nakajima (1988) as drawn in Pennebaker
// and Mitchell's JPEG book (figure 4-8): 29 additions and 5
// multiplications. Coefficient (u, v) comes out of the second pass as
// 8·aanScale[u]·aanScale[v] times T.81's F(u,v) (A.3.3)
// (TestFDCTMatchesDefinition); setQuality folds that into recip, by which
// each coefficient is multiplied as soon as its column is done, and the
// result is stored in q at its zig-zag index. b is left with the first
// pass's output.
func fdctQuant(b *[64]float32, recip *[64]float32, q *coefs) {
	fdctRows(b)
	for i := range 8 {
		s07, t07 := b[i]+b[56+i], b[i]-b[56+i]
		s16, t16 := b[8+i]+b[48+i], b[8+i]-b[48+i]
		s25, t25 := b[16+i]+b[40+i], b[16+i]-b[40+i]
		s34, t34 := b[24+i]+b[32+i], b[24+i]-b[32+i]
		o0, o2, o4, o6 := even(s07, s16, s25, s34)
		o1, o3, o5, o7 := odd(t07, t16, t25, t34)
		q.quantize(o0, recip[i], coefOffset[i])
		q.quantize(o1, recip[8+i], coefOffset[8+i])
		q.quantize(o2, recip[16+i], coefOffset[16+i])
		q.quantize(o3, recip[24+i], coefOffset[24+i])
		q.quantize(o4, recip[32+i], coefOffset[32+i])
		q.quantize(o5, recip[40+i], coefOffset[40+i])
		q.quantize(o6, recip[48+i], coefOffset[48+i])
		q.quantize(o7, recip[56+i], coefOffset[56+i])
	}
}

// fdctRows is fdctQuant's first pass: it transforms each row of b in
// place.
func fdctRows(b *[64]float32) {
	for i := range 8 {
		r := (*[8]float32)(b[8*i : 8*i+8])
		s07, t07 := r[0]+r[7], r[0]-r[7]
		s16, t16 := r[1]+r[6], r[1]-r[6]
		s25, t25 := r[2]+r[5], r[2]-r[5]
		s34, t34 := r[3]+r[4], r[3]-r[4]
		r[0], r[2], r[4], r[6] = even(s07, s16, s25, s34)
		r[1], r[3], r[5], r[7] = odd(t07, t16, t25, t34)
	}
}

// even returns the even outputs of the eight-point transform of d from
// the sums d[i]+d[7-i], i = 0 to 3.
func even(s07, s16, s25, s34 float32) (o0, o2, o4, o6 float32) {
	e0, e3 := s07+s34, s07-s34
	e1, e2 := s16+s25, s16-s25
	z1 := (e2 + e3) * c4
	return e0 + e1, e3 + z1, e0 - e1, e3 - z1
}

// odd returns the odd outputs of the eight-point transform of d from the
// differences d[i]-d[7-i], i = 0 to 3.
func odd(t07, t16, t25, t34 float32) (o1, o3, o5, o7 float32) {
	p0, p1, p2 := t34+t25, t25+t16, t16+t07
	z5 := (p0 - p2) * c6
	z2, z4 := c2mc6*p0+z5, c2pc6*p2+z5
	z3 := p1 * c4
	z11, z13 := t07+z3, t07-z3
	return z11 + z4, z13 - z2, z13 + z2, z11 - z4
}

// coefs is a quantized block in zig-zag order, each coefficient in 16
// bits, little-endian, offset by 16384 (quantized baseline coefficients
// stay within ±2048), so that four can be tested for zero in one 64-bit
// word.
type coefs [128]byte

// quantize stores v·recip, rounded to the nearest integer, at byte offset
// off (the coefficient's coefOffset). It rounds as libjpeg's float path
// does: adding 16384 makes the value positive, so conversion truncates to
// the floor. off&126 (off is even and less than 128) tells the compiler
// that both bytes are inside q, so the store needs no check.
func (q *coefs) quantize(v, recip float32, off uint8) {
	binary.LittleEndian.PutUint16(q[off&126:], uint16(int32(v*recip+16384.5)))
}

// at returns coefficient k.
func (q *coefs) at(k int) int32 {
	return int32(binary.LittleEndian.Uint16(q[2*(k&63):])) - 16384
}

// nonzero returns a mask with bit k set when coefficient k is not zero,
// found four coefficients at a time without a branch.
func (q *coefs) nonzero() (nz uint64) {
	const (
		zero = 0x4000400040004000 // four zero coefficients
		low  = 0x7fff7fff7fff7fff
		high = 0x8000800080008000
		// Multiplied by bits 15, 31, 47 and 63, it moves them to bits 60
		// to 63 without a carry between any of its products.
		gather = 1<<45 | 1<<30 | 1<<15 | 1
	)
	for j := range 16 {
		// A coefficient within ±2048 xor the offset is at most 0x7fff, so
		// adding 0x7fff sets bit 15 of its lane when it is not zero and
		// carries into no other lane.
		w := binary.LittleEndian.Uint64(q[8*j:]) ^ zero
		w = (w + low) & high
		nz |= (w * gather) >> 60 << (4 * j)
	}
	return nz
}

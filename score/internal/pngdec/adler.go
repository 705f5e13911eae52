package pngdec

import "encoding/binary"

const adlerMod = 65521

// adlerChecksum returns the Adler-32 checksum (RFC 1950) of p, the value
// hash/adler32.Checksum returns, eight bytes at a time.
//
// Over a block of N bytes b[0..N-1] the sums advance as
//
//	s1' = s1 + Σ b[j]
//	s2' = s2 + N·s1 + Σ (N-j)·b[j]
//
// With the block read as k words of eight bytes, j = 8i+l, the weighted
// sum is 8·Σ_i (k-i)·S_i - Σ_l l·L_l, where S_i is the byte sum of word i
// and L_l the sum of byte lane l over all words. The first term is the
// running sum of running sums of S_i; the lane sums accumulate in 16-bit
// lanes, which 256 words cannot overflow.
func adlerChecksum(p []byte) uint32 {
	const (
		lanes  = 0x00ff00ff00ff00ff
		ones   = 0x0001000100010001
		blockW = 256 // words per block
	)
	s1, s2 := uint64(1), uint64(0)
	for len(p) >= 8 {
		k := min(len(p)/8, blockW)
		blk := p[:8*k]
		p = p[8*k:]
		var even, odd, a, b uint64
		for i := 0; i+8 <= len(blk); i += 8 {
			w := binary.LittleEndian.Uint64(blk[i:])
			e, o := w&lanes, w>>8&lanes
			even += e
			odd += o
			a += (e + o) * ones >> 48 // byte sum of the word
			b += a
		}
		var weighted uint64 // Σ_l l·L_l
		for m := range 4 {
			weighted += uint64(2*m)*(even>>(16*m)&0xffff) + uint64(2*m+1)*(odd>>(16*m)&0xffff)
		}
		s2 = (s2 + uint64(8*k)*s1 + 8*b - weighted) % adlerMod
		s1 = (s1 + a) % adlerMod
	}
	for _, c := range p {
		s1 += uint64(c)
		s2 += s1
	}
	return uint32(s2%adlerMod)<<16 | uint32(s1%adlerMod)
}

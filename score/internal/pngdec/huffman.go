package pngdec

import "math/bits"

// Decode table entries are uint32s. A literal entry:
//
//	bit 31      set: literal
//	bit 30      set: two literals (root table of literal/length codes only)
//	bits 16..23 the second literal
//	bits 8..15  the (first) literal
//	bits 0..5   code length(s) consumed
//
// Any other entry:
//
//	bits 16..30 value: length or distance base, or subtable offset
//	bit 14      invalid code
//	bit 13      subtable pointer
//	bit 12      end of block
//	bits 8..11  extra bits after the code (length, distance), or the
//	            subtable's index width for a subtable pointer
//	bits 0..5   code length consumed at this level
//
// The consumed length sits alone in the low six bits so that bits >>= e
// needs no mask on machines whose shifts use six bits of the count. A
// code longer than a table's root bits takes two lookups: the root entry
// points to a subtable indexed by the code's remaining bits.
const (
	fLit  = 1 << 31
	fPair = 1 << 30
	fEOB  = 1 << 12
	fSub  = 1 << 13
	fBad  = 1 << 14

	// litRootBits and distRootBits are the index widths of the primary
	// tables.
	litRootBits  = 12
	litRootMask  = 1<<litRootBits - 1
	distRootBits = 8
	distRootMask = 1<<distRootBits - 1
	clRootBits   = 7 // code length codes are at most 7 bits: no subtables

	// The tables hold the root plus every subtable a complete code can
	// need. A subtable of width d covers a complete subtree of depth d,
	// which takes at least d+1 symbols; with at most 288 (32) symbols and
	// d <= 15-root the subtables need at most 576 (416) entries.
	litTableSize  = 1<<litRootBits + 576
	distTableSize = 1<<distRootBits + 416
	clTableSize   = 1 << clRootBits

	maxCodeLen = 15
)

// Which alphabet a table decodes: it decides what each symbol's entry says.
const (
	alphaLit = iota
	alphaDist
	alphaCL
)

// symbolEntry is the entry, without its code length, for symbol sym of an
// alphabet. Symbols that RFC 1951 reserves (literal/length 286 and 287,
// distance 30 and 31, which only the fixed code can express) decode as
// invalid, as compress/flate treats them.
func symbolEntry(alphabet int, sym int) uint32 {
	switch alphabet {
	case alphaLit:
		switch {
		case sym < 256:
			return fLit | uint32(sym)<<8
		case sym == 256:
			return fEOB
		case sym < 265: // lengths 3..10
			return uint32(sym-254) << 16
		case sym < 285: // four codes for each number of extra bits, 1..5
			i := sym - 257
			x := i/4 - 1
			return uint32((4+i%4)<<x+3)<<16 | uint32(x)<<8
		case sym == 285:
			return 258 << 16
		}
	case alphaDist:
		switch {
		case sym < 4: // distances 1..4
			return uint32(sym+1) << 16
		case sym < 30: // two codes for each number of extra bits, 1..13
			x := sym/2 - 1
			return uint32((2+sym%2)<<x+1)<<16 | uint32(x)<<8
		}
	case alphaCL:
		return uint32(sym) << 16
	}
	return fBad
}

// buildTable fills table with the decode table of the canonical Huffman
// code whose code lengths are lengths (0 = symbol unused), rooted at
// rootBits. It accepts exactly the codes compress/flate accepts: complete
// codes, the empty code (every lookup then decodes as invalid) and a code
// of a single one-bit symbol (the other bit pattern is invalid). It
// reports false for any other over-subscribed or incomplete code.
func buildTable(table []uint32, rootBits uint, lengths []uint8, alphabet int) bool {
	var count [maxCodeLen + 1]int
	for _, n := range lengths {
		count[n&15]++
	}
	count[0] = 0
	maxLen := maxCodeLen
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	rootSize := 1 << rootBits
	root := table[:rootSize]
	left := 1
	for n := 1; n <= maxCodeLen; n++ {
		left = left<<1 - count[n]
		if left < 0 {
			return false // over-subscribed
		}
	}
	if left > 0 {
		if maxLen > 1 || count[1] > 1 {
			return false // incomplete, and neither empty nor one one-bit code
		}
		// Empty or one code of one bit: the lookups no code covers fail.
		for i := range root {
			root[i] = fBad
		}
		if maxLen == 0 {
			return true
		}
	}

	// First canonical code of each length (RFC 1951 section 3.2.2).
	var first [maxCodeLen + 1]int
	code := 0
	for n := 1; n <= maxCodeLen; n++ {
		code = (code + count[n-1]) << 1
		first[n] = code
	}
	next := first

	// Short codes go straight into the root, repeated for every value of
	// the bits beyond them. Long codes first record, per root prefix, the
	// longest code under it, which sets that subtable's width.
	var subLen [1 << litRootBits]uint8 // longest code under each root prefix
	var prefixes [288]uint16           // root prefixes of long codes, one per symbol at most
	np := 0
	for sym, n8 := range lengths {
		n := int(n8)
		if n == 0 {
			continue
		}
		rev := int(bits.Reverse16(uint16(next[n])) >> (16 - n))
		next[n]++
		if n <= int(rootBits) {
			e := symbolEntry(alphabet, sym) | uint32(n)
			for i := rev; i < rootSize; i += 1 << n {
				root[i] = e
			}
			continue
		}
		p := rev & (rootSize - 1)
		if subLen[p] == 0 {
			if np == len(prefixes) {
				return false // more than 288 symbols: cannot happen
			}
			prefixes[np] = uint16(p)
			np++
		}
		if uint8(n) > subLen[p] {
			subLen[p] = uint8(n)
		}
	}
	if np > 0 && !fillSubtables(table, rootBits, lengths, alphabet, &subLen, prefixes[:np], first) {
		return false
	}
	if alphabet == alphaLit {
		pairLiterals(root, rootBits)
	}
	return true
}

// fillSubtables lays out the subtables of the codes longer than rootBits
// after the root, points the root at them and fills them. subLen holds
// the longest code under each of the root prefixes listed in prefixes, and
// first the first canonical code of each length. The tables' sizes
// guarantee room for the subtables of any complete code, but it checks
// anyway and reports false rather than overrun.
func fillSubtables(table []uint32, rootBits uint, lengths []uint8, alphabet int,
	subLen *[1 << litRootBits]uint8, prefixes []uint16, first [maxCodeLen + 1]int) bool {
	rootSize := 1 << rootBits
	root := table[:rootSize]

	// Lay out the subtables after the root and point the root at them.
	off := rootSize
	for _, p := range prefixes {
		w := uint(subLen[p]) - rootBits
		if off+1<<w > len(table) {
			return false
		}
		root[p] = fSub | uint32(off)<<16 | uint32(w)<<8 | uint32(rootBits)
		off += 1 << w
	}

	// Fill the subtables: a second pass over the symbols assigns the
	// same canonical codes again.
	next := first
	for sym, n8 := range lengths {
		n := int(n8)
		if n == 0 {
			continue
		}
		rev := int(bits.Reverse16(uint16(next[n])) >> (16 - n))
		next[n]++
		if n <= int(rootBits) {
			continue
		}
		ptr := root[rev&(rootSize-1)]
		start := int(ptr >> 16 & 0x7fff)
		size := 1 << (ptr >> 8 & 15)
		e := symbolEntry(alphabet, sym) | uint32(n-int(rootBits))
		for i := rev >> rootBits; i < size; i += 1 << (n - int(rootBits)) {
			table[start+i] = e
		}
	}
	return true
}

// pairLiterals turns each root entry of a literal whose code leaves room
// in the root's bits for a whole second literal code into an entry for
// both. Going down, the entries read (at lower indices) are still single.
func pairLiterals(root []uint32, rootBits uint) {
	for i := len(root) - 1; i >= 0; i-- {
		e := root[i]
		n := e & 63 // < 64: i>>n is in range
		e2 := root[i>>n]
		n2 := e2 & 63
		// Without branches: whether a pair fits is close to random.
		var both uint32
		if int32(e&e2) < 0 && n+n2 <= uint32(rootBits) {
			both = ^uint32(0)
		}
		pair := fLit | fPair | (e2&0xff00)<<8 | e&0xff00 | (n + n2)
		root[i] = e ^ (e^pair)&both
	}
}

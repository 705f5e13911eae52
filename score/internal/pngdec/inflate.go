package pngdec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// errTooMuch reports a stream that decodes to more bytes than the output
// holds; for a PNG that is more pixel data than the header declares.
var errTooMuch = errors.New("pngdec: too much pixel data")

// inflater decodes one DEFLATE (RFC 1951) stream held in memory into a
// preallocated output slice.
//
// The bit buffer holds nb valid bits, least significant first. Above them
// it may hold a few more bits of the input that have not been counted yet;
// a refill ORs the same bits in again, so they never need masking. Past the
// end of the input the refill supplies zero bytes and counts them in pos;
// once a decode has consumed any of those bits the stream was truncated,
// which refill and the end-of-stream check detect.
type inflater struct {
	in   []byte
	pos  int // next input byte to load; > len(in) once zero bytes were supplied
	bits uint64
	nb   uint

	out []byte
	op  int

	dyn  tables // of the current dynamic block
	cl   [clTableSize]uint32
	lens [286 + 30]uint8
}

// tables are the decode tables of a block's two codes.
type tables struct {
	lit  [litTableSize]uint32
	dist [distTableSize]uint32
}

// fixedCode returns the tables of the fixed Huffman code (RFC 1951 section
// 3.2.6), built once and only read afterwards.
var fixedCode = sync.OnceValue(func() *tables {
	t := new(tables)
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	buildTable(t.lit[:], litRootBits, lens[:], alphaLit)
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	buildTable(t.dist[:], distRootBits, dl[:], alphaDist)
	return t
})

// inflate decodes the DEFLATE stream at the start of in into out. It
// returns the number of bytes written and the number of input bytes the
// stream occupies (its last byte may be partly padding). Writing past
// len(out) fails with errTooMuch; every other invalid or truncated stream
// fails too, and inflate accepts exactly the streams compress/flate
// accepts, with the same output.
func inflate(out, in []byte) (n, used int, err error) {
	f := &inflater{in: in, out: out}
	err = f.run()
	return f.op, f.used(), err
}

// used is the number of input bytes consumed so far, counting a partly
// consumed byte.
func (f *inflater) used() int {
	return f.pos - int(f.nb>>3)
}

func (f *inflater) corrupt(what string) error {
	return fmt.Errorf("pngdec: corrupt deflate stream: %s near input byte %d", what, f.used())
}

func (f *inflater) truncated() error {
	return fmt.Errorf("pngdec: deflate stream truncated after %d bytes", len(f.in))
}

// slowRefill is refill near and past the end of the input, a byte at a
// time. It reports false if bits beyond the input have been consumed.
func slowRefill(in []byte, pos int, bits uint64, nb uint) (int, uint64, uint, bool) {
	if overrun(in, pos, nb) {
		return pos, bits, nb, false
	}
	for nb < 56 {
		if pos < len(in) {
			bits |= uint64(in[pos]) << (nb & 63)
		}
		pos++
		nb += 8
	}
	return pos, bits, nb, true
}

// refill tops the bit buffer up to at least 56 bits.
func (f *inflater) refill() error {
	if f.pos <= len(f.in)-8 {
		f.bits |= binary.LittleEndian.Uint64(f.in[f.pos:]) << (f.nb & 63)
		f.pos += int((63 - f.nb) >> 3)
		f.nb |= 56
		return nil
	}
	var ok bool
	f.pos, f.bits, f.nb, ok = slowRefill(f.in, f.pos, f.bits, f.nb)
	if !ok {
		return f.truncated()
	}
	return nil
}

// overrun reports whether a decoder that has loaded in up to pos and holds
// nb bits has consumed bits past the end of the input.
func overrun(in []byte, pos int, nb uint) bool {
	return pos > len(in) && nb < 8*uint(pos-len(in))
}

// take removes and returns the next n <= 32 bits; the caller has refilled.
func (f *inflater) take(n uint) uint32 {
	v := uint32(f.bits & (1<<n - 1))
	f.bits >>= n
	f.nb -= n
	return v
}

func (f *inflater) run() error {
	for {
		if err := f.refill(); err != nil {
			return err
		}
		final := f.take(1)
		var err error
		switch f.take(2) {
		case 0:
			err = f.stored()
		case 1:
			err = f.huffman(fixedCode())
		case 2:
			if err = f.dynamic(); err == nil {
				err = f.huffman(&f.dyn)
			}
		default:
			err = f.corrupt("reserved block type")
		}
		if overrun(f.in, f.pos, f.nb) {
			// Whatever else is wrong, the stream ended too soon.
			return f.truncated()
		}
		if err != nil || final == 1 {
			return err
		}
	}
}

// stored copies a stored block (RFC 1951 section 3.2.4).
func (f *inflater) stored() error {
	// Drop the rest of the current byte, then give back the whole bytes
	// still buffered and read the header straight from the input.
	f.nb &^= 7
	f.pos -= int(f.nb >> 3)
	f.bits, f.nb = 0, 0
	if f.pos > len(f.in) || len(f.in)-f.pos < 4 {
		return f.truncated()
	}
	hdr := f.in[f.pos : f.pos+4]
	n := int(binary.LittleEndian.Uint16(hdr))
	if uint16(n) != ^binary.LittleEndian.Uint16(hdr[2:]) {
		return f.corrupt("stored block length check")
	}
	f.pos += 4
	if len(f.in)-f.pos < n {
		return f.truncated()
	}
	if len(f.out)-f.op < n {
		return errTooMuch
	}
	copy(f.out[f.op:], f.in[f.pos:f.pos+n])
	f.op += n
	f.pos += n
	return nil
}

// codeOrder is the order of the code length code lengths in a dynamic
// block header.
const codeOrder = "\x10\x11\x12\x00\x08\x07\x09\x06\x0a\x05\x0b\x04\x0c\x03\x0d\x02\x0e\x01\x0f"

// dynamic reads a dynamic block header (RFC 1951 section 3.2.7) and builds
// f.dyn from it.
func (f *inflater) dynamic() error {
	if err := f.refill(); err != nil {
		return err
	}
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	nclen := int(f.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return f.corrupt("too many length or distance codes")
	}
	var clLens [19]uint8
	for i := range nclen {
		if f.nb < 3 {
			if err := f.refill(); err != nil {
				return err
			}
		}
		clLens[codeOrder[i]] = uint8(f.take(3))
	}
	if !buildTable(f.cl[:], clRootBits, clLens[:], alphaCL) {
		return f.corrupt("invalid code length code")
	}

	n := nlit + ndist
	lens := f.lens[:n]
	for i := 0; i < n; {
		if f.nb < 7+7 {
			if err := f.refill(); err != nil {
				return err
			}
		}
		e := f.cl[f.bits&(clTableSize-1)]
		if e&fBad != 0 {
			return f.corrupt("invalid code length symbol")
		}
		f.take(uint(e & 63))
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return f.corrupt("repeat with no previous length")
			}
			rep = 3 + int(f.take(2))
			v = lens[i-1]
		case 17:
			rep = 3 + int(f.take(3))
		default:
			rep = 11 + int(f.take(7))
		}
		if i+rep > n {
			return f.corrupt("code lengths overrun")
		}
		for range rep {
			lens[i] = v
			i++
		}
	}
	if !buildTable(f.dyn.lit[:], litRootBits, lens[:nlit], alphaLit) ||
		!buildTable(f.dyn.dist[:], distRootBits, lens[nlit:], alphaDist) {
		return f.corrupt("invalid literal/length or distance code")
	}
	return nil
}

// Results of decodeBlock.
const (
	blockEnd = iota
	blockTruncated
	blockTooMuch
	blockBadLiteral
	blockBadDistance
	blockFarDistance
)

// huffman decodes the body of a compressed block with the given tables up
// to and including its end-of-block code.
func (f *inflater) huffman(t *tables) error {
	var st int
	f.pos, f.bits, f.nb, f.op, st = decodeBlock(f.in, f.pos, f.bits, f.nb, f.out, f.op, t)
	switch st {
	case blockEnd:
		return nil
	case blockTruncated:
		return f.truncated()
	case blockTooMuch:
		return errTooMuch
	case blockBadLiteral:
		return f.corrupt("invalid literal/length code")
	case blockBadDistance:
		return f.corrupt("invalid distance code")
	default:
		return f.corrupt("distance before start of output")
	}
}

// decodeBlock is the decoding loop of huffman, with the decoder's state in
// arguments and results so that it can stay in registers.
func decodeBlock(in []byte, pos int, bits uint64, nb uint, out []byte, op int, t *tables) (int, uint64, uint, int, int) {
	out = out[:len(out):len(out)] // one register fewer for out
	var e uint32
	for {
		// After a refill at least 56 bits are buffered: enough for four
		// root lookups of literals (12 bits each), or for a length, its
		// extra bits, a distance and its extra bits (15+5+15+13 = 48).
		if pos <= len(in)-8 {
			bits |= binary.LittleEndian.Uint64(in[pos:]) << (nb & 63)
			pos += int((63 - nb) >> 3)
			nb |= 56
		} else {
			var ok bool
			if pos, bits, nb, ok = slowRefill(in, pos, bits, nb); !ok {
				return pos, bits, nb, op, blockTruncated
			}
		}
		e = t.lit[bits&litRootMask]
		if int32(e) < 0 {
			// One or two literals. Near the end of the output, leave the
			// fast path: it stores two bytes whatever the entry holds.
			if uint(op+1) >= uint(len(out)) {
				goto lastLiteral
			}
			bits, nb, op = putLiterals(out, op, bits, nb, e)
			e = t.lit[bits&litRootMask]
			if int32(e) < 0 {
				if uint(op+1) >= uint(len(out)) {
					goto lastLiteral
				}
				bits, nb, op = putLiterals(out, op, bits, nb, e)
				e = t.lit[bits&litRootMask]
				if int32(e) < 0 {
					if uint(op+1) >= uint(len(out)) {
						goto lastLiteral
					}
					bits, nb, op = putLiterals(out, op, bits, nb, e)
					e = t.lit[bits&litRootMask]
					if int32(e) < 0 {
						if uint(op+1) >= uint(len(out)) {
							goto lastLiteral
						}
						bits, nb, op = putLiterals(out, op, bits, nb, e)
						continue
					}
				}
			}
			// e was looked up with at least 20 bits buffered, more than
			// it needs; a refill only adds bits above them.
			if pos <= len(in)-8 {
				bits |= binary.LittleEndian.Uint64(in[pos:]) << (nb & 63)
				pos += int((63 - nb) >> 3)
				nb |= 56
			} else {
				var ok bool
				if pos, bits, nb, ok = slowRefill(in, pos, bits, nb); !ok {
					return pos, bits, nb, op, blockTruncated
				}
			}
		}
		if e&(fSub|fEOB|fBad) != 0 {
			if e&fSub != 0 {
				bits >>= litRootBits
				nb -= litRootBits
				e = t.lit[e>>16&0x7fff+uint32(bits)&(1<<(e>>8&15)-1)]
				if int32(e) < 0 {
					// A long literal code: never a pair.
					bits >>= e & 63
					nb -= uint(e & 63)
					if uint(op) >= uint(len(out)) {
						return pos, bits, nb, op, blockTooMuch
					}
					out[op] = byte(e >> 8)
					op++
					continue
				}
			}
			if e&fEOB != 0 {
				bits >>= e & 63
				nb -= uint(e & 63)
				return pos, bits, nb, op, blockEnd
			}
			if e&fBad != 0 {
				return pos, bits, nb, op, blockBadLiteral
			}
		}

		// Length.
		{
			n := uint(e & 63)
			x := uint(e >> 8 & 15)
			length := int(e>>16&0x1ff) + int(bits>>n)&(1<<x-1)
			bits >>= n + x
			nb -= n + x

			// Distance.
			e = t.dist[bits&distRootMask]
			if e&(fSub|fBad) != 0 {
				if e&fSub != 0 {
					bits >>= distRootBits
					nb -= distRootBits
					e = t.dist[e>>16&0x7fff+uint32(bits)&(1<<(e>>8&15)-1)]
				}
				if e&fBad != 0 {
					return pos, bits, nb, op, blockBadDistance
				}
			}
			n = uint(e & 63)
			x = uint(e >> 8 & 15)
			dist := int(e>>16&0x7fff) + int(bits>>n)&(1<<x-1)
			bits >>= n + x
			nb -= n + x

			if dist > op {
				return pos, bits, nb, op, blockFarDistance
			}
			if length > len(out)-op {
				return pos, bits, nb, op, blockTooMuch
			}
			copyMatch(out, op, dist, length)
			op += length
		}
		continue

	lastLiteral:
		// e is a literal entry and at most one byte of output is left.
		bits >>= e & 63
		nb -= uint(e & 63)
		if e&fPair != 0 || uint(op) >= uint(len(out)) {
			return pos, bits, nb, op, blockTooMuch
		}
		out[op] = byte(e >> 8)
		op++
	}
}

// putLiterals consumes e, an entry of one or two literals, and stores
// both of its bytes at out[op:], advancing op by the number of literals;
// the caller has checked that op+1 is within out.
func putLiterals(out []byte, op int, bits uint64, nb uint, e uint32) (uint64, uint, int) {
	out[op] = byte(e >> 8)
	out[op+1] = byte(e >> 16)
	return bits >> (e & 63), nb - uint(e&63), op + 1 + int(e>>30&1)
}

// copyMatch copies length bytes from dist bytes back in out to out[op:];
// the caller has checked that both ranges lie within out.
func copyMatch(out []byte, op, dist, length int) {
	src := op - dist
	if len(out)-op >= length+8 {
		// Eight bytes at a time, with room for the last store to spill
		// up to seven bytes past the match, which later output
		// overwrites.
		if dist >= 8 {
			// Each load reads bytes already written.
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			}
			return
		}
		// A short period: write the first eight bytes one by one, then
		// copy eight bytes from step bytes back, step a multiple of the
		// period that the previous store has covered.
		o := out[op : op+8 : op+8]
		s := out[src : src+8 : src+8]
		for i := range o {
			o[i] = s[i] // s overlaps o: reads what this loop wrote
		}
		step := 8 / dist * dist
		for i := step; i < length; i += step {
			binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[op+i-step:]))
		}
		return
	}
	if dist >= length {
		copy(out[op:op+length], out[src:src+length])
		return
	}
	for i := range length {
		out[op+i] = out[src+i]
	}
}

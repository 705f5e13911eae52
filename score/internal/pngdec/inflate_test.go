package pngdec

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// flateResult is what compress/flate makes of a stream: its output (up to
// limit+1 bytes), whether it ended cleanly within limit bytes, and how many
// input bytes it read.
func flateResult(in []byte, limit int) (out []byte, ok bool, used int) {
	br := bytes.NewReader(in)
	fr := flate.NewReader(br)
	out, err := io.ReadAll(io.LimitReader(fr, int64(limit)+1))
	ok = err == nil && len(out) <= limit
	if ok {
		// LimitReader stops at EOF of fr only if fr reached it.
		var b [1]byte
		n, err := fr.Read(b[:])
		ok = n == 0 && err == io.EOF
	}
	return out, ok, len(in) - br.Len()
}

// checkInflate compares inflate with compress/flate on one stream: both
// accept it or both refuse it, with the same output and length.
func checkInflate(tb testing.TB, name string, in []byte, limit int) (ok bool) {
	tb.Helper()
	want, wantOK, wantUsed := flateResult(in, limit)
	out := make([]byte, limit)
	n, used, err := inflate(out, in)
	switch {
	case (err == nil) != wantOK:
		tb.Fatalf("%s: inflate error %v, compress/flate ok=%v (%d bytes)", name, err, wantOK, len(want))
	case err == nil && !bytes.Equal(out[:n], want):
		tb.Fatalf("%s: output differs (%d bytes, want %d)", name, n, len(want))
	case err == nil && used != wantUsed:
		tb.Fatalf("%s: stream length %d, compress/flate read %d", name, used, wantUsed)
	case errors.Is(err, errTooMuch) && len(want) <= limit:
		tb.Fatalf("%s: too much output, but compress/flate stops at %d of %d", name, len(want), limit)
	}
	return err == nil
}

func deflate(tb testing.TB, data []byte, level int) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestInflateFlate compares with compress/flate on streams its writer
// produces at every level.
func TestInflateFlate(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	gens := map[string]func(n int) []byte{
		"random": func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return b
		},
		"skewed": func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.NormFloat64() * 6)
			}
			return b
		},
		"text": func(n int) []byte {
			words := []string{"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ", "\n"}
			var b []byte
			for len(b) < n {
				b = append(b, words[r.IntN(len(words))]...)
			}
			return b[:n]
		},
		"zeros": func(n int) []byte { return make([]byte, n) },
		"period": func(n int) []byte {
			p := 1 + r.IntN(40)
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i % p * 37)
			}
			return b
		},
		"far": func(n int) []byte {
			// Repeats 32 KB apart: distances near the maximum.
			b := make([]byte, n)
			for i := range b {
				if i >= 32768 && r.IntN(8) != 0 {
					b[i] = b[i-32768]
				} else {
					b[i] = byte(r.Uint32())
				}
			}
			return b
		},
	}
	for name, gen := range gens {
		for _, n := range []int{0, 1, 2, 3, 100, 258, 1000, 40000, 100000} {
			data := gen(n)
			for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
				z := deflate(t, data, level)
				label := fmt.Sprintf("%s/%d/level%d", name, n, level)
				if !checkInflate(t, label, z, n) {
					t.Fatalf("%s: valid stream refused", label)
				}
				// An output buffer one byte short must fail.
				if n > 0 {
					out := make([]byte, n-1)
					if _, _, err := inflate(out, z); !errors.Is(err, errTooMuch) {
						t.Fatalf("%s: short buffer: %v", label, err)
					}
				}
				// Every truncation must fail or decode a prefix stream.
				for cut := 0; cut < len(z); cut += 1 + len(z)/20 {
					checkInflate(t, label+fmt.Sprintf("/cut%d", cut), z[:cut], n)
				}
			}
		}
	}
}

// bitWriter writes a DEFLATE bit stream.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c uint16, n uint) {
	w.bits(uint64(bits.Reverse16(c)>>(16-n)), n)
}

func (w *bitWriter) align() {
	if w.nacc > 0 {
		w.bits(0, 8-w.nacc)
	}
}

func (w *bitWriter) bytes() []byte {
	w.align()
	return w.out
}

func (w *bitWriter) stored(final bool, data []byte) {
	w.header(final, 0)
	w.align()
	n := len(data)
	w.out = append(w.out, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
	w.out = append(w.out, data...)
}

func (w *bitWriter) header(final bool, typ uint64) {
	f := uint64(0)
	if final {
		f = 1
	}
	w.bits(f|typ<<1, 3)
}

// fixedLit writes literal/length symbol sym in the fixed code.
func (w *bitWriter) fixedLit(sym int) {
	switch {
	case sym < 144:
		w.code(uint16(0x30+sym), 8)
	case sym < 256:
		w.code(uint16(0x190+sym-144), 9)
	case sym < 280:
		w.code(uint16(sym-256), 7)
	default:
		w.code(uint16(0xc0+sym-280), 8)
	}
}

// The length and distance tables of RFC 1951 section 3.2.5.
var (
	lengthBase = [29]uint16{
		3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint16{
		1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{
		0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// TestSymbolEntries checks the length and distance entries against RFC
// 1951's tables.
func TestSymbolEntries(t *testing.T) {
	for i := range lengthBase {
		e := symbolEntry(alphaLit, 257+i)
		if e>>16 != uint32(lengthBase[i]) || e>>8&15 != uint32(lengthExtra[i]) || e&0xff != 0 {
			t.Errorf("length symbol %d: entry %#x", 257+i, e)
		}
	}
	for i := range distBase {
		e := symbolEntry(alphaDist, i)
		if e>>16 != uint32(distBase[i]) || e>>8&15 != uint32(distExtra[i]) || e&0xff != 0 {
			t.Errorf("distance symbol %d: entry %#x", i, e)
		}
	}
	for _, e := range []uint32{symbolEntry(alphaLit, 286), symbolEntry(alphaLit, 287), symbolEntry(alphaDist, 30), symbolEntry(alphaDist, 31)} {
		if e != fBad {
			t.Errorf("reserved symbol: entry %#x", e)
		}
	}
}

// lengthSym and distSym are the symbol and extra bits of a length or
// distance.
func lengthSym(length int) (sym int, extra uint64, n uint) {
	for i := len(lengthBase) - 1; i >= 0; i-- {
		if int(lengthBase[i]) <= length {
			return 257 + i, uint64(length - int(lengthBase[i])), uint(lengthExtra[i])
		}
	}
	panic("bad length")
}

func distSym(dist int) (sym int, extra uint64, n uint) {
	for i := len(distBase) - 1; i >= 0; i-- {
		if int(distBase[i]) <= dist {
			return i, uint64(dist - int(distBase[i])), uint(distExtra[i])
		}
	}
	panic("bad distance")
}

// fixedMatch writes a match in the fixed code.
func (w *bitWriter) fixedMatch(length, dist int) {
	s, x, n := lengthSym(length)
	w.fixedLit(s)
	w.bits(x, n)
	d, dx, dn := distSym(dist)
	w.code(uint16(d), 5)
	w.bits(dx, dn)
}

// canonical returns the canonical Huffman codes for lengths.
func canonical(lengths []int) []uint16 {
	var count [17]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [17]int
	code := 0
	for l := 1; l <= 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	codes := make([]uint16, len(lengths))
	for i, l := range lengths {
		if l > 0 {
			codes[i] = uint16(next[l])
			next[l]++
		}
	}
	return codes
}

// clLengths is the code length code dynamic writes with: symbols 0-12 take
// four bits, 13-18 five, a complete code.
var clLengths = []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5}

// clItem is one code length code symbol and its extra bits.
type clItem struct {
	sym   int
	extra uint64
}

// plainCL codes lengths without repeats.
func plainCL(lengths ...[]int) []clItem {
	var items []clItem
	for _, ls := range lengths {
		for _, l := range ls {
			items = append(items, clItem{sym: l})
		}
	}
	return items
}

// dynamic writes a dynamic block header for nlit literal/length and ndist
// distance codes whose lengths are coded by items.
func (w *bitWriter) dynamic(final bool, nlit, ndist int, items []clItem) {
	w.header(final, 2)
	w.bits(uint64(nlit-257), 5)
	w.bits(uint64(ndist-1), 5)
	w.bits(19-4, 4)
	for _, s := range codeOrder {
		w.bits(uint64(clLengths[s]), 3)
	}
	codes := canonical(clLengths)
	for _, it := range items {
		w.code(codes[it.sym], uint(clLengths[it.sym]))
		switch it.sym {
		case 16:
			w.bits(it.extra, 2)
		case 17:
			w.bits(it.extra, 3)
		case 18:
			w.bits(it.extra, 7)
		}
	}
}

// huff writes symbols of a code given by lengths.
type huff struct {
	lengths []int
	codes   []uint16
}

func newHuff(lengths []int) huff { return huff{lengths, canonical(lengths)} }

func (h huff) put(w *bitWriter, sym int) { w.code(h.codes[sym], uint(h.lengths[sym])) }

// completeLengths returns n code lengths forming a complete code: with l
// the shortest length whose 2^l codes cover n symbols, s symbols take
// length l-1 and the rest length l, where 2s + (n-s) = 2^l.
func completeLengths(n int) []int {
	l := bits.Len(uint(n - 1))
	ls := make([]int, n)
	s := 1<<l - n
	for i := range ls {
		if i < s {
			ls[i] = l - 1
		} else {
			ls[i] = l
		}
	}
	return ls
}

// edgeStream is a hand-made DEFLATE stream.
type edgeStream struct {
	name  string
	valid bool // as compress/flate judges it
	data  []byte
}

// edgeLimit is the output size edge streams are decoded with.
const edgeLimit = 70000

// edgeStreams are valid and invalid streams at the edges of RFC 1951 and
// of compress/flate's checks.
func edgeStreams() []edgeStream {
	var cases []edgeStream
	add := func(name string, valid bool, w *bitWriter) {
		cases = append(cases, edgeStream{name, valid, w.bytes()})
	}

	{
		w := &bitWriter{}
		w.stored(true, nil)
		add("empty stored final", true, w)
	}
	{
		w := &bitWriter{}
		w.stored(false, nil)
		w.stored(false, []byte("abc"))
		w.header(true, 1)
		w.fixedLit(256)
		add("stored then fixed EOB", true, w)
	}
	{
		w := &bitWriter{}
		w.header(true, 1)
		w.fixedLit(256)
		add("final fixed block only", true, w)
	}
	{
		w := &bitWriter{}
		w.header(false, 1)
		w.fixedLit('x')
		w.fixedLit(256)
		add("no final block", false, w)
	}
	{
		// Maximum distance and maximum length.
		w := &bitWriter{}
		r := rand.New(rand.NewPCG(1, 1))
		block := make([]byte, 32768)
		for i := range block {
			block[i] = byte(r.Uint32())
		}
		w.stored(false, block[:20000])
		w.stored(false, block[20000:])
		w.header(true, 1)
		w.fixedMatch(258, 32768)
		w.fixedMatch(258, 32768)
		w.fixedMatch(3, 32768)
		w.fixedLit(256)
		add("distance 32768 length 258", true, w)
	}
	{
		w := &bitWriter{}
		w.header(true, 1)
		w.fixedLit('a')
		w.fixedMatch(258, 1) // distance < length: a run
		w.fixedLit('b')
		w.fixedLit('c')
		w.fixedMatch(100, 3)
		w.fixedMatch(13, 2)
		w.fixedMatch(9, 7)
		w.fixedMatch(40, 5)
		// Length 258 coded as 284 with all five extra bits set.
		w.fixedLit(284)
		w.bits(31, 5)
		w.code(0, 5)
		w.fixedLit(256)
		add("overlapping copies", true, w)
	}
	{
		w := &bitWriter{}
		w.header(true, 1)
		w.fixedMatch(3, 1)
		w.fixedLit(256)
		add("distance before start", false, w)
	}
	{
		w := &bitWriter{}
		w.header(true, 1)
		w.fixedLit('a')
		w.fixedLit('b')
		w.fixedMatch(4, 3)
		w.fixedLit(256)
		add("distance one past start", false, w)
	}
	for _, sym := range []int{286, 287} {
		w := &bitWriter{}
		w.header(true, 1)
		w.fixedLit('a')
		w.fixedLit(sym)
		w.code(0, 5)
		w.fixedLit(256)
		add(fmt.Sprintf("fixed literal/length %d", sym), false, w)
	}
	for _, d := range []int{30, 31} {
		w := &bitWriter{}
		w.header(true, 1)
		w.fixedLit('a')
		w.fixedLit(257)
		w.code(uint16(d), 5)
		w.fixedLit(256)
		add(fmt.Sprintf("fixed distance %d", d), false, w)
	}
	{
		w := &bitWriter{}
		w.header(true, 3)
		w.bits(0, 16)
		add("block type 3", false, w)
	}
	{
		w := &bitWriter{}
		w.header(true, 0)
		w.align()
		w.out = append(w.out, 3, 0, 0xfc, 0xfe, 'a', 'b', 'c')
		add("stored length check", false, w)
	}

	// Dynamic blocks. lit: 'a', 'b', EOB and length 3 (257); dist: codes.
	litLens := make([]int, 258)
	litLens['a'], litLens['b'], litLens[256], litLens[257] = 2, 2, 2, 2
	{
		w := &bitWriter{}
		dl := []int{1} // one distance code of one bit: degenerate, allowed
		w.dynamic(true, 258, 1, plainCL(litLens, dl))
		lit, dist := newHuff(litLens), newHuff(dl)
		lit.put(w, 'a')
		lit.put(w, 'b')
		lit.put(w, 257)
		dist.put(w, 0) // distance 1
		lit.put(w, 256)
		add("dynamic single distance code", true, w)

		w = &bitWriter{}
		w.dynamic(true, 258, 1, plainCL(litLens, dl))
		lit.put(w, 'a')
		lit.put(w, 257)
		w.code(1, 1) // the unused one-bit pattern
		lit.put(w, 256)
		add("dynamic unused distance pattern", false, w)
	}
	{
		w := &bitWriter{}
		ll := make([]int, 257)
		ll['a'], ll[256] = 1, 1
		dl := []int{0}
		w.dynamic(true, 257, 1, plainCL(ll, dl))
		lit := newHuff(ll)
		lit.put(w, 'a')
		lit.put(w, 'a')
		lit.put(w, 256)
		add("dynamic empty distance code", true, w)

		w = &bitWriter{}
		ll2 := make([]int, 258)
		ll2['a'], ll2[256], ll2[257] = 1, 2, 2
		w.dynamic(true, 258, 1, plainCL(ll2, dl))
		lit = newHuff(ll2)
		lit.put(w, 'a')
		lit.put(w, 257)
		w.bits(0, 8)
		add("dynamic match with empty distance code", false, w)
	}
	{
		// Repeat codes: 17 and 18 for zeros, 16 across the boundary
		// between literal/length and distance lengths.
		ll := make([]int, 258)
		ll[0], ll[256], ll[257] = 2, 2, 1 // 0 and 256 length 2, 257 length 1
		items := []clItem{{sym: 2}, {18, 138 - 11}, {18, 117 - 11}, {sym: 2}, {sym: 1},
			{sym: 1}}
		// lengths so far: 0:2, 1..255: 0, 256:2, 257:1, dist0:1
		items = append(items, clItem{16, 0}) // dist 1..3 = 1: over-subscribed
		w := &bitWriter{}
		w.dynamic(true, 258, 4, items)
		add("dynamic over-subscribed distance code", false, w)

		items = []clItem{{sym: 2}, {18, 138 - 11}, {18, 117 - 11}, {sym: 2}, {sym: 2}, {sym: 2}, {16, 0}}
		// lit: 0, 256, 257 length 2, and distances 0..3 length 2: lit is
		// incomplete (3 of 4 codes).
		w = &bitWriter{}
		w.dynamic(true, 258, 4, items)
		add("dynamic incomplete literal code", false, w)

		// 0, 256, 257 and 258 length 2 with a repeat crossing into the
		// distance lengths (258, distances 0 and 1), then distances 2, 3.
		items = []clItem{{sym: 2}, {18, 138 - 11}, {18, 117 - 11}, {sym: 2}, {sym: 2}, {16, 0}, {sym: 2}, {sym: 2}}
		ll = make([]int, 259)
		ll[0], ll[256], ll[257], ll[258] = 2, 2, 2, 2
		w = &bitWriter{}
		w.dynamic(true, 259, 4, items)
		lit := newHuff(ll)
		dist := newHuff([]int{2, 2, 2, 2})
		lit.put(w, 0)
		lit.put(w, 257)
		dist.put(w, 0)
		lit.put(w, 258)
		dist.put(w, 1)
		lit.put(w, 256)
		add("dynamic repeat across the boundary", true, w)

		// A stream valid but for its first code length, a repeat of a
		// previous length that does not exist.
		ll = make([]int, 257)
		ll['a'], ll[256] = 1, 1
		items = []clItem{{16, 0}, {18, 94 - 11}, {sym: 1}, {18, 138 - 11}, {18, 20 - 11}, {sym: 1}, {sym: 0}}
		w = &bitWriter{}
		w.dynamic(true, 257, 1, items)
		lit = newHuff(ll)
		lit.put(w, 'a')
		lit.put(w, 256)
		add("repeat with no previous length", false, w)

		w = &bitWriter{}
		w.dynamic(true, 258, 1, []clItem{{18, 127}, {18, 127}, {18, 127}})
		add("repeat past the end", false, w)
	}
	{
		ll := completeLengths(286)
		dl := completeLengths(30)
		w := &bitWriter{}
		w.dynamic(false, 286, 30, plainCL(ll, dl))
		lit, dist := newHuff(ll), newHuff(dl)
		for i := range 256 {
			lit.put(w, i)
		}
		for s := 257; s <= 285; s++ {
			lit.put(w, s)
			_, _, n := lengthSym(int(lengthBase[s-257]))
			w.bits(uint64(1<<n-1), n)
			dist.put(w, s%30/2) // short distances
			w.bits(0, uint(distExtra[s%30/2]))
		}
		lit.put(w, 256)
		w.stored(true, []byte("end"))
		add("dynamic every symbol", true, w)

		for _, hdr := range [][2]int{{287, 30}, {288, 30}, {286, 31}, {286, 32}} {
			w := &bitWriter{}
			w.header(true, 2)
			w.bits(uint64(hdr[0]-257), 5)
			w.bits(uint64(hdr[1]-1), 5)
			w.bits(0, 60)
			add(fmt.Sprintf("HLIT %d HDIST %d", hdr[0], hdr[1]), false, w)
		}
	}
	{
		// Long codes: a literal/length code with 15-bit codes, so that
		// subtables are exercised on both sides.
		ll := make([]int, 286)
		// Lengths 1..14, then two codes of 15 bits:
		// 1/2 + 1/4 + ... + 1/2^14 + 2/2^15 = 1.
		syms := []int{'e', 't', 'a', 'o', 256, 'n', 257, 's', 'h', 'r', 'd', 'l', 'u', 285, 'z', 'q'}
		for i, s := range syms {
			ll[s] = min(i+1, 15)
		}
		dl := make([]int, 30)
		for i := range 14 {
			dl[i] = i + 1
		}
		dl[14], dl[29] = 15, 15
		w := &bitWriter{}
		w.dynamic(true, 286, 30, plainCL(ll, dl))
		lit, dist := newHuff(ll), newHuff(dl)
		for _, s := range syms {
			if s < 256 {
				lit.put(w, s)
			}
		}
		lit.put(w, 257)
		dist.put(w, 0)
		lit.put(w, 285)
		dist.put(w, 14) // distance 129 + extra 6 bits
		w.bits(0, 6)
		lit.put(w, 'z')
		lit.put(w, 256)
		add("dynamic 15-bit codes, far distance", false, w) // distance 129 > output

		// The literals repeated, then matches at distances 134 and 24577:
		// the second reaches before the start after 200 repeats (2600
		// bytes), not after 2000.
		for _, c := range []struct {
			name  string
			reps  int
			valid bool
		}{{"dynamic 15-bit codes", 200, false}, {"dynamic 15-bit codes, max distance", 2000, true}} {
			w = &bitWriter{}
			w.dynamic(true, 286, 30, plainCL(ll, dl))
			for range c.reps {
				for _, s := range syms {
					if s < 256 {
						lit.put(w, s)
					}
				}
			}
			lit.put(w, 285)
			dist.put(w, 14)
			w.bits(5, 6)
			lit.put(w, 285)
			dist.put(w, 29)
			w.bits(0, 13)
			lit.put(w, 256)
			add(c.name, c.valid, w)
		}
	}
	return cases
}

// TestInflateEdges checks the hand-made streams against compress/flate,
// whole, truncated and with bits flipped.
func TestInflateEdges(t *testing.T) {
	for _, c := range edgeStreams() {
		ok := checkInflate(t, c.name, c.data, edgeLimit)
		if ok != c.valid {
			t.Errorf("%s: accepted=%v, want %v", c.name, ok, c.valid)
		}
		// Cut everywhere in short streams; in long ones near both ends
		// and at a stride between.
		for cut := 0; cut < len(c.data); cut++ {
			if cut > 512 && cut < len(c.data)-512 {
				cut += 97
			}
			checkInflate(t, fmt.Sprintf("%s cut at %d", c.name, cut), c.data[:cut], edgeLimit)
		}
		for i := range 200 {
			d := bytes.Clone(c.data)
			d[i*7%len(d)] ^= 1 << (i % 8)
			checkInflate(t, fmt.Sprintf("%s flipped %d", c.name, i), d, edgeLimit)
		}
	}
}

// TestInflateRandom feeds random bytes, which compress/flate mostly
// refuses, and random streams after a valid prefix.
func TestInflateRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for i := range 20000 {
		b := make([]byte, r.IntN(64))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if i%2 == 0 && len(b) > 0 {
			b[0] = b[0]&^6 | 4 // dynamic block: the header parser
		}
		checkInflate(t, fmt.Sprintf("random %d %x", i, b), b, 1<<12)
	}
}

// TestAdler32 compares with hash/adler32, including the inputs that make
// its sums largest.
func TestAdler32(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, n := range []int{0, 1, 7, 8, 9, 2047, 2048, 2049, 5552, 5553, 65536, 100003, 1 << 20} {
		for _, fill := range []string{"random", "ff", "zero"} {
			b := make([]byte, n)
			for i := range b {
				switch fill {
				case "random":
					b[i] = byte(r.Uint32())
				case "ff":
					b[i] = 0xff
				}
			}
			if got, want := adlerChecksum(b), adler32.Checksum(b); got != want {
				t.Errorf("%s %d: %08x, want %08x", fill, n, got, want)
			}
		}
	}
}

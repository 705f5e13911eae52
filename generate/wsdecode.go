package generate

import (
	"bytes"
	"unicode/utf8"

	"github.com/comfybatch/comfybatch/internal/jsonnum"
)

// decodeMessageFast decodes a message without encoding/json when it is in
// the narrow form ComfyUI and the simulator write (Python's json.dumps with
// its ", " and ": " separators, type before data; Go's compact json.Marshal,
// data before type; any JSON whitespace and key order pass). It reports
// false for anything outside that form, and decodeMessage then uses
// decodeMessageJSON, whose result it equals whenever it reports true
// (FuzzDecodeMessage checks that). It declines:
//   - input that is not valid JSON, or not a JSON object, or not valid
//     UTF-8, or that nests deeper than maxMessageDepth;
//   - an escape in a key of the message or of data, or in the value of
//     type, prompt_id or node;
//   - a key of the message or of data that is not ASCII, or that equals
//     type, data, prompt_id, node or timestamp (at its level) only when
//     case is ignored: encoding/json matches keys case-insensitively,
//     with Unicode folding (ſ is s);
//   - any of those five keys twice;
//   - type that is absent, empty or not a string; data that is present
//     but not an object; prompt_id or node that is neither a string nor
//     null.
//
// It is hand-written because every text frame of every prompt goes through
// it (a progress and a progress_state message per sampler step), and the
// two encoding/json passes of decodeMessageJSON, each of which scans the
// message twice, were 2.4% of the coordinator's CPU in BenchmarkCoordinator.
// BenchmarkDecodeMessage, on one txt2img prompt's 70 messages as ComfyUI
// 0.3.64 sends them, measures decodeMessage with it at 6.7-9.6x
// decodeMessageJSON (ten interleaved runs on a shared 2-core machine: 57-127
// against 553-923 µs a prompt), with 165 allocations and 40 KB a prompt
// against 1125 and 81 KB; 6.6-9.8x in the simulator's form.
func decodeMessageFast(b []byte) (Message, bool) {
	s := msgScanner{b: b}
	s.space()
	if !s.eat('{') {
		return Message{}, false
	}
	var (
		typ     []byte
		data    []byte
		f       dataFields
		hasData bool
	)
	s.space()
	if s.eat('}') {
		return Message{}, false // no type: encoding/json's answer is false too
	}
	for {
		key, ok := s.key()
		if !ok {
			return Message{}, false
		}
		switch string(key) {
		case "type":
			v, ok := s.plainString()
			if !ok || typ != nil || len(v) == 0 {
				return Message{}, false
			}
			typ = v
		case "data":
			start := s.i
			if hasData || !s.dataObject(&f) {
				return Message{}, false
			}
			data, hasData = b[start:s.i], true
		default:
			if bytes.EqualFold(key, []byte("type")) || bytes.EqualFold(key, []byte("data")) || !s.value(1) {
				return Message{}, false
			}
		}
		s.space()
		if s.eat(',') {
			s.space()
			continue
		}
		if !s.eat('}') {
			return Message{}, false
		}
		break
	}
	s.space()
	if s.i != len(b) || typ == nil || (s.nonASCII && !utf8.Valid(b)) {
		return Message{}, false
	}
	m := Message{Type: messageType(typ), HasTimestamp: f.timestamp}
	if hasData {
		m.Data = bytes.Clone(data) // encoding/json copies too: b may be reused by the caller
	}
	if f.promptID != nil {
		m.PromptID = string(f.promptID)
	}
	if f.node != nil {
		n := string(f.node)
		m.Node = &n
	}
	return m, true
}

// messageType returns the event name in b, without allocating for the
// names ComfyUI sends.
func messageType(b []byte) string {
	switch string(b) {
	case "status":
		return "status"
	case "execution_start":
		return "execution_start"
	case "execution_cached":
		return "execution_cached"
	case "executing":
		return "executing"
	case "progress":
		return "progress"
	case "progress_state":
		return "progress_state"
	case "executed":
		return "executed"
	case "execution_success":
		return "execution_success"
	case "execution_error":
		return "execution_error"
	case "execution_interrupted":
		return "execution_interrupted"
	}
	return string(b)
}

// dataFields is what decodeMessageFast reads from data. A nil slice is an
// absent (or null) value; an empty string is a non-nil empty slice.
type dataFields struct {
	promptID  []byte
	node      []byte
	timestamp bool // present and not null, as encoding/json sets a *json.RawMessage
	seen      uint8
}

// The bits of dataFields.seen.
const (
	seenPromptID = 1 << iota
	seenNode
	seenTimestamp
)

// maxMessageDepth bounds the nesting decodeMessageFast skips through
// (ComfyUI's messages nest five deep at most); deeper input goes to
// encoding/json, which allows 10000.
const maxMessageDepth = 64

// msgScanner validates and walks one message for decodeMessageFast. Every
// method reports false at the first byte outside the accepted form.
type msgScanner struct {
	b        []byte
	i        int
	nonASCII bool // a string had a byte >= 0x80: the message is checked for UTF-8 at the end
}

// space skips JSON whitespace.
func (s *msgScanner) space() {
	i := s.i
	for i < len(s.b) && (s.b[i] == ' ' || s.b[i] == '\t' || s.b[i] == '\n' || s.b[i] == '\r') {
		i++
	}
	s.i = i
}

// eat consumes c if it comes next.
func (s *msgScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// literal consumes word (true, false or null) if it comes next.
func (s *msgScanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// strStop is 1 at the bytes where str's inner loop stops: control
// characters, '"', '\\' and the bytes of non-ASCII characters. It is a
// constant indexed by a byte, so the lookup needs no bounds check.
const strStop = "" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"

// str consumes a string and returns its contents between the quotes, and
// whether they hold an escape or a byte >= 0x80.
func (s *msgScanner) str() (v []byte, escaped, nonASCII, ok bool) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return nil, false, false, false
	}
	i++
	start := i
	for i < len(b) {
		c := b[i]
		if strStop[c] == 0 {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			if nonASCII {
				s.nonASCII = true
			}
			return b[start:i], escaped, nonASCII, true
		case c == '\\':
			s.i = i
			if !s.escape() {
				return nil, false, false, false
			}
			i, escaped = s.i, true
		case c < 0x20:
			return nil, false, false, false
		default:
			i, nonASCII = i+1, true
		}
	}
	return nil, false, false, false
}

// escape consumes one escape sequence; s.i is at its backslash.
func (s *msgScanner) escape() bool {
	if s.i+1 >= len(s.b) {
		return false
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if len(s.b)-s.i < 6 {
			return false
		}
		for _, c := range s.b[s.i+2 : s.i+6] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
		s.i += 6
		return true
	}
	return false
}

// plainString consumes a string without escapes and returns its contents.
func (s *msgScanner) plainString() ([]byte, bool) {
	v, escaped, _, ok := s.str()
	return v, ok && !escaped
}

// key consumes an object key of the message or of data, then the colon
// and the whitespace around it. It refuses escapes and non-ASCII bytes, so
// that the key's bytes are what encoding/json matches field names against.
func (s *msgScanner) key() ([]byte, bool) {
	k, escaped, nonASCII, ok := s.str()
	if !ok || escaped || nonASCII {
		return nil, false
	}
	s.space()
	if !s.eat(':') {
		return nil, false
	}
	s.space()
	return k, true
}

// stringOrNull consumes a string without escapes, returned non-nil, or
// null, returned nil.
func (s *msgScanner) stringOrNull() ([]byte, bool) {
	if s.literal("null") {
		return nil, true
	}
	return s.plainString() // non-nil when ok, even for "": it is a slice of b
}

// dataObject consumes the data object, recording prompt_id, node and
// timestamp in f.
func (s *msgScanner) dataObject(f *dataFields) bool {
	if !s.eat('{') {
		return false
	}
	s.space()
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.key()
		if !ok {
			return false
		}
		var bit uint8
		switch string(key) {
		case "prompt_id":
			bit = seenPromptID
			f.promptID, ok = s.stringOrNull()
		case "node":
			bit = seenNode
			f.node, ok = s.stringOrNull()
		case "timestamp":
			bit = seenTimestamp
			f.timestamp = !s.literal("null")
			ok = !f.timestamp || s.value(2)
		default:
			if bytes.EqualFold(key, []byte("prompt_id")) || bytes.EqualFold(key, []byte("node")) ||
				bytes.EqualFold(key, []byte("timestamp")) {
				return false
			}
			ok = s.value(2)
		}
		if !ok || f.seen&bit != 0 {
			return false
		}
		f.seen |= bit
		s.space()
		if s.eat(',') {
			s.space()
			continue
		}
		return s.eat('}')
	}
}

// value consumes any JSON value nested depth levels deep.
func (s *msgScanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; c {
	case '{', '[':
		return depth < maxMessageDepth && s.container(c, depth+1)
	case '"':
		_, _, _, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// container consumes an object (open is '{') or an array whose values are
// nested depth levels deep.
func (s *msgScanner) container(open byte, depth int) bool {
	s.i++
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	s.space()
	if s.eat(closer) {
		return true
	}
	for {
		if open == '{' {
			if _, _, _, ok := s.str(); !ok {
				return false
			}
			s.space()
			if !s.eat(':') {
				return false
			}
			s.space()
		}
		if !s.value(depth) {
			return false
		}
		s.space()
		if s.eat(',') {
			s.space()
			continue
		}
		return s.eat(closer)
	}
}

// number consumes a JSON number (jsonnum.End's grammar).
func (s *msgScanner) number() bool {
	end, ok := jsonnum.End(s.b, s.i)
	s.i = end
	return ok
}

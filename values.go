package comfybatch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FormatValue writes a parameter value (Param.Value) the way people read
// it: integers with every digit (seeds above 2^53 included), floats in the
// shortest form that reads back the same, strings as they are, and "" for
// a missing value (nil). Reports, exports and summaries all use it, so a
// value looks the same everywhere.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

// Kinds of parameter values: how a manifest binds a param to a node input,
// and so how a stored raw JSON value reads back (DecodeValue).
const (
	KindString = "string" // a JSON string
	KindImage  = "image"  // a local image uploaded before submitting; the workflow holds its file name
	KindInt    = "int"    // an integer (int64, or uint64 above 2^63-1)
	KindSeed   = "seed"   // an integer from 0 to 2^64-1, read as uint64
	KindFloat  = "float"  // a number, read as float64 even when written without a fraction ("8")
	KindBool   = "bool"   // true or false
)

// DecodeValue reads a raw JSON value written into a workflow back into a
// Param.Value of the given kind: string, bool, int64, uint64 or float64.
// Integers keep every digit. An empty kind decodes by the JSON form alone.
func DecodeValue(raw json.RawMessage, kind string) (any, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("decode value: empty")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("decode value %s: %w", raw, err)
		}
		return s, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("decode value %s: %w", raw, err)
		}
		return b, nil
	case 'n':
		return nil, nil
	}
	s := string(raw)
	switch kind {
	case KindFloat:
		return parseFloat(s)
	case KindSeed:
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode seed %s: %w", s, err)
		}
		return u, nil
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
	}
	return parseFloat(s)
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("decode number %s: %w", s, err)
	}
	return f, nil
}

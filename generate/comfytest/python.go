package comfytest

// Python semantics the validator reproduces: int()/float()/str()/bool()
// coercion and str()/repr() formatting of JSON values in error texts.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// pyFloat is a Python float: it encodes as json.dumps writes one, 8.0
// rather than 8, so a float stays a float on the wire.
type pyFloat float64

// MarshalJSON writes Python's repr of the float.
func (f pyFloat) MarshalJSON() ([]byte, error) { return []byte(pyStr(float64(f))), nil }

// coerce applies Python's int(), float(), str() and bool() to a literal.
func coerce(typ string, val any) (any, *pyError) {
	switch typ {
	case "INT":
		switch x := val.(type) {
		case json.Number:
			if i, ok := new(big.Int).SetString(string(x), 10); ok {
				return json.Number(i.String()), nil
			}
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, &pyError{"OverflowError", "cannot convert float infinity to integer"}
			}
			i, _ := big.NewFloat(f).Int(nil)
			return json.Number(i.String()), nil
		case bool:
			if x {
				return json.Number("1"), nil
			}
			return json.Number("0"), nil
		case string:
			t := strings.TrimSpace(strings.ReplaceAll(x, "_", ""))
			if i, ok := new(big.Int).SetString(t, 10); ok && t != "" {
				return json.Number(i.String()), nil
			}
			return nil, &pyError{"ValueError", fmt.Sprintf("invalid literal for int() with base 10: '%s'", x)}
		case nil:
			return nil, &pyError{"TypeError", "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'"}
		default:
			return nil, &pyError{"TypeError", "int() argument must be a string, a bytes-like object or a real number, not '" + pyType(val) + "'"}
		}
	case "FLOAT":
		switch x := val.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return nil, &pyError{"ValueError", "could not convert string to float: '" + string(x) + "'"}
			}
			return pyFloat(f), nil
		case bool:
			if x {
				return pyFloat(1), nil
			}
			return pyFloat(0), nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, &pyError{"ValueError", "could not convert string to float: '" + x + "'"}
			}
			return pyFloat(f), nil
		default:
			return nil, &pyError{"TypeError", "float() argument must be a string or a real number, not '" + pyType(val) + "'"}
		}
	case "STRING":
		if s, ok := val.(string); ok {
			return s, nil
		}
		return pyStr(val), nil
	case "BOOLEAN":
		return pyTruthy(val), nil
	}
	return val, nil
}

// pyStr formats a JSON value the way Python's str() would.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case json.Number:
		return string(x)
	case pyFloat:
		return pyStr(float64(x))
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int, uint64:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pyRepr is Python's repr(): strings are quoted.
func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
	}
	return pyStr(v)
}

func pyList(opts []string) string {
	parts := make([]string, len(opts))
	for i, o := range opts {
		parts[i] = pyRepr(o)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return "object"
}

func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		return f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

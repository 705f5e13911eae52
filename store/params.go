package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// encodeParams writes params as JSON [{"name":..,"value":..}]. Integers
// keep every digit (seeds may exceed 2^63, beyond float64's 2^53), and a
// float is always written with a '.' or an exponent, so decodeParams can
// tell 1.0 from 1.
func encodeParams(params []comfybatch.Param) (string, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, p := range params {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(p.Name)
		if err != nil {
			return "", err
		}
		b.WriteString(`{"name":`)
		b.Write(name)
		b.WriteString(`,"value":`)
		if err := encodeValue(&b, p.Value); err != nil {
			return "", fmt.Errorf("param %s: %w", p.Name, err)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String(), nil
}

func encodeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case string, bool:
		out, err := json.Marshal(x)
		if err != nil {
			return err
		}
		b.Write(out)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("value %v has no JSON form", x)
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		b.WriteString(s)
	case json.Number:
		if _, err := parseNumber(x); err != nil {
			return err
		}
		b.WriteString(x.String())
	case nil:
		b.WriteString("null")
	default:
		return fmt.Errorf("value of type %T: want string, bool, int64, uint64 or float64", v)
	}
	return nil
}

// decodeParams is the inverse of encodeParams: integers come back as int64
// when they fit, else uint64; numbers with a '.' or exponent as float64.
func decodeParams(text string) ([]comfybatch.Param, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var raw []comfybatch.Param
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	for i, p := range raw {
		n, ok := p.Value.(json.Number)
		if !ok {
			continue
		}
		v, err := parseNumber(n)
		if err != nil {
			return nil, fmt.Errorf("decode param %s: %w", p.Name, err)
		}
		raw[i].Value = v
	}
	return raw, nil
}

// parseNumber turns a JSON number into int64, uint64 or float64.
func parseNumber(n json.Number) (any, error) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %s: %w", s, err)
	}
	return f, nil
}

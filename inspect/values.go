package inspect

import (
	"cmp"
	"math"
	"math/big"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// FormatValue writes a parameter value as comfybatch.FormatValue does,
// with "-" for a missing value (nil) so that table columns stay filled.
func FormatValue(v any) string {
	if v == nil {
		return "-"
	}
	return comfybatch.FormatValue(v)
}

// valueClass orders the kinds of value: numbers, then booleans, then
// strings and anything else, then missing values.
func valueClass(v any) int {
	switch v.(type) {
	case int, int64, uint64, float64:
		return 0
	case bool:
		return 1
	case nil:
		return 3
	}
	return 2
}

// CompareValues orders parameter values naturally: numbers first, by
// value (a seed above 2^63 included), then false before true, then strings
// in natural order (see CompareNatural), then missing values (nil).
func CompareValues(a, b any) int {
	ca, cb := valueClass(a), valueClass(b)
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch ca {
	case 0:
		return compareNumbers(a, b)
	case 1:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case 2:
		return CompareNatural(FormatValue(a), FormatValue(b))
	}
	return 0
}

// compareNumbers compares two numeric values exactly: integers as
// integers (float64 would merge seeds above 2^53), a float with anything
// through big.Float. An integer equal to a float sorts first, so 5 and 5.0
// stay distinct and in a fixed order.
func compareNumbers(a, b any) int {
	fa, aFloat := a.(float64)
	fb, bFloat := b.(float64)
	if !aFloat && !bFloat {
		return bigInt(a).Cmp(bigInt(b))
	}
	if math.IsNaN(fa) || math.IsNaN(fb) {
		return cmp.Compare(fa, fb) // NaN first, as cmp.Compare says
	}
	var x, y *big.Float
	if aFloat {
		x = big.NewFloat(fa)
	} else {
		x = new(big.Float).SetInt(bigInt(a))
	}
	if bFloat {
		y = big.NewFloat(fb)
	} else {
		y = new(big.Float).SetInt(bigInt(b))
	}
	if c := x.Cmp(y); c != 0 || aFloat == bFloat {
		return c
	}
	if aFloat {
		return 1
	}
	return -1
}

func bigInt(v any) *big.Int {
	switch x := v.(type) {
	case int:
		return big.NewInt(int64(x))
	case int64:
		return big.NewInt(x)
	case uint64:
		return new(big.Int).SetUint64(x)
	}
	return new(big.Int)
}

// CompareNatural compares strings with runs of digits read as numbers, so
// "lora_v2" < "lora_v10" and "dpmpp_2m" < "dpmpp_2m_sde". Equal numbers
// with different leading zeros ("07", "7") fall back to byte order.
func CompareNatural(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := strings.TrimLeft(a[si:i], "0"), strings.TrimLeft(b[sj:j], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if a[i] != b[j] {
			return cmp.Compare(a[i], b[j])
		}
		i++
		j++
	}
	if c := cmp.Compare(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

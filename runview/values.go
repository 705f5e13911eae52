package runview

import (
	"cmp"
	"fmt"
	"iter"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// FormatValue writes a parameter value as comfybatch.FormatValue does,
// with "-" for a missing value (nil), so table cells stay filled.
func FormatValue(v any) string {
	if v == nil {
		return "-"
	}
	return comfybatch.FormatValue(v)
}

// ValueKey identifies a value by type and text, so two candidates share a
// value exactly when their keys are equal: 5 and 5.0 (an int64 and a
// float64 as the store keeps them) stay different values.
func ValueKey(v any) string {
	return fmt.Sprintf("%T:%s", v, comfybatch.FormatValue(v))
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

// CompareValues is the natural order of parameter values, used for every
// table row, grid axis and legend: numbers first, by value and exactly (a
// seed above 2^63 included), then false before true, then strings in
// natural order (CompareNatural), then missing values (nil).
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
		return CompareNatural(comfybatch.FormatValue(a), comfybatch.FormatValue(b))
	}
	return 0
}

// SortValues sorts vs in natural order (CompareValues), stably.
func SortValues(vs []any) { slices.SortStableFunc(vs, CompareValues) }

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

// Cond is one --where condition: the parameter Name has the value written
// as Value.
type Cond struct {
	Name, Value string
}

// String writes the condition as it is typed: name=value.
func (c Cond) String() string { return c.Name + "=" + c.Value }

// ParseCond reads "name=value". The value is compared with a parameter's
// value as text (FormatValue), or as a number when both are numbers, so
// cfg=7.50 matches 7.5. A condition without '=' or a name is an error
// wrapping comfybatch.ErrInvalid.
func ParseCond(s string) (Cond, error) {
	name, value, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return Cond{}, fmt.Errorf("--where %q: write it as param=value, e.g. --where cfg=7.5: %w", s, comfybatch.ErrInvalid)
	}
	return Cond{Name: name, Value: value}, nil
}

// Matches reports whether v, a parameter value, is the condition's value.
func (c Cond) Matches(v any) bool {
	if v == nil {
		return false
	}
	if comfybatch.FormatValue(v) == c.Value {
		return true
	}
	text := strings.TrimSpace(c.Value)
	switch x := v.(type) {
	case float64:
		f, err := strconv.ParseFloat(text, 64)
		return err == nil && f == x
	case int, int64, uint64:
		want, ok := new(big.Float).SetPrec(256).SetString(text)
		return ok && new(big.Float).SetPrec(256).SetInt(bigInt(x)).Cmp(want) == 0
	}
	return false
}

// SplitParams splits the parameters of a set of candidates into the ones
// that vary (swept: more than one value, or missing from some) and the
// ones every candidate shares (fixed), each in the order they first
// appear. A group's fixed prompt is shown once; its swept params label
// the candidates.
func SplitParams(lists iter.Seq[[]comfybatch.Param]) (swept []string, fixed []comfybatch.Param) {
	type seen struct {
		first  any
		n      int
		varies bool
	}
	var order []string
	byName := map[string]*seen{}
	total := 0
	for ps := range lists {
		total++
		for _, p := range ps {
			s, ok := byName[p.Name]
			if !ok {
				s = &seen{first: p.Value}
				byName[p.Name] = s
				order = append(order, p.Name)
			}
			s.n++
			if !s.varies && ValueKey(p.Value) != ValueKey(s.first) {
				s.varies = true
			}
		}
	}
	for _, name := range order {
		s := byName[name]
		if s.varies || s.n != total {
			swept = append(swept, name)
		} else {
			fixed = append(fixed, comfybatch.Param{Name: name, Value: s.first})
		}
	}
	return swept, fixed
}

package report

import (
	"strconv"
	"strings"
)

// NaturalLess orders axis values: when both parse as numbers they compare
// numerically, otherwise runs of digits inside the strings compare by
// value ("dpmpp_2m" < "dpmpp_10"), and the rest byte-wise.
func NaturalLess(a, b string) bool {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	switch {
	case errA == nil && errB == nil:
		if fa != fb {
			return fa < fb
		}
		return a < b
	case errA == nil:
		return true // numbers before words
	case errB == nil:
		return false
	}
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

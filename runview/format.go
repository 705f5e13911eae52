package runview

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatMetric writes a metric's value for people: a byte count ("bytes",
// "size.bytes") in human units (651.2 kB), a whole number with all its
// digits (512), anything else with four significant digits and no
// exponent unless it is very large or small (123.5, 0.3142, 1.5e+09).
func FormatMetric(name string, v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case strings.HasSuffix(name, "bytes") && v >= 0:
		return FormatBytes(int64(v))
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	a := math.Abs(v)
	if a >= 1e9 || a < 1e-4 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	digits := 3 - int(math.Floor(math.Log10(a))) // four significant digits
	s := strconv.FormatFloat(v, 'f', max(0, digits), 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// FormatBytes writes a byte count in SI units: 950 B, 651.2 kB, 3.4 MB.
func FormatBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		f /= 1000
		if f < 999.95 || unit == "TB" {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
		}
	}
	return "" // not reached
}

// FormatTotal writes a total score: three decimals, as every view shows
// totals.
func FormatTotal(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

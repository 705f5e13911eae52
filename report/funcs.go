package report

import (
	"fmt"
	"html/template"
	"time"

	"github.com/comfybatch/comfybatch"
)

// templateFuncs returns the helpers the report template formats numbers with.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"pct": func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
		"dur": func(d time.Duration) string {
			if d == 0 {
				return "–"
			}
			if d < time.Second {
				return d.Round(time.Millisecond).String()
			}
			return d.Round(100 * time.Millisecond).String()
		},
		"fmtv":  comfybatch.FormatValue,
		"money": func(f float64) string { return fmt.Sprintf("$%.4f", f) },
		"score": func(f float64) string { return fmt.Sprintf("%.3f", f) },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "–"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
	}
}

package comfybatch

import (
	"encoding/json"
	"fmt"
	"strconv"
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

package jsonnum

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		end  int
		want bool
	}{
		{"0", 1, true},
		{"-0", 2, true},
		{"12", 2, true},
		{"01", 1, true},
		{"1.5", 3, true},
		{"-1.25e+10,", 9, true},
		{"3E-2}", 4, true},
		{"7e5 ", 3, true},
		{"", 0, false},
		{"-", 1, false},
		{"+1", 0, false},
		{".5", 0, false},
		{"1.", 2, false},
		{"1.e5", 2, false},
		{"1e", 2, false},
		{"1e+", 3, false},
		{"NaN", 0, false},
	} {
		end, ok := End(tc.in, 0)
		if ok != tc.want || (ok && end != tc.end) {
			t.Errorf("End(%q) = %d, %v; want %d, %v", tc.in, end, ok, tc.end, tc.want)
		}
		if end2, ok2 := End([]byte(tc.in), 0); end2 != end || ok2 != ok {
			t.Errorf("End([]byte(%q)) = %d, %v; the string form gives %d, %v", tc.in, end2, ok2, end, ok)
		}
	}
	if end, ok := End("[1,23]", 3); !ok || end != 5 {
		t.Errorf("End from index 3 = %d, %v; want 5, true", end, ok)
	}
}

// FuzzEnd: a whole input is a number exactly when encoding/json reads it
// as one.
func FuzzEnd(f *testing.F) {
	for _, s := range []string{"0", "-1.5e3", "01", "1.", "abc", "1e+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		end, ok := End(s, 0)
		whole := ok && end == len(s)
		var n json.Number
		// encoding/json allows whitespace around a value; End reads none.
		isNum := len(s) > 0 && (s[0] == '-' || ('0' <= s[0] && s[0] <= '9')) &&
			strings.Trim(s, " \t\r\n") == s && json.Unmarshal([]byte(s), &n) == nil
		if whole != isNum {
			t.Fatalf("End(%q) = %d, %v; encoding/json says number: %v", s, end, ok, isNum)
		}
	})
}

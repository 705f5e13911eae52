package score

import (
	"testing"
)

func TestSize(t *testing.T) {
	img := randomImage(64, 48, 1)
	data := make([]byte, 1000)
	tests := []struct {
		name   string
		s      Size
		ok     float64
		reason string
	}{
		{"no checks", Size{}, 1, ""},
		{"exact match", Size{Width: 64, Height: 48, Aspect: 4.0 / 3, MinBytes: 1000, MaxBytes: 1000}, 1, ""},
		{"aspect within 1%", Size{Aspect: 1.34}, 1, ""},
		{"wrong width", Size{Width: 512}, 0, "width 64, want 512"},
		{"wrong height and aspect", Size{Height: 64, Aspect: 1}, 0, "height 48, want 64; aspect 1.333, want 1.000"},
		{"too small", Size{MinBytes: 1001}, 0, "1000 bytes, want at least 1001"},
		{"too big", Size{MaxBytes: 999}, 0, "1000 bytes, want at most 999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := tt.s.Score(t.Context(), candidate(img, data))
			if err != nil {
				t.Fatal(err)
			}
			m := sc.Metrics
			if sc.Scorer != "size" || m["width"] != 64 || m["height"] != 48 || m["bytes"] != 1000 {
				t.Errorf("Size%+v = %+v; want scorer size, 64x48, 1000 bytes", tt.s, sc)
			}
			if m["ok"] != tt.ok || sc.Values["reason"] != tt.reason {
				t.Errorf("Size%+v: ok %v reason %q; want %v %q", tt.s, m["ok"], sc.Values["reason"], tt.ok, tt.reason)
			}
		})
	}
}

package comfybatch

import (
	"errors"
	"slices"
	"testing"
)

func TestTemplate(t *testing.T) {
	params := []Param{{Name: "prompt", Value: "a fox"}, {Name: "style", Value: "oil"}, {Name: "seed", Value: uint64(42)}}
	tests := []struct {
		tmpl   string
		names  []string
		want   string
		bad    bool // ParseTemplate fails
		absent bool // Expand fails
	}{
		{tmpl: "{prompt}", names: []string{"prompt"}, want: "a fox"},
		{tmpl: "{prompt}, {style} #{seed}", names: []string{"prompt", "style", "seed"}, want: "a fox, oil #42"},
		{tmpl: "{prompt} and {prompt}", names: []string{"prompt"}, want: "a fox and a fox"},
		{tmpl: "no placeholders", want: "no placeholders"},
		{tmpl: "", want: ""},
		{tmpl: "a } alone", want: "a } alone"},
		{tmpl: "{prompt} by {artist}", names: []string{"prompt", "artist"}, absent: true},
		{tmpl: "{prompt", bad: true},
		{tmpl: "a {} b", bad: true},
	}
	for _, tt := range tests {
		tp, err := ParseTemplate(tt.tmpl)
		if tt.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseTemplate(%q) = %v, want ErrInvalid", tt.tmpl, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", tt.tmpl, err)
		}
		if got := tp.Params(); !slices.Equal(got, tt.names) || tp.String() != tt.tmpl {
			t.Errorf("ParseTemplate(%q).Params() = %q, String() = %q; want %q", tt.tmpl, got, tp.String(), tt.names)
		}
		got, err := tp.Expand(params)
		if tt.absent {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Expand(%q) = %q, %v; want ErrInvalid for the missing param", tt.tmpl, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

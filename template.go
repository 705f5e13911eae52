package comfybatch

import (
	"fmt"
	"slices"
	"strings"
)

// Template is a text with {name} placeholders, each filled with the value of
// a job's param of that name: the text a CLIP scorer compares an image with
// ("{prompt}", "a photo of {subject}, {style}"). It is parsed once, so the
// manifest can check offline that every job has the params it names and
// the scorer can fill it without parsing again. There is no escape: a text
// cannot contain a literal brace pair.
type Template struct {
	text  string
	parts []string // literal text; parts[i] precedes names[i], the last part ends the text
	names []string
}

// ParseTemplate parses s. An unclosed { or an empty {} is an error wrapping
// ErrInvalid.
func ParseTemplate(s string) (Template, error) {
	t := Template{text: s}
	rest := s
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, rest)
			return t, nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return Template{}, fmt.Errorf("template %q: unclosed {: %w", s, ErrInvalid)
		}
		name := rest[i+1 : i+j]
		if name == "" {
			return Template{}, fmt.Errorf("template %q: empty {}: %w", s, ErrInvalid)
		}
		t.parts = append(t.parts, rest[:i])
		t.names = append(t.names, name)
		rest = rest[i+j+1:]
	}
}

// String returns the template as written.
func (t Template) String() string { return t.text }

// Params returns the param names the template uses, in order of first use.
func (t Template) Params() []string {
	var out []string
	for _, n := range t.names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Expand fills the template from params. A name with no param is an error
// wrapping ErrInvalid.
func (t Template) Expand(params []Param) (string, error) {
	var b strings.Builder
	j := Job{Params: params}
	for i, name := range t.names {
		b.WriteString(t.parts[i])
		v, ok := j.Param(name)
		if !ok {
			return "", fmt.Errorf("template %q: job has no param %q: %w", t.text, name, ErrInvalid)
		}
		fmt.Fprint(&b, v)
	}
	if len(t.parts) > 0 {
		b.WriteString(t.parts[len(t.parts)-1])
	}
	return b.String(), nil
}

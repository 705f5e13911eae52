package manifests

import (
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/comfybatch/comfybatch"
	"go.yaml.in/yaml/v3"
)

// Error is one problem found in a manifest or in a file it references.
// Line and Col are 1-based; 0 means unknown (for example a problem with a
// whole workflow file). Every Error is comfybatch.ErrInvalid.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

// Error formats the problem as "file:line:col: msg", leaving out the parts
// that are zero.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
		if e.Col > 0 {
			s += ":" + strconv.Itoa(e.Col)
		}
	}
	if s == "" {
		return e.Msg
	}
	return s + ": " + e.Msg
}

// Is reports that every manifest problem is invalid input.
func (e *Error) Is(target error) bool { return target == comfybatch.ErrInvalid }

// problems collects every error found while reading one manifest so that
// the user sees them all at once.
type problems struct {
	file string // the manifest's display name
	errs []*Error
}

// at records a problem at a YAML node of the manifest.
func (p *problems) at(n *yaml.Node, format string, args ...any) {
	e := &Error{File: p.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

// in records a problem in another file, at an optional line.
func (p *problems) in(file string, line, col int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) empty() bool { return len(p.errs) == 0 }

// err returns nil or every problem joined, sorted by file and position.
// Problems in the manifest come first, then those in referenced files.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.File != b.File {
			if a.File == p.file || b.File == p.file {
				return a.File == p.file
			}
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	errs := make([]error, 0, len(p.errs))
	seen := map[string]bool{}
	for _, e := range p.errs {
		// The same mistake reached by two paths is reported once.
		if s := e.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// lineFile streams JSON lines to a temporary file in dir and renames it
// to name on commit, so a reader never sees a half-written file.
type lineFile struct {
	dir, name string
	f         *os.File
	w         *bufio.Writer
}

func (l *lineFile) write(v any) error {
	if l.f == nil {
		f, err := os.CreateTemp(l.dir, "."+l.name+".*.tmp")
		if err != nil {
			return fmt.Errorf("write %s: %w", l.name, err)
		}
		l.f, l.w = f, bufio.NewWriter(f)
	}
	line, err := marshalLine(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	if _, err := l.w.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	return nil
}

// commit finishes the file; with no lines written it writes an empty one.
func (l *lineFile) commit() error {
	if l.f == nil {
		return writeFile(l.dir, l.name, nil)
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(l.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(l.f.Name(), filepath.Join(l.dir, l.name))
	}
	if err != nil {
		os.Remove(l.f.Name())
		return fmt.Errorf("write %s: %w", l.name, err)
	}
	l.f = nil
	return nil
}

func (l *lineFile) abort() {
	if l.f != nil {
		l.f.Close()
		os.Remove(l.f.Name())
		l.f = nil
	}
}

// marshalLine encodes v as one line of JSON, leaving <, > and & as they
// are: prompts are data for people and tools, not HTML.
func marshalLine(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

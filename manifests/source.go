package manifests

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// source reads the files a manifest refers to, relative to its folder:
// from the operating system (Load, Parse) or from an fs.FS (LoadFS).
type source interface {
	// read returns the file's bytes and its resolved path (absolute on
	// the OS, slash-separated inside an fs.FS).
	read(rel string) ([]byte, string, error)
	// resolve returns the resolved path of rel without reading it.
	resolve(rel string) string
}

// osSource resolves paths against a directory of the OS file system.
type osSource struct{ dir string }

func (s osSource) resolve(rel string) string {
	p := rel
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.dir, filepath.FromSlash(rel))
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func (s osSource) read(rel string) ([]byte, string, error) {
	p := s.resolve(rel)
	data, err := os.ReadFile(p)
	return data, p, err
}

// fsSource resolves paths against a directory of an fs.FS, which cannot
// reach outside itself.
type fsSource struct {
	fsys fs.FS
	dir  string
}

func (s fsSource) resolve(rel string) string { return path.Join(s.dir, filepath.ToSlash(rel)) }

func (s fsSource) read(rel string) ([]byte, string, error) {
	p := s.resolve(rel)
	if !fs.ValidPath(p) {
		return nil, p, fmt.Errorf("%s is outside the file system the manifest was loaded from", rel)
	}
	data, err := fs.ReadFile(s.fsys, p)
	return data, p, err
}

// displayPath names a referenced file in messages: relative to the
// manifest's display name, as the user would type it.
func displayPath(manifest, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(filepath.Dir(manifest), filepath.FromSlash(rel))
}

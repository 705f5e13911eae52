//go:build !linux

package store

import (
	"errors"
	"os"
	"path/filepath"
)

// syncFiles makes files durable without syncfs: an fsync of each file,
// then of each folder (for the rename).
func syncFiles(files []string) error {
	dirs := map[string]bool{}
	var errs []error
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, f.Sync(), f.Close())
		dirs[filepath.Dir(name)] = true
	}
	for dir := range dirs {
		d, err := os.Open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, d.Sync(), d.Close())
	}
	return errors.Join(errs...)
}

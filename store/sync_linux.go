package store

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// syncFiles makes files durable with one syncfs(2) per file system: it
// flushes their data and the renames that named them. Folders are
// compared by device, so files of one run folder cost one call.
func syncFiles(files []string) error {
	done := map[uint64]bool{}
	var errs []error
	for _, f := range files {
		dir := filepath.Dir(f)
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			errs = append(errs, err)
			continue
		}
		if done[st.Dev] {
			continue
		}
		done[st.Dev] = true
		d, err := os.Open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, unix.Syncfs(int(d.Fd())), d.Close())
	}
	return errors.Join(errs...)
}

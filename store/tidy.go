package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Tidy removes what a process killed mid-write leaves in a run folder:
// temporary files of WriteImage and LayoutSelected, and images that no
// committed row points at (the file is written before its row, so a crash
// between the two leaves one). Call it before resuming a run, while no
// other process writes to it. It returns how many files it removed.
//
// It walks the folder in name order beside the run's image paths read in
// the same order from the database, so it holds neither list in memory:
// a run of a million images is tidied in a few seconds.
func (s *Store) Tidy(ctx context.Context, run Run) (int, error) {
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	root, err := os.OpenRoot(run.OutputDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // nothing written yet
	}
	if err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	defer root.Close()
	rows, err := s.read.QueryContext(ctx, `SELECT c.rel_path FROM candidates c JOIN jobs j ON j.id = c.job_id
		WHERE j.run_id = ? AND c.rel_path != '' ORDER BY c.rel_path`, run.ID)
	if err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	defer rows.Close()
	known := ""  // the database's current path, in order
	more := true // rows has paths left
	// isKnown reports whether the database names p; the paths asked for
	// come in increasing order, as WalkDir visits them.
	isKnown := func(p string) (bool, error) {
		for more && known < p {
			if !rows.Next() {
				more = false
				break
			}
			if err := rows.Scan(&known); err != nil {
				return false, err
			}
			known = path.Clean(known)
		}
		return more && known == p, nil
	}
	removed := 0
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		orphan := false
		if strings.HasPrefix(p, "images/") && !strings.HasPrefix(d.Name(), tempPrefix) {
			ok, err := isKnown(p)
			if err != nil {
				return err
			}
			orphan = !ok
		}
		if !orphan && !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		if err := root.Remove(p); err != nil {
			return err
		}
		removed++
		return nil
	})
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return removed, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	return removed, nil
}

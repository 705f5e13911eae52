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
func (s *Store) Tidy(ctx context.Context, run Run) (int, error) {
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	known := map[string]bool{}
	rows, err := s.read.QueryContext(ctx, `SELECT c.rel_path FROM candidates c JOIN jobs j ON j.id = c.job_id WHERE j.run_id = ?`, run.ID)
	if err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
		}
		known[path.Clean(p)] = true
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	root, err := os.OpenRoot(run.OutputDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // nothing written yet
	}
	if err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	defer root.Close()
	removed := 0
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		temp := strings.HasPrefix(d.Name(), tempPrefix)
		orphan := strings.HasPrefix(p, "images/") && !known[p]
		if !temp && !orphan {
			return nil
		}
		if err := root.Remove(p); err != nil {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	return removed, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Tidy removes what a process killed mid-write leaves in a run folder:
// temporary files of WriteImage, WriteThumbnail and LayoutSelected, and
// images that no committed row points at (the file is written before its
// row, so a crash between the two leaves one), with their thumbnails. Call
// it before resuming a run, while no other process writes to it. It
// returns how many files it removed.
//
// It walks the folder in name order beside the run's image paths and
// hashes read in the same order from the database, so it holds neither
// list in memory: a run of a million images is tidied in a few seconds.
func (s *Store) Tidy(ctx context.Context, run Run) (int, error) {
	return s.TidyBefore(ctx, run, time.Time{})
}

// TidyBefore is Tidy that leaves alone every file modified at or after
// since (none when since is zero): a resumed run tidies what an earlier
// process left while it writes files of its own, whose rows may not be
// committed yet, and it must not take those for orphans.
func (s *Store) TidyBefore(ctx context.Context, run Run, since time.Time) (int, error) {
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
	images, err := s.sortedColumn(ctx, `SELECT c.rel_path FROM candidates c JOIN jobs j ON j.id = c.job_id
		WHERE j.run_id = ? AND c.rel_path != '' ORDER BY c.rel_path`, run.ID)
	if err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	defer images.close()
	shas, err := s.sortedColumn(ctx, `SELECT c.sha256 FROM candidates c JOIN jobs j ON j.id = c.job_id
		WHERE j.run_id = ? AND c.sha256 != '' ORDER BY c.sha256`, run.ID)
	if err != nil {
		return 0, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	defer shas.close()
	removed := 0
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		orphan := false
		if !strings.HasPrefix(d.Name(), tempPrefix) {
			var ok bool
			switch {
			case strings.HasPrefix(p, "images/"):
				ok, err = images.has(p)
			case strings.HasPrefix(p, "thumbs/"):
				// thumbs/<ab>/<sha>.jpg comes in hash order.
				ok, err = shas.has(strings.TrimSuffix(path.Base(p), ".jpg"))
			default:
				ok = true
			}
			if err != nil {
				return err
			}
			orphan = !ok
		}
		if !orphan && !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		if !since.IsZero() {
			if fi, err := d.Info(); err != nil || !fi.ModTime().Before(since) {
				return nil // this process's, or gone meanwhile
			}
		}
		if err := root.Remove(p); err != nil {
			return err
		}
		removed++
		return nil
	})
	if err == nil {
		err = errors.Join(images.err(), shas.err())
	}
	if err != nil {
		return removed, fmt.Errorf("tidy run %d: %w", run.ID, err)
	}
	return removed, nil
}

// sortedColumn is a cursor over one text column of a query sorted by it,
// for merging with another sorted sequence in constant memory.
type sortedColumn struct {
	rows *sql.Rows
	cur  string
	more bool
}

func (s *Store) sortedColumn(ctx context.Context, query string, args ...any) (*sortedColumn, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return &sortedColumn{rows: rows, more: true}, nil
}

// has reports whether the column holds v; successive calls must ask for
// values in increasing order.
func (c *sortedColumn) has(v string) (bool, error) {
	for c.more && c.cur < v {
		if !c.rows.Next() {
			c.more = false
			break
		}
		if err := c.rows.Scan(&c.cur); err != nil {
			return false, err
		}
		c.cur = path.Clean(c.cur)
	}
	return c.more && c.cur == v, nil
}

func (c *sortedColumn) err() error { return c.rows.Err() }

func (c *sortedColumn) close() { c.rows.Close() }

package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// LayoutSelected makes the folder selected/ of the run hold exactly sel:
// selected/<group>/<rank>_<seed><ext>, each a hard link to the stored
// image (or, where links are unsupported, an atomic copy). Group names are
// sanitised to safe file names (a name that had to change gets a short
// hash suffix, so two groups never share a folder); a job without a seed
// uses the first 12 digits of its key. Files under selected/ that sel does
// not name, such as those of an earlier selection, are removed, so pass
// the selection of every group (Selections returns it).
func (s *Store) LayoutSelected(ctx context.Context, run Run, sel []comfybatch.Selection) error {
	want := make(map[string]string, len(sel)) // path under the run folder -> stored image path
	codec, err := s.codecFor(ctx, run)
	if err != nil {
		return fmt.Errorf("lay out selection of run %d: %w", run.ID, err)
	}
	for _, x := range sel {
		src, err := s.selectedImage(ctx, codec, x.Ref())
		if err != nil {
			return fmt.Errorf("lay out group %s rank %d: %w", x.Group, x.Rank, err)
		}
		name := path.Join("selected", safeName(x.Group), selectedName(x.Rank, src.seed, x.BatchIndex)+path.Ext(src.path))
		want[name] = src.path
	}
	root, err := openRunRoot(run)
	if err != nil {
		return fmt.Errorf("lay out selection of run %d: %w", run.ID, err)
	}
	defer root.Close()
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := placeLink(root, want[name], name); err != nil {
			return fmt.Errorf("lay out %s: %w", name, err)
		}
	}
	if err := removeStale(root, want); err != nil {
		return fmt.Errorf("lay out selection of run %d: %w", run.ID, err)
	}
	return nil
}

// selectedName is the file name (without extension) of a selected
// candidate under selected/<group>/: its rank and seed, and its batch
// index when it is not the first image of its prompt.
func selectedName(rank int, seed string, batchIndex int) string {
	name := strconv.Itoa(rank) + "_" + seed
	if batchIndex > 0 {
		name += "_" + strconv.Itoa(batchIndex)
	}
	return name
}

// storedImage is where a candidate's image is and the seed that made it.
type storedImage struct {
	path, seed string
}

// selectedImage returns the stored image path and the seed text of a
// candidate (the first 12 digits of its job key when it has no seed).
func (s *Store) selectedImage(ctx context.Context, codec *runCodec, ref comfybatch.Ref) (storedImage, error) {
	var group, params string
	var img storedImage
	err := s.read.QueryRowContext(ctx, `SELECT c.rel_path, j.group_name, j.params FROM jobs j
		JOIN candidates c ON c.job_id = j.id
		WHERE j.run_id = ? AND j.job_key = ? AND c.node = ? AND c.batch_index = ? AND c.rel_path != ''`,
		codec.run.ID, ref.JobKey, ref.Output, ref.BatchIndex).Scan(&img.path, &group, &params)
	if errors.Is(err, sql.ErrNoRows) {
		return img, fmt.Errorf("candidate %s has no stored image: %w", ref, ErrNotFound)
	}
	if err != nil {
		return img, fmt.Errorf("candidate %s: %w", ref, err)
	}
	ps, err := codec.params(group, params)
	if err != nil {
		return img, fmt.Errorf("candidate %s: %w", ref, err)
	}
	if v, ok := (comfybatch.Job{Params: ps}).Seed(); ok {
		img.seed = strconv.FormatUint(v, 10)
	} else {
		img.seed = ref.JobKey[:min(12, len(ref.JobKey))]
	}
	return img, nil
}

// placeLink makes name a link to (or a copy of) src, replacing whatever
// was there in one rename.
func placeLink(root *os.Root, src, name string) error {
	dir := path.Dir(name)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	si, err := root.Stat(src)
	if err != nil {
		return err
	}
	if ni, err := root.Stat(name); err == nil && os.SameFile(si, ni) {
		return nil
	}
	tmp := tempName(dir)
	if err := root.Link(src, tmp); err == nil {
		if err := root.Rename(tmp, name); err != nil {
			root.Remove(tmp)
			return err
		}
		return syncDir(root, dir)
	}
	f, err := root.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeAtomic(root, dir, name, f)
}

// removeStale deletes the files under selected/ that are not in want, and
// then the folders that became empty.
func removeStale(root *os.Root, want map[string]string) error {
	var files, dirs []string
	err := fs.WalkDir(root.FS(), "selected", func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == "selected" {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else if _, ok := want[p]; !ok {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := root.Remove(f); err != nil {
			return err
		}
	}
	// Deepest first; a folder still holding wanted files just fails to go.
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if d != "selected" {
			root.Remove(d)
		}
	}
	return nil
}

// safeName turns a group name into one path element: letters, digits,
// '.', '-' and '_' are kept, anything else becomes '_'. A name that had to
// change gets "-" and 8 hex digits of its hash, so distinct groups never
// collide.
func safeName(group string) string {
	var b strings.Builder
	for _, r := range group {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if out == group && out != "" {
		return out
	}
	sum := sha256.Sum256([]byte(group))
	if out == "" {
		out = "group"
	}
	return out + "-" + hex.EncodeToString(sum[:4])
}

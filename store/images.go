package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
)

// WriteImage stores data under run.OutputDir, content-addressed: the file
// is images/<first two hex digits>/<sha256><ext>, the extension sniffed
// from the bytes (.png, .jpg, .webp, else .bin). It returns that path
// (slash-separated, relative to the run folder) and the hex SHA-256.
//
// The file is written to a temporary name and renamed into place, so a
// reader never sees a partial image; the path is built from the hash, so
// it cannot escape the folder. It is not synced here: the writer makes
// every image written so far durable (one sync of the file system, see
// syncImages) before it commits the rows that point at them, so a crash
// never leaves a committed row without its file, at the cost of one sync
// per batch instead of two per image. Writing the same bytes again
// returns the same path and leaves the file alone. Call it before the row
// that points at the file (RecordCandidates) is recorded.
func (s *Store) WriteImage(ctx context.Context, run Run, data []byte) (relPath, sha string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	if run.OutputDir == "" {
		return "", "", fmt.Errorf("run %d has no output directory", run.ID)
	}
	sum := sha256.Sum256(data)
	sha = hex.EncodeToString(sum[:])
	dir := "images/" + sha[:2]
	relPath = dir + "/" + sha + imageExt(data)
	full := filepath.Join(run.OutputDir, filepath.FromSlash(relPath))
	if fi, err := os.Stat(full); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return relPath, sha, nil // content-addressed: same name, same bytes
	}
	tmp := filepath.Join(filepath.Dir(full), path.Base(tempName(dir)))
	if err := writeFile(tmp, full, data); err != nil {
		return "", "", fmt.Errorf("write image %s in %s: %w", sha, run.OutputDir, err)
	}
	s.unsynced.add(full)
	return relPath, sha, nil
}

// writeFile writes data to tmp and renames it to name, both in one
// folder, which it creates (with its parents) when it is missing: the
// folder exists for all but the first file, and trying first saves a
// system call per file.
func writeFile(tmp, name string, data []byte) (err error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
			return err
		}
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// unsynced lists the image files written since the last sync.
type unsynced struct {
	mu    sync.Mutex
	files []string
}

func (u *unsynced) add(file string) {
	u.mu.Lock()
	u.files = append(u.files, file)
	u.mu.Unlock()
}

func (u *unsynced) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	f := u.files
	u.files = nil
	return f
}

// syncImages makes every image written so far durable, before the writer
// commits rows that may point at them: one sync of each file system they
// are on where the system has syncfs (Linux), else an fsync of each file
// and its folder.
func (s *Store) syncImages() error {
	files := s.unsynced.take()
	if len(files) == 0 {
		return nil
	}
	if err := syncFiles(files); err != nil {
		return fmt.Errorf("sync %d images: %w", len(files), err)
	}
	return nil
}

// openRunRoot opens the run folder (creating it) as an os.Root.
func openRunRoot(run Run) (*os.Root, error) {
	if run.OutputDir == "" {
		return nil, fmt.Errorf("run %d has no output directory", run.ID)
	}
	if err := os.MkdirAll(run.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("create run folder: %w", err)
	}
	root, err := os.OpenRoot(run.OutputDir)
	if err != nil {
		return nil, fmt.Errorf("open run folder: %w", err)
	}
	return root, nil
}

// tempPrefix starts the name of every temporary file the store writes;
// Tidy removes what a killed process left under it.
const tempPrefix = ".tmp-"

// tempName returns an unused-looking name for a temporary file in dir.
func tempName(dir string) string {
	var b [8]byte
	rand.Read(b[:])
	return path.Join(dir, tempPrefix+hex.EncodeToString(b[:]))
}

// writeAtomic copies r to a temporary file in dir, fsyncs it, renames it
// to name and fsyncs dir so the rename itself survives a crash.
func writeAtomic(root *os.Root, dir, name string, r io.Reader) (err error) {
	tmp := tempName(dir)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			root.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		return err
	}
	return syncDir(root, dir)
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// imageExt names the image format of data by its magic bytes.
func imageExt(data []byte) string {
	switch {
	case bytes.HasPrefix(data, pngMagic):
		return ".png"
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return ".jpg"
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return ".webp"
	}
	return ".bin"
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// pngSize reads the width and height from a PNG's IHDR chunk.
func pngSize(data []byte) (w, h int, ok bool) {
	if len(data) < 24 || !bytes.HasPrefix(data, pngMagic) || string(data[12:16]) != "IHDR" {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(data[16:20])), int(binary.BigEndian.Uint32(data[20:24])), true
}

package report

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // ComfyUI's SaveImage writes PNG
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// folder is the report folder Write fills.
type folder struct {
	root *os.Root
	dir  string
	full string // Options.Full
}

func (f *folder) prepare() error {
	if err := f.root.MkdirAll("thumbs", 0o755); err != nil {
		return fmt.Errorf("create thumbnail folder: %w", err)
	}
	return nil
}

// place puts a file at name inside the folder: data when it is not nil,
// else a hard link to src (a copy where links are not possible), replacing
// what was there in one rename.
func (f *folder) place(name, src string, data []byte) error {
	dir := path.Dir(name)
	if err := f.root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if data != nil {
		return writeAtomic(f.root, name, data)
	}
	si, err := os.Stat(src)
	if err != nil {
		return err
	}
	dst := filepath.Join(f.dir, filepath.FromSlash(name))
	if di, err := os.Stat(dst); err == nil && os.SameFile(si, di) {
		return nil
	}
	tmp := tempName(name)
	if err := os.Link(src, filepath.Join(f.dir, filepath.FromSlash(tmp))); err == nil {
		if err := f.root.Rename(tmp, name); err != nil {
			f.root.Remove(tmp)
			return err
		}
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, in); err != nil {
		return err
	}
	return writeAtomic(f.root, name, buf.Bytes())
}

// tempName is a name beside name for a file being written.
func tempName(name string) string {
	var b [6]byte
	rand.Read(b[:])
	return path.Join(path.Dir(name), ".tmp-"+hex.EncodeToString(b[:]))
}

// writeAtomic writes data to name inside root through a temporary file and
// a rename, so a reader never sees half a file; the file is 0644.
func writeAtomic(root *os.Root, name string, data []byte) (err error) {
	tmp := tempName(name)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			root.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The umask may have narrowed the mode; a report is for reading.
	if err := root.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return root.Rename(tmp, name)
}

// thumb is a candidate's thumbnail: a file (path) or, for a run recorded
// before thumbnails were made, bytes made now (data); w×h is its size.
type thumb struct {
	path string
	data []byte
	w, h int
}

// readThumb finds the thumbnail the run made for c, or makes one from
// its image.
func readThumb(run *runview.Run, c runview.Candidate) (thumb, error) {
	// Thumbnails are not synced: one cut short by a power cut is made again.
	if p := run.Abs(c.Thumb); c.Thumb != "" && store.ThumbnailComplete(p) {
		if f, err := os.Open(p); err == nil {
			cfg, err := jpeg.DecodeConfig(f)
			f.Close()
			if err == nil {
				return thumb{path: p, w: cfg.Width, h: cfg.Height}, nil
			}
		}
	}
	img, err := openImage(run.OutputDir, c.Path)
	if err != nil {
		return thumb{}, err
	}
	data, err := store.MakeThumbnail(img)
	if err != nil {
		return thumb{}, err
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return thumb{}, err
	}
	return thumb{data: data, w: cfg.Width, h: cfg.Height}, nil
}

// openImage decodes the candidate image at rel inside the run folder. The
// os.Root keeps a hostile or mistaken relative path from escaping it.
func openImage(dir, rel string) (image.Image, error) {
	if dir == "" {
		return nil, errors.New("run has no output directory")
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open run folder: %w", err)
	}
	defer r.Close()
	f, err := r.Open(rel)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode image %s: %w", rel, err)
	}
	return img, nil
}

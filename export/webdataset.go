package export

import (
	"archive/tar"
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// webDataset writes tar shards <prefix>-000000.tar, <prefix>-000001.tar,
// ... of at most size samples each. A sample is two adjacent members,
// <key>.png (or .jpg) and <key>.json; WebDataset groups members by the
// part of the name before the first dot, which is why keys have no dots.
// Headers carry fixed owner, mode and mtime so the same run gives the same
// bytes.
type webDataset struct {
	dir, prefix string
	size        int
	mtime       time.Time

	shards int // shards finished
	n      int // samples in the open shard
	f      *os.File
	bw     *bufio.Writer
	tw     *tar.Writer
	files  []string
}

func (w *webDataset) name(i int) string { return fmt.Sprintf("%s-%06d.tar", w.prefix, i) }

func (w *webDataset) add(s Sample, ext string, data []byte) error {
	if w.f == nil {
		f, err := os.CreateTemp(w.dir, "."+w.name(w.shards)+".*.tmp")
		if err != nil {
			return fmt.Errorf("create shard %s: %w", w.name(w.shards), err)
		}
		w.f, w.bw = f, bufio.NewWriter(f)
		w.tw = tar.NewWriter(w.bw)
	}
	meta, err := marshalLine(s)
	if err != nil {
		return fmt.Errorf("encode sample %s: %w", s.Key, err)
	}
	if err := w.member(s.Key+ext, data); err != nil {
		return err
	}
	if err := w.member(s.Key+".json", meta); err != nil {
		return err
	}
	w.n++
	if w.n == w.size {
		return w.finish()
	}
	return nil
}

func (w *webDataset) member(name string, data []byte) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o644,
		Size:     int64(len(data)),
		ModTime:  w.mtime,
		Format:   tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("shard %s: member %s: %w", w.name(w.shards), name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("shard %s: member %s: %w", w.name(w.shards), name, err)
	}
	return nil
}

// finish closes the open shard and renames it into place.
func (w *webDataset) finish() error {
	name := w.name(w.shards)
	err := w.tw.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(w.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(w.f.Name(), filepath.Join(w.dir, name))
	}
	if err != nil {
		os.Remove(w.f.Name())
		w.f = nil
		return fmt.Errorf("write shard %s: %w", name, err)
	}
	w.files = append(w.files, name)
	w.f, w.n = nil, 0
	w.shards++
	return nil
}

func (w *webDataset) close() ([]string, error) {
	if w.f != nil {
		if err := w.finish(); err != nil {
			return nil, err
		}
	}
	return w.files, nil
}

func (w *webDataset) abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}

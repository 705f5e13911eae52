package store

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/disintegration/imaging"

	"github.com/comfybatch/comfybatch/internal/jpegenc"
)

// ThumbSize is the longest side, in pixels, of the thumbnails
// MakeThumbnail makes: a report card shows them at about 220 CSS pixels.
const ThumbSize = 256

// thumbQuality is the JPEG quality of thumbnails.
const thumbQuality = 82

// MakeThumbnail encodes a JPEG of img whose longest side is at most
// ThumbSize pixels (never upscaled). An image that fits is encoded as it
// is: the pipeline passes the reduced copy it made while decoding for
// scoring (score.Frame.Thumbnail), an *image.RGBA, which internal/jpegenc
// encodes in about a quarter of image/jpeg's time (its BenchmarkEncode;
// the coordinator makes one per candidate). A larger one is first reduced
// with imaging.Fit's box filter, which averages every source pixel, as a
// contact sheet needs.
func MakeThumbnail(img image.Image) ([]byte, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, fmt.Errorf("make thumbnail: empty image")
	}
	t := img
	if b := img.Bounds(); b.Dx() > ThumbSize || b.Dy() > ThumbSize {
		n := imaging.Fit(img, ThumbSize, ThumbSize, imaging.Box)
		t = n
		if opaque(n) {
			// The same bytes as an RGBA image, which jpegenc encodes.
			t = &image.RGBA{Pix: n.Pix, Stride: n.Stride, Rect: n.Rect}
		}
	}
	var buf bytes.Buffer
	buf.Grow(32 << 10) // a 256² thumbnail at quality 82 is 10–30 KB
	var err error
	if m, ok := t.(*image.RGBA); ok {
		err = jpegenc.Encode(&buf, m, thumbQuality)
	} else {
		err = jpeg.Encode(&buf, t, &jpeg.Options{Quality: thumbQuality})
	}
	if err != nil {
		return nil, fmt.Errorf("make thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}

// opaque reports whether every pixel of m has alpha 255, so that its
// bytes read as RGBA are the same colours.
func opaque(m *image.NRGBA) bool {
	for y := range m.Rect.Dy() {
		row := m.Pix[y*m.Stride : y*m.Stride+4*m.Rect.Dx()]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xff {
				return false
			}
		}
	}
	return true
}

// WriteThumbnail makes the thumbnail of img, the decoded image (or its
// reduced copy) whose bytes hash to sha (WriteImage's sha), and stores it
// at ThumbPath(sha) in the run folder through a temporary file and a
// rename, so a reader never sees half of one. A whole thumbnail already
// there is left alone. The read views find it by the image's hash, so no
// row records it; Tidy removes it with its image when no row points at
// that.
//
// A thumbnail is derived data, so it is not synced: where the store syncs
// whole file systems (Linux), the sync that makes the images durable
// before their rows commit covers the thumbnails written before it;
// elsewhere a power cut can leave one missing or cut short, which
// ThumbnailComplete tells, and readers then make it again from the image.
// The path is built from the hash, so it cannot leave the folder.
func (s *Store) WriteThumbnail(ctx context.Context, run Run, sha string, img image.Image) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel := ThumbPath(sha)
	if rel == "" {
		return fmt.Errorf("write thumbnail: %q is not a SHA-256", sha)
	}
	if run.OutputDir == "" {
		return fmt.Errorf("run %d has no output directory", run.ID)
	}
	full := filepath.Join(run.OutputDir, filepath.FromSlash(rel))
	if ThumbnailComplete(full) {
		return nil
	}
	data, err := MakeThumbnail(img)
	if err != nil {
		return fmt.Errorf("thumbnail of image %s: %w", sha, err)
	}
	tmp := filepath.Join(filepath.Dir(full), path.Base(tempName(path.Dir(rel))))
	if err := writeFile(tmp, full, data); err != nil {
		return fmt.Errorf("write thumbnail of image %s in %s: %w", sha, run.OutputDir, err)
	}
	return nil
}

// ThumbnailComplete reports whether the file at name is a whole JPEG as
// MakeThumbnail writes it: it starts with the start-of-image marker and
// ends with the end-of-image marker. Thumbnails are not synced (see
// WriteThumbnail), so after a power cut one can be empty or cut short;
// readers check with this before trusting one.
func ThumbnailComplete(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < 4 {
		return false
	}
	var head, tail [2]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	if _, err := f.ReadAt(tail[:], fi.Size()-2); err != nil {
		return false
	}
	return head == [2]byte{0xff, 0xd8} && tail == [2]byte{0xff, 0xd9}
}

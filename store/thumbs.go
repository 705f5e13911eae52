package store

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/disintegration/imaging"
)

// ThumbSize is the longest side, in pixels, of the thumbnails
// MakeThumbnail makes: a report card shows them at about 220 CSS pixels.
const ThumbSize = 256

// MakeThumbnail encodes a JPEG of img whose longest side is at most
// ThumbSize pixels (never upscaled). The pipeline calls it while the
// candidate is decoded for scoring, so a report never decodes a full
// image again. The box filter averages every source pixel when
// shrinking, which is all a contact sheet needs, at a fraction of
// Lanczos's cost.
func MakeThumbnail(img image.Image) ([]byte, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, fmt.Errorf("make thumbnail: empty image")
	}
	t := imaging.Fit(img, ThumbSize, ThumbSize, imaging.Box)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, t, &jpeg.Options{Quality: 82}); err != nil {
		return nil, fmt.Errorf("make thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteThumbnail makes the thumbnail of img, the decoded image whose
// bytes hash to sha (WriteImage's sha), and stores it at ThumbPath(sha)
// in the run folder, atomically, as WriteImage stores images. A thumbnail
// already there is left alone. The read views find it by the image's
// hash, so no row records it; Tidy leaves thumbs/ alone.
func (s *Store) WriteThumbnail(ctx context.Context, run Run, sha string, img image.Image) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rel := ThumbPath(sha)
	if rel == "" {
		return fmt.Errorf("write thumbnail: %q is not a SHA-256", sha)
	}
	root, err := openRunRoot(run)
	if err != nil {
		return err
	}
	defer root.Close()
	if fi, err := root.Stat(rel); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return nil
	}
	data, err := MakeThumbnail(img)
	if err != nil {
		return fmt.Errorf("thumbnail of image %s: %w", sha, err)
	}
	dir := "thumbs/" + sha[:2]
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write thumbnail of image %s: %w", sha, err)
	}
	if err := writeAtomic(root, dir, rel, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write thumbnail of image %s in %s: %w", sha, run.OutputDir, err)
	}
	return nil
}

package report

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // candidates may be JPEG
	_ "image/png"  // ComfyUI's SaveImage writes PNG

	"github.com/disintegration/imaging"
)

// openImage decodes the candidate image at rel inside the run folder. The
// os.Root keeps a hostile or mistaken relative path from escaping it.
func openImage(root string, rel string) (image.Image, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, err
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

// thumbnail encodes img as a JPEG whose longest side is at most max
// pixels (never upscaled), and returns its size. The box filter is the
// cheapest that still averages every source pixel when shrinking, which
// is all a contact sheet needs; it is 1.6× faster than Lanczos here.
func thumbnail(img image.Image, max int) ([]byte, image.Point, error) {
	t := imaging.Fit(img, max, max, imaging.Box)
	var buf bytes.Buffer
	if err := imaging.Encode(&buf, t, imaging.JPEG, imaging.JPEGQuality(85)); err != nil {
		return nil, image.Point{}, fmt.Errorf("encode thumbnail: %w", err)
	}
	return buf.Bytes(), t.Bounds().Size(), nil
}

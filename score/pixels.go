package score

import (
	"errors"
	"fmt"
	"image"

	"github.com/disintegration/imaging"

	"github.com/comfybatch/comfybatch"
)

// pixels returns the candidate's decoded image, decoding c.Image with the
// default limits when the pipeline has not already done so. For a Frame
// it is the full image (decoded now if the Frame did not keep it), which
// the scorers' loops read by its concrete type.
func pixels(c comfybatch.Candidate) (image.Image, error) {
	if f, ok := c.Pixels.(*Frame); ok {
		img, err := f.Image()
		if err != nil {
			return nil, fmt.Errorf("candidate %s: %w", c.Job.Key, err)
		}
		return img, nil
	}
	if c.Pixels != nil {
		return c.Pixels, nil
	}
	if len(c.Image) == 0 {
		return nil, errors.New("candidate has neither pixels nor image bytes")
	}
	img, err := Decode(c.Image, Limits{})
	if err != nil {
		return nil, fmt.Errorf("candidate %s: %w", c.Job.Key, err)
	}
	return img, nil
}

// lumaRows reads an image one row at a time as Rec.601 luma scaled by 1000
// (Y' = 299R + 587G + 114B on 8-bit channels, so 0..255000), reading the
// Pix slices of the common image types directly. Other types are converted
// to NRGBA once. Alpha is ignored: a generated image is opaque.
type lumaRows struct {
	w, h int
	row  func(y int, dst []int32)
}

func newLumaRows(img image.Image) lumaRows {
	b := img.Bounds()
	lr := lumaRows{w: b.Dx(), h: b.Dy()}
	switch m := img.(type) {
	case *image.NRGBA:
		lr.row = rgbaRow(m.Pix, m.Stride, b.Dx())
	case *image.RGBA:
		// Premultiplied, but with alpha ignored the channels are the same.
		lr.row = rgbaRow(m.Pix, m.Stride, b.Dx())
	case *image.Gray:
		lr.row = func(y int, dst []int32) {
			p := m.Pix[y*m.Stride : y*m.Stride+len(dst)]
			for x, v := range p {
				dst[x] = int32(v) * 1000
			}
		}
	case *image.YCbCr:
		// JPEG's Y plane is full-range Rec.601 luma already.
		lr.row = func(y int, dst []int32) {
			p := m.Y[y*m.YStride : y*m.YStride+len(dst)]
			for x, v := range p {
				dst[x] = int32(v) * 1000
			}
		}
	default:
		n := imaging.Clone(img)
		lr.row = rgbaRow(n.Pix, n.Stride, b.Dx())
	}
	return lr
}

func rgbaRow(pix []byte, stride, w int) func(y int, dst []int32) {
	return func(y int, dst []int32) {
		lumaKRow(dst, pix[y*stride:y*stride+4*w], 4)
	}
}

// lumaKRow writes the Rec.601 luma ×1000 (299R + 587G + 114B) of the
// pixels of src, bpp bytes each with red, green and blue first, to dst.
func lumaKRow(dst []int32, src []byte, bpp int) {
	src = src[:bpp*len(dst)]
	for x := range dst {
		q := src[bpp*x : bpp*x+3 : bpp*x+3]
		dst[x] = 299*int32(q[0]) + 587*int32(q[1]) + 114*int32(q[2])
	}
}

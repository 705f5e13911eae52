package score

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/score/internal/pngdec"
)

// Limits bounds what Decode accepts. The zero value means the defaults.
type Limits struct {
	// MaxPixels is the largest width×height accepted, read from the
	// header before any pixel is decoded. Default 64e6.
	MaxPixels int64
	// MaxBytes is the largest encoded size accepted. Default 64 MiB.
	MaxBytes int64
}

// Default limits.
const (
	DefaultMaxPixels = 64_000_000
	DefaultMaxBytes  = 64 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// codec is one image format, chosen by its magic bytes. Formats are picked
// here rather than through image.RegisterFormat so the set Decode accepts
// does not depend on what other packages happen to import.
type codec struct {
	name   string
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

func sniff(data []byte) (codec, bool) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return codec{"png", png.DecodeConfig, png.Decode}, true
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return codec{"jpeg", jpeg.DecodeConfig, jpeg.Decode}, true
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return codec{"webp", webp.DecodeConfig, webp.Decode}, true
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return codec{"gif", gif.DecodeConfig, gif.Decode}, true
	}
	return codec{}, false
}

// check sniffs data's format and reads its header, refusing what lim
// does not allow; lim has its defaults.
func check(data []byte, lim Limits) (c codec, cfg image.Config, err error) {
	if int64(len(data)) > lim.MaxBytes {
		return c, cfg, fmt.Errorf("decode image: %d bytes exceeds the limit of %d: %w", len(data), lim.MaxBytes, comfybatch.ErrInvalid)
	}
	c, ok := sniff(data)
	if !ok {
		return c, cfg, fmt.Errorf("decode image: unknown format (want png, jpeg, webp or gif): %w", comfybatch.ErrInvalid)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode %s header: decoder panicked on corrupt data: %v: %w", c.name, r, comfybatch.ErrInvalid)
		}
	}()
	cfg, err = c.config(bytes.NewReader(data))
	if err != nil {
		return c, cfg, fmt.Errorf("decode %s header: %v: %w", c.name, err, comfybatch.ErrInvalid)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return c, cfg, fmt.Errorf("decode %s: header declares %dx%d: %w", c.name, cfg.Width, cfg.Height, comfybatch.ErrInvalid)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return c, cfg, fmt.Errorf("decode %s: header declares %dx%d = %d pixels, over the limit of %d (decompression bomb?): %w",
			c.name, cfg.Width, cfg.Height, px, lim.MaxPixels, comfybatch.ErrInvalid)
	}
	return c, cfg, nil
}

// Decode decodes a PNG, JPEG, WebP or GIF image. It checks the size of data
// and the dimensions declared in the header before decoding, so a
// decompression bomb costs a header read. Every failure wraps
// comfybatch.ErrInvalid and says what was wrong; corrupt or truncated data
// is an error, never a panic.
func Decode(data []byte, lim Limits) (img image.Image, err error) {
	lim = lim.withDefaults()
	c, cfg, err := check(data, lim)
	if err != nil {
		return nil, err
	}
	// The standard decoders do not panic on bad input, but a decoder bug
	// must cost one candidate, not the run.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("decode %s: decoder panicked on corrupt data: %v: %w", c.name, r, comfybatch.ErrInvalid)
		}
	}()
	if c.name == "png" {
		// The common PNG (8-bit, not interlaced, no palette) has a faster
		// decoder; anything else falls through to image/png.
		if img, err = pngdec.Decode(data); !errors.Is(err, pngdec.ErrUnsupported) {
			if err != nil {
				return nil, fmt.Errorf("decode png %dx%d: %v: %w", cfg.Width, cfg.Height, err, comfybatch.ErrInvalid)
			}
			return img, nil
		}
	}
	img, err = c.decode(bytes.NewReader(data))
	if err != nil {
		// io.ErrUnexpectedEOF is what a truncated download looks like.
		return nil, fmt.Errorf("decode %s %dx%d: %v: %w", c.name, cfg.Width, cfg.Height, err, comfybatch.ErrInvalid)
	}
	return img, nil
}

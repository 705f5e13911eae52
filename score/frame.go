package score

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"sync"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/score/internal/pngdec"
)

// Need says which forms of a decoded candidate a run's scorers read, so
// that DecodeFrame builds those and nothing else. The zero value asks for
// none of them: the image is still decoded in full and checked.
//
// Sharpness, Blank and Phash each say what they read with their Needs
// method; a caller running several scorers decodes once with the Union of
// their needs.
type Need struct {
	// Luma is the Rec.601 luma plane Sharpness reads.
	Luma bool
	// Blank is Blank's statistics (luma mean and variance, colours).
	Blank bool
	// Hash is the 32×32 reduced luma Phash transforms.
	Hash bool
	// Full keeps the full colour image, for readers of arbitrary pixels.
	Full bool
	// Thumb, when positive, asks for a colour copy reduced by area
	// averaging so that its longest side is at most Thumb (Frame.Thumbnail).
	Thumb int
}

// Union is what either n or o needs; the larger thumbnail wins.
func (n Need) Union(o Need) Need {
	return Need{
		Luma:  n.Luma || o.Luma,
		Blank: n.Blank || o.Blank,
		Hash:  n.Hash || o.Hash,
		Full:  n.Full || o.Full,
		Thumb: max(n.Thumb, o.Thumb),
	}
}

// Needs says what Sharpness reads of a Frame: the luma plane.
func (s *Sharpness) Needs() Need { return Need{Luma: true} }

// Needs says what Blank reads of a Frame: its statistics.
func (s *Blank) Needs() Need { return Need{Blank: true} }

// Needs says what Phash reads of a Frame: the reduced luma.
func (p *Phash) Needs() Need { return Need{Hash: true} }

// Needs says what Size reads of a Frame: only its bounds.
func (s *Size) Needs() Need { return Need{} }

// Needs says what CLIP reads of a Frame: nothing, it sends the image bytes.
func (c *CLIP) Needs() Need { return Need{} }

// Needs says what HTTP reads of a Frame: nothing, it sends the image bytes.
func (h *HTTP) Needs() Need { return Need{} }

// Needs says what Exec reads of a Frame: nothing, it passes the image bytes.
func (e *Exec) Needs() Need { return Need{} }

// Frame is a candidate decoded once into the forms its scorers read
// (Need), so that the full colour image need not be built: for the common
// PNG (8-bit RGB or RGBA, not interlaced), DecodeFrame derives every form
// from the rows as the decoder reconstructs them. Other images are decoded
// in full, and the scorers read the full image as they would any other.
//
// A Frame is an image.Image, so it can be a Candidate's Pixels: Bounds is
// known at once, and ColorModel and At read the full image, which is
// decoded on first use when DecodeFrame did not keep it (Image). The
// scorers read the forms they need directly and never cause that decode
// for what DecodeFrame built. A Frame is safe for concurrent use.
type Frame struct {
	data []byte // the encoded image, for Image
	lim  Limits
	w, h int

	dec   *Decoder    // whose pools the forms come from and Release returns them to; nil once released or for a full decode
	luma  []byte      // Y16 rows (lumaRowsOf's format), 2w bytes each; nil unless built
	blank *blankSums  // nil unless built
	hash  *lumaPlane  // phashSize² reduced luma; nil unless built
	thumb *image.RGBA // nil unless built

	once    sync.Once
	full    image.Image
	fullErr error
}

// DecodeFrame decodes data, checked against lim as Decode checks it, into
// a Frame holding the forms need asks for. Its errors are Decode's: every
// failure wraps comfybatch.ErrInvalid.
func DecodeFrame(data []byte, lim Limits, need Need) (*Frame, error) {
	var d Decoder
	return d.DecodeFrame(data, lim, need)
}

// A Decoder is DecodeFrame with memory kept between calls: the buffer of
// decompressed rows, the largest allocation of a decode (three bytes a
// pixel), is reused rather than allocated and cleared for every image,
// and so are a Frame's luma plane (two bytes a pixel) and thumbnail once
// the Frame is released (Frame.Release). At 512² these are 0.79 + 0.52 +
// 0.26 MB a candidate that the garbage collector no longer has to chase;
// BenchmarkCoordinator in package pipeline (-benchmem) shows the
// allocations per candidate. The zero value is ready; a
// Decoder is safe for concurrent use.
type Decoder struct {
	scratch sync.Pool // of *[]byte: decompressed rows
	luma    sync.Pool // of *[]byte: released Frames' luma planes
	thumbs  sync.Pool // of *[]byte: released Frames' thumbnail pixels
}

// get returns a slice of n bytes from pool, of unspecified content, or a
// new one when the pool has none that large.
func get(pool *sync.Pool, n int) []byte {
	if b, ok := pool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

// put gives b to pool for a later get.
func put(pool *sync.Pool, b []byte) {
	if cap(b) > 0 {
		pool.Put(&b)
	}
}

// DecodeFrame is the package's DecodeFrame, reusing d's memory.
func (d *Decoder) DecodeFrame(data []byte, lim Limits, need Need) (*Frame, error) {
	lim = lim.withDefaults()
	c, cfg, err := check(data, lim)
	if err != nil {
		return nil, err
	}
	if c.name == "png" && !need.Full {
		f, err := decodeRows(d, data, lim, cfg, need)
		if !errors.Is(err, pngdec.ErrUnsupported) {
			if err != nil {
				return nil, fmt.Errorf("decode png %dx%d: %v: %w", cfg.Width, cfg.Height, err, comfybatch.ErrInvalid)
			}
			return f, nil
		}
	}
	img, err := Decode(data, lim)
	if err != nil {
		return nil, err
	}
	f := &Frame{data: data, lim: lim, w: cfg.Width, h: cfg.Height, full: img}
	f.once.Do(func() {}) // the full image is there already
	return f, nil
}

// decodeRows builds a Frame from the rows pngdec reconstructs, in a
// buffer from d's scratch pool. PNGs other than 8-bit RGB and RGBA are
// pngdec.ErrUnsupported here, as are those pngdec does not decode: the
// caller decodes them in full.
func decodeRows(d *Decoder, data []byte, lim Limits, cfg image.Config, need Need) (f *Frame, err error) {
	scratch := get(&d.scratch, 0) // DecodeRows takes its capacity
	defer func() { put(&d.scratch, scratch) }()
	// A decoder bug must cost one candidate, not the run.
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("decoder panicked on corrupt data: %v", r)
		}
	}()
	f = &Frame{data: data, lim: lim, w: cfg.Width, h: cfg.Height, dec: d}
	var b *frameBuilder
	scratch, err = pngdec.DecodeRows(data, scratch, func(h pngdec.Header) (func(int, []byte), error) {
		if h.Channels != 3 && h.Channels != 4 {
			return nil, fmt.Errorf("%d channels: %w", h.Channels, pngdec.ErrUnsupported)
		}
		if h.Width != cfg.Width || h.Height != cfg.Height {
			// Both read the one IHDR; a disagreement is a bug.
			return nil, fmt.Errorf("header says %dx%d, IHDR %dx%d", cfg.Width, cfg.Height, h.Width, h.Height)
		}
		b = newFrameBuilder(f, h.Channels, need)
		return b.row, nil
	})
	if err != nil {
		return nil, err
	}
	b.finish()
	return f, nil
}

// Bounds is the image's rectangle, at the origin.
func (f *Frame) Bounds() image.Rectangle { return image.Rect(0, 0, f.w, f.h) }

// ColorModel is the full image's colour model (decoding it if needed).
func (f *Frame) ColorModel() color.Model {
	img, err := f.Image()
	if err != nil {
		return color.RGBAModel
	}
	return img.ColorModel()
}

// At is the full image's colour at (x, y) (decoding it if needed);
// transparent black if it cannot be decoded.
func (f *Frame) At(x, y int) color.Color {
	img, err := f.Image()
	if err != nil {
		return color.RGBA{}
	}
	return img.At(x, y)
}

// Image returns the full decoded image, decoding it on first use when
// DecodeFrame did not keep it (Need.Full).
func (f *Frame) Image() (image.Image, error) {
	f.once.Do(func() { f.full, f.fullErr = Decode(f.data, f.lim) })
	return f.full, f.fullErr
}

// Release gives the Frame's luma plane and thumbnail back to the Decoder
// that made it, for the next candidate; call it once nothing reads the
// Frame or its Thumbnail any more, and not concurrently with any other
// method. Afterwards the Frame still answers, from a full decode of its
// bytes. Releasing a Frame is optional: one never released is collected.
func (f *Frame) Release() {
	if f == nil || f.dec == nil {
		return
	}
	put(&f.dec.luma, f.luma)
	if f.thumb != nil {
		put(&f.dec.thumbs, f.thumb.Pix)
	}
	f.luma, f.thumb, f.dec = nil, nil, nil
}

// Thumbnail returns the reduced colour copy DecodeFrame made for
// Need.Thumb, or else the full image (decoding it if needed) for the
// caller to reduce.
func (f *Frame) Thumbnail() (image.Image, error) {
	if f.thumb != nil {
		return f.thumb, nil
	}
	return f.Image()
}

// lumaRows reads the Frame's luma plane in lumaRowsOf's format, each row
// where it lies: no copy.
func (f *Frame) lumaRows() (w, h int, row lumaRowFunc) {
	return f.w, f.h, func(y int, _ []byte) []byte { return f.luma[2*f.w*y : 2*f.w*(y+1)] }
}

// frameBuilder fills a Frame from decoded rows of bpp bytes a pixel (3:
// RGB, 4: RGBA, whose alpha the scorers ignore).
type frameBuilder struct {
	f     *Frame
	bpp   int
	k     []int32 // the row's luma ×1000, for Blank and Phash
	hash  *areaReducer
	thumb *thumbReducer
}

func newFrameBuilder(f *Frame, bpp int, need Need) *frameBuilder {
	b := &frameBuilder{f: f, bpp: bpp}
	if need.Luma {
		// Every row is written before the plane is read.
		f.luma = get(&f.dec.luma, 2*f.w*f.h)
	}
	if need.Blank {
		f.blank = newBlankSums()
	}
	// areaLuma enlarges an image smaller than the hash first; such an
	// image takes that path (Phash decodes it in full).
	if need.Hash && f.w >= phashSize && f.h >= phashSize {
		b.hash = newAreaReducer(f.w, f.h, phashSize, phashSize)
	}
	if need.Blank || b.hash != nil {
		b.k = make([]int32, f.w)
	}
	if need.Thumb > 0 {
		b.thumb = newThumbReducer(f.w, f.h, bpp, need.Thumb, &f.dec.thumbs)
	}
	return b
}

// row takes decoded row y.
func (b *frameBuilder) row(y int, pix []byte) {
	f := b.f
	var luma []byte
	if f.luma != nil {
		luma = f.luma[2*f.w*y : 2*f.w*(y+1)]
	}
	switch {
	case f.blank != nil:
		f.blank.addRow(b.k, luma, pix, b.bpp) // and b.k and the luma
		luma = nil
	case b.k != nil:
		lumaKRow(b.k, pix, b.bpp)
	}
	if luma != nil {
		if b.bpp == 4 {
			lumaRGBARow(luma, pix)
		} else {
			lumaRGBRow(luma, pix)
		}
	}
	if b.hash != nil {
		b.hash.addRow(y, b.k)
	}
	if b.thumb != nil {
		b.thumb.addRow(y, pix)
	}
}

// finish completes the forms once every row is in.
func (b *frameBuilder) finish() {
	if b.hash != nil {
		b.f.hash = &b.hash.out
	}
	if b.thumb != nil {
		b.f.thumb = b.thumb.finish()
	}
}

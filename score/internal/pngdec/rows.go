package pngdec

// Header describes the pixels of a PNG as DecodeRows hands them out.
type Header struct {
	Width, Height int
	// Channels is the number of bytes per pixel and says their layout:
	// 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (not premultiplied).
	Channels int
}

// DecodeRows decodes data as Decode does, with the same checks, errors
// and ErrUnsupported cases, but builds no image: it hands each
// reconstructed row to the caller instead. Once the chunks have been read
// and the header checked, it calls start, which returns the function that
// receives the rows, or an error that DecodeRows returns as it is before
// anything is decompressed (a caller that wants only some layouts refuses
// the others there). Then every row is passed to row in order, y from 0,
// in the PNG's own layout: Header.Channels bytes a pixel, no alpha added.
// The slice is only valid during the call and must not be modified: it is
// the prediction source of the next row.
//
// Rows are handed out only after the whole zlib stream has been
// decompressed and its Adler-32 checked; a bad filter type byte in row y
// still fails after rows 0..y-1 were handed out, so a caller must discard
// what it built when DecodeRows returns an error.
//
// Its cost is one buffer of the decompressed rows; it saves Decode's
// widening of RGB and grey+alpha to four bytes a pixel and the image the
// caller would otherwise read back. When scratch has the capacity, that
// buffer is scratch; DecodeRows returns the buffer it used (scratch
// itself when it failed before needing one), for the caller to pass again.
func DecodeRows(data, scratch []byte, start func(Header) (row func(y int, pix []byte), err error)) ([]byte, error) {
	hdr, run, err := parse(data)
	if err != nil {
		return scratch, err
	}
	size, err := rawSize(hdr, run)
	if err != nil {
		return scratch, err
	}
	row, err := start(Header{Width: hdr.width, Height: hdr.height, Channels: hdr.bpp})
	if err != nil {
		return scratch, err
	}
	raw := scratch
	if uint64(cap(raw)) < size {
		raw = make([]byte, size)
	}
	raw = raw[:size] // inflate writes every byte: none of scratch's survives
	if err := inflateRun(raw, data, run); err != nil {
		return raw, err
	}
	// Each row is unfiltered to its final place, y bytes (the filter bytes
	// before it) earlier in raw, as buildImage does for grey and RGBA.
	rb := hdr.width * hdr.bpp
	stride := rb + 1
	var prev []byte
	for y := range hdr.height {
		dst := raw[y*rb : y*rb+rb : y*rb+rb]
		if !unfilter(raw[y*stride], dst, raw[y*stride+1:y*stride+stride], prev, hdr.bpp) {
			return raw, filterError(raw[y*stride], y)
		}
		row(y, dst)
		prev = dst
	}
	return raw, nil
}

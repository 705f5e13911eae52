package generate

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// scene is a w×h render of the simulator, as an image.
func scene(w, h int) image.Image {
	return comfytest.Render(sha256.Sum256([]byte("verify")), w, h, 20, false)
}

// grainy is scene with sensor-like noise on every channel, so that it
// compresses as a generated photo does: about 600 KB at 512² (the
// simulator's clean renders compress to a few KB).
func grainy(w, h int) image.Image {
	img := comfytest.Render(sha256.Sum256([]byte("verify")), w, h, 20, false)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		if i%4 != 3 {
			img.Pix[i] = uint8(min(255, max(0, int(img.Pix[i])+rng.IntN(41)-20)))
		}
	}
	return img
}

func encodeWith(t testing.TB, enc func(*bytes.Buffer, image.Image) error, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := enc(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngOf(t testing.TB, img image.Image) []byte {
	return encodeWith(t, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) }, img)
}

// webpOf builds a structurally valid lossless WebP container of w×h whose
// bitstream is filler: VerifyImage reads structure, not pixels.
func webpOf(w, h int) []byte {
	body := make([]byte, 21) // odd: exercises the pad byte
	body[0] = 0x2F
	binary.LittleEndian.PutUint32(body[1:], uint32(w-1)|uint32(h-1)<<14)
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+len(body)+1))
	b.WriteString("WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(len(body)))
	b.Write(body)
	b.WriteByte(0)
	return b.Bytes()
}

// withIHDR rewrites a PNG's IHDR width and height and fixes its CRC, so
// only the size check can object.
func withIHDR(data []byte, w, h uint32) []byte {
	out := bytes.Clone(data)
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

func TestVerifyImageAcceptsIntactImages(t *testing.T) {
	gray := image.NewGray16(image.Rect(0, 0, 31, 7))
	pal := image.NewPaletted(image.Rect(0, 0, 20, 10), palette.Plan9)
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png rgba 512", pngOf(t, grainy(512, 512))},
		{"png gray16", pngOf(t, gray)},
		{"png paletted", pngOf(t, pal)},
		{"jpeg", encodeWith(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }, scene(96, 64))},
		{"gif", encodeWith(t, func(b *bytes.Buffer, m image.Image) error { return gif.Encode(b, m, nil) }, scene(40, 30))},
		{"webp", webpOf(640, 480)},
		{"unknown format", []byte("not an image format we know")},
	} {
		if err := VerifyImage(tc.data, 0); err != nil {
			t.Errorf("VerifyImage(%s) = %v, want nil", tc.name, err)
		}
	}
}

// TestVerifyImageRejectsEveryTruncation cuts intact images at many points:
// no prefix of a PNG, JPEG, GIF or WebP passes.
func TestVerifyImageRejectsEveryTruncation(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png", pngOf(t, scene(64, 48))},
		{"jpeg", encodeWith(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }, scene(64, 48))},
		{"gif", encodeWith(t, func(b *bytes.Buffer, m image.Image) error { return gif.Encode(b, m, nil) }, scene(64, 48))},
		{"webp", webpOf(64, 48)},
	} {
		step := max(1, len(tc.data)/500)
		for n := 1; n < len(tc.data); n += step {
			err := VerifyImage(tc.data[:n], 0)
			if _, ok := errors.AsType[*ImageError](err); !ok {
				t.Errorf("%s cut to %d of %d bytes: VerifyImage = %v, want an *ImageError", tc.name, n, len(tc.data), err)
				break
			}
		}
		if err := VerifyImage(tc.data[:len(tc.data)/2], 0); err != nil {
			t.Logf("%s cut in half: %v", tc.name, err)
		}
	}
}

func TestVerifyImageRejectsDamagedPNG(t *testing.T) {
	good := pngOf(t, scene(64, 48))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40 // inside IDAT
	palNoPLTE := pngOf(t, image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White}))
	if i := bytes.Index(palNoPLTE, []byte("PLTE")); i > 0 {
		n := int(binary.BigEndian.Uint32(palNoPLTE[i-4:]))
		palNoPLTE = append(palNoPLTE[:i-4:i-4], palNoPLTE[i+8+n:]...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		max  int
	}{
		{"flipped bit", flipped, 0},
		{"bytes after IEND", append(bytes.Clone(good), 0, 0, 0, 0), 0},
		{"zero width", withIHDR(good, 0, 48), 0},
		{"wider than the limit", withIHDR(good, 64, 48), 32},
		{"taller than the default limit", withIHDR(good, 64, DefaultMaxImageSide+1), 0},
		{"palette without PLTE", palNoPLTE, 0},
		{"signature only", pngSignature, 0},
		{"empty", nil, 0},
	} {
		err := VerifyImage(tc.data, tc.max)
		if _, ok := errors.AsType[*ImageError](err); !ok {
			t.Errorf("VerifyImage(%s) = %v, want an *ImageError", tc.name, err)
		}
	}
	// The limit is inclusive.
	if err := VerifyImage(good, 64); err != nil {
		t.Errorf("VerifyImage(64x48 PNG, max 64) = %v, want nil", err)
	}
}

func FuzzVerifyImage(f *testing.F) {
	f.Add(pngOf(f, scene(16, 16)))
	f.Add(encodeWith(f, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) }, scene(16, 16)))
	f.Add(webpOf(16, 16))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := VerifyImage(data, 4096) // must not panic
		if _, ok := errors.AsType[*ImageError](err); err != nil && !ok {
			t.Fatalf("error of another type: %v", err)
		}
	})
}

// BenchmarkVerifyPNG512 is the cost of checking a realistic 512² download;
// BenchmarkDecodePNG512 is the decode it stands in for, for scale.
func BenchmarkVerifyPNG512(b *testing.B) {
	data := pngOf(b, grainy(512, 512))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := VerifyImage(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePNG512(b *testing.B) {
	data := pngOf(b, grainy(512, 512))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

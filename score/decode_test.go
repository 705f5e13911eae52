package score

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// pngHeader crafts the signature and IHDR chunk of an 8-bit RGBA PNG that
// declares w×h pixels, followed by an IDAT with a few compressed bytes.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // bit depth 8, colour type RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00})
	return b.Bytes()
}

func TestDecodeRejectsBombFromHeader(t *testing.T) {
	data := pngHeader(100000, 100000)
	img, err := Decode(data, Limits{})
	if err == nil || img != nil {
		t.Fatalf("Decode(100000x100000 header) = %v, %v; want an error", img, err)
	}
	if !errors.Is(err, comfybatch.ErrInvalid) || !strings.Contains(err.Error(), "decompression bomb") {
		t.Errorf("Decode(bomb) error = %v; want ErrInvalid naming a decompression bomb", err)
	}
	// A header just under the limit gets past the check and then fails on
	// the (absent) pixel data instead: the check, not luck, stopped the bomb.
	_, err = Decode(pngHeader(100, 100), Limits{MaxPixels: 100 * 100})
	if err == nil || strings.Contains(err.Error(), "decompression bomb") {
		t.Errorf("Decode(100x100 header, limit 1e4) = %v; want a data error, not the pixel limit", err)
	}
}

func TestDecodeTruncatedAndCorrupt(t *testing.T) {
	good := encodePNG(t, randomImage(64, 48, 1))
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, randomImage(64, 48, 2), nil); err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"signature only", good[:8]},
		{"truncated png half", good[:len(good)/2]},
		{"truncated png tail", good[:len(good)-13]},
		{"corrupt png body", flipped},
		{"truncated jpeg", jpg.Bytes()[:jpg.Len()/2]},
		{"text", []byte("<html>502 Bad Gateway</html>")},
		{"riff without webp body", []byte("RIFF\x10\x00\x00\x00WEBPVP8 ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Decode(tt.data, Limits{})
			if err == nil {
				t.Fatalf("Decode(%s) = %T, nil; want an error", tt.name, img)
			}
			if !errors.Is(err, comfybatch.ErrInvalid) {
				t.Errorf("Decode(%s) error %v does not wrap ErrInvalid", tt.name, err)
			}
		})
	}
	for _, data := range [][]byte{good, jpg.Bytes()} {
		img, err := Decode(data, Limits{})
		if err != nil || img.Bounds() != image.Rect(0, 0, 64, 48) {
			t.Errorf("Decode(valid) = %v, %v; want a 64x48 image", img, err)
		}
	}
}

func TestDecodeMaxBytes(t *testing.T) {
	data := encodePNG(t, randomImage(32, 32, 3))
	n := int64(len(data))
	if _, err := Decode(data, Limits{MaxBytes: n}); err != nil {
		t.Errorf("Decode(%d bytes, MaxBytes %d) = %v; want success", n, n, err)
	}
	_, err := Decode(data, Limits{MaxBytes: n - 1})
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("Decode(%d bytes, MaxBytes %d) = %v; want a size error", n, n-1, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodePNG(f, randomImage(8, 8, 4)))
	f.Add(pngHeader(100000, 100000))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, Limits{MaxPixels: 1 << 20})
		if err == nil && img == nil {
			t.Fatal("Decode returned neither image nor error")
		}
		if err != nil && !errors.Is(err, comfybatch.ErrInvalid) {
			t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
		}
	})
}

// TestDecodePNGMatchesImagePNG: whichever decoder Decode uses for a PNG
// (the fast one for 8-bit non-interlaced images, image/png for the rest),
// the result is what image/png decodes, type and pixels.
func TestDecodePNGMatchesImagePNG(t *testing.T) {
	const w, h = 37, 23
	rgb := image.NewRGBA(image.Rect(0, 0, w, h))
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White, color.RGBA{200, 10, 10, 255}})
	for y := range h {
		for x := range w {
			v := uint8(x*7 + y*13)
			rgb.Set(x, y, color.RGBA{v, v ^ 0x55, uint8(x * y), 255})
			nrgba.Set(x, y, color.NRGBA{v, 3 * v, uint8(y), uint8(x * 6)})
			gray.Set(x, y, color.Gray{v})
			gray16.Set(x, y, color.Gray16{uint16(v) * 257})
			pal.SetColorIndex(x, y, uint8((x+y)%3))
		}
	}
	for name, img := range map[string]image.Image{"rgb": rgb, "nrgba": nrgba, "gray": gray, "gray16": gray16, "paletted": pal} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		want, err := png.Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(buf.Bytes(), Limits{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) || got.Bounds() != want.Bounds() {
			t.Errorf("%s: got %T %v, want %T %v", name, got, got.Bounds(), want, want.Bounds())
			continue
		}
		for y := range h {
			for x := range w {
				if got.At(x, y) != want.At(x, y) {
					t.Fatalf("%s: pixel (%d,%d) = %v, want %v", name, x, y, got.At(x, y), want.At(x, y))
				}
			}
		}
	}
}

package score

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
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

package score

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/comfybatch/comfybatch"
)

func hashOf(t *testing.T, img image.Image) string {
	t.Helper()
	sc, err := (&Phash{}).Score(t.Context(), candidate(img, nil))
	if err != nil {
		t.Fatal(err)
	}
	h := sc.Values["hash"]
	if sc.Scorer != "phash" || len(h) != 16 {
		t.Fatalf("Phash = %+v; want scorer phash and 16 hex digits", sc)
	}
	return h
}

func distance(t *testing.T, a, b string) int {
	t.Helper()
	d, err := HammingHex(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPhashNearAndFar(t *testing.T) {
	img := sceneImage(256, 256, 11)
	h := hashOf(t, img)
	if h2 := hashOf(t, img); h2 != h {
		t.Errorf("hash not deterministic: %s then %s", h, h2)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	recoded, err := Decode(jpg.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	near := map[string]image.Image{
		"resized 200²":    imaging.Resize(img, 200, 200, imaging.Lanczos),
		"resized 512²":    imaging.Resize(img, 512, 512, imaging.Linear),
		"jpeg q70":        recoded,
		"slightly bright": imaging.AdjustBrightness(img, 5),
	}
	for name, m := range near {
		if d := distance(t, h, hashOf(t, m)); d > 6 {
			t.Errorf("%s: distance %d to the original, want <= 6", name, d)
		}
	}
	for seed := uint64(20); seed < 26; seed++ {
		if d := distance(t, h, hashOf(t, sceneImage(256, 256, seed))); d < 12 {
			t.Errorf("different scene %d: distance %d, want >= 12", seed, d)
		}
	}
	if d := distance(t, h, hashOf(t, imaging.FlipH(img))); d < 12 {
		t.Errorf("mirrored image: distance %d, want >= 12", d)
	}
}

func TestHammingHex(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0000000000000000", "0000000000000000", 0},
		{"ffffffffffffffff", "0000000000000000", 64},
		{"8000000000000001", "0000000000000000", 2},
		{"0f", "f0", 8},
		{"00000000000000000f", "0000000000000000ff", 4},
	}
	for _, tt := range tests {
		if got, err := HammingHex(tt.a, tt.b); err != nil || got != tt.want {
			t.Errorf("HammingHex(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
	}
	for _, bad := range [][2]string{{"00", "000"}, {"zz", "00"}, {"00", "0g"}} {
		if _, err := HammingHex(bad[0], bad[1]); !errors.Is(err, comfybatch.ErrInvalid) {
			t.Errorf("HammingHex(%q, %q) error = %v; want ErrInvalid", bad[0], bad[1], err)
		}
	}
}

package store

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// TestThumbnailComplete: only a whole JPEG counts; an empty file or one
// cut short, which a power cut can leave of an unsynced thumbnail, does
// not, and WriteThumbnail replaces it.
func TestThumbnailComplete(t *testing.T) {
	s, run := viewFixture(t)
	c := collect(t, s, run.ID, CandidateQuery{})[0]
	p := filepath.Join(run.OutputDir, ThumbPath(c.SHA256))
	if ThumbnailComplete(p) {
		t.Fatal("ThumbnailComplete of a missing file = true")
	}
	whole, err := MakeThumbnail(testImage(300, 200))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":      {},
		"cut short":  whole[:len(whole)/2],
		"one byte":   whole[:1],
		"not a jpeg": bytes.Repeat([]byte{0}, 100),
	} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if ThumbnailComplete(p) {
			t.Errorf("%s: ThumbnailComplete = true", name)
		}
		if err := s.WriteThumbnail(t.Context(), run, c.SHA256, testImage(300, 200)); err != nil {
			t.Fatalf("%s: WriteThumbnail = %v", name, err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, whole) || !ThumbnailComplete(p) {
			t.Errorf("%s: WriteThumbnail left %d bytes, want the whole %d-byte thumbnail", name, len(got), len(whole))
		}
	}
}

// TestMakeThumbnailKeepsFittingImage: an image within ThumbSize (the
// reduced copy the pipeline passes) is encoded at its size, one larger is
// reduced to fit.
func TestMakeThumbnailKeepsFittingImage(t *testing.T) {
	for _, tc := range []struct{ w, h, tw, th int }{
		{ThumbSize, ThumbSize, ThumbSize, ThumbSize},
		{ThumbSize, 171, ThumbSize, 171},
		{512, 512, ThumbSize, ThumbSize},
		{1216, 832, ThumbSize, 175},
	} {
		data, err := MakeThumbnail(testImage(tc.w, tc.h))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width != tc.tw || cfg.Height != tc.th {
			t.Errorf("thumbnail of %dx%d = %dx%d, %v; want %dx%d", tc.w, tc.h, cfg.Width, cfg.Height, err, tc.tw, tc.th)
		}
	}
}

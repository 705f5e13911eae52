package score

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// Size checks an image's dimensions and encoded size. Metrics: "width",
// "height", "bytes" and "ok" (1 when every configured check passes, else
// 0); when not ok, Values["reason"] lists the failed checks. Zero fields
// are not checked.
type Size struct {
	// Name goes into Score.Scorer; default "size".
	Name string
	// Width and Height, when non-zero, are the exact dimensions expected.
	Width, Height int
	// Aspect, when non-zero, is the expected width/height, met within 1%.
	Aspect float64
	// MinBytes and MaxBytes bound len(Candidate.Image) when non-zero.
	MinBytes, MaxBytes int64
}

// aspectTolerance is the relative tolerance of Size.Aspect: 1% absorbs the
// rounding of dimensions to multiples of 8 that latent models impose.
const aspectTolerance = 0.01

// Score implements the pipeline's Scorer.
func (s *Size) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	name := nameOr(s.Name, "size")
	var b image.Rectangle
	if f, ok := c.Pixels.(*Frame); ok {
		b = f.Bounds() // known without decoding the full image
	} else {
		img, err := pixels(c)
		if err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: %w", name, err)
		}
		b = img.Bounds()
	}
	w, h, n := b.Dx(), b.Dy(), int64(len(c.Image))
	var why []string
	if s.Width > 0 && w != s.Width {
		why = append(why, fmt.Sprintf("width %d, want %d", w, s.Width))
	}
	if s.Height > 0 && h != s.Height {
		why = append(why, fmt.Sprintf("height %d, want %d", h, s.Height))
	}
	if s.Aspect > 0 {
		if a := float64(w) / float64(h); math.Abs(a-s.Aspect) > aspectTolerance*s.Aspect {
			why = append(why, fmt.Sprintf("aspect %.3f, want %.3f", a, s.Aspect))
		}
	}
	if s.MinBytes > 0 && n < s.MinBytes {
		why = append(why, fmt.Sprintf("%d bytes, want at least %d", n, s.MinBytes))
	}
	if s.MaxBytes > 0 && n > s.MaxBytes {
		why = append(why, fmt.Sprintf("%d bytes, want at most %d", n, s.MaxBytes))
	}
	sc := comfybatch.Score{
		Scorer:  name,
		Metrics: map[string]float64{"width": float64(w), "height": float64(h), "bytes": float64(n), "ok": 1},
	}
	if len(why) > 0 {
		sc.Metrics["ok"] = 0
		sc.Values = map[string]string{"reason": strings.Join(why, "; ")}
	}
	return sc, nil
}

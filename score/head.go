package score

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/comfybatch/comfybatch"
)

// LinearHead is a LAION-style aesthetic predictor: a linear layer applied to
// the L2-normalised CLIP image embedding. Its JSON form is
// {"weights":[...],"bias":b}.
type LinearHead struct {
	Weights []float64 `json:"weights"`
	Bias    float64   `json:"bias"`
}

// LoadLinearHead reads a LinearHead from a JSON file.
func LoadLinearHead(path string) (*LinearHead, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("aesthetic head: %w", err)
	}
	var h LinearHead
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("aesthetic head %s: %v: %w", path, err, comfybatch.ErrInvalid)
	}
	if len(h.Weights) == 0 {
		return nil, fmt.Errorf("aesthetic head %s: no weights: %w", path, comfybatch.ErrInvalid)
	}
	for i, w := range h.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("aesthetic head %s: weight %d is %v: %w", path, i, w, comfybatch.ErrInvalid)
		}
	}
	return &h, nil
}

// Apply returns the head's prediction for a normalised embedding.
func (h *LinearHead) Apply(unit []float64) (float64, error) {
	if len(unit) != len(h.Weights) {
		return 0, fmt.Errorf("aesthetic head has %d weights, embedding has %d dimensions: %w", len(h.Weights), len(unit), comfybatch.ErrInvalid)
	}
	return dot(h.Weights, unit) + h.Bias, nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// normalize scales v to unit length in place; a zero vector stays zero.
func normalize(v []float64) []float64 {
	n := math.Sqrt(dot(v, v))
	if n == 0 {
		return v
	}
	for i := range v {
		v[i] /= n
	}
	return v
}

package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/comfybatch/comfybatch"
)

// A candidate's scores are kept in one column, candidates.scores, as a
// JSON array of its Scored.Scores in order:
//
//	[{"scorer":"sharpness","metrics":{"laplacian_var":123.5}},
//	 {"scorer":"phash","metrics":{},"values":{"hash":"f0f0"}},
//	 {"scorer":"clip","metrics":{},"error":"connection refused"}]
//
// Numbers keep every bit (the shortest form that reads back the same); a
// metric that is not a finite number is written as the string "NaN",
// "+Inf" or "-Inf", which JSON numbers cannot hold.

// encodeScores writes scores as the column's JSON.
func encodeScores(scores []comfybatch.Score) (string, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, sc := range scores {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(sc.Scorer)
		if err != nil {
			return "", err
		}
		b.WriteString(`{"scorer":`)
		b.Write(name)
		b.WriteString(`,"metrics":{`)
		for k, m := range sc.MetricNames() {
			if k > 0 {
				b.WriteByte(',')
			}
			key, err := json.Marshal(m)
			if err != nil {
				return "", err
			}
			b.Write(key)
			b.WriteByte(':')
			b.WriteString(encodeMetric(sc.Metrics[m]))
		}
		b.WriteByte('}')
		if len(sc.Values) > 0 {
			vals, err := json.Marshal(sc.Values)
			if err != nil {
				return "", fmt.Errorf("scorer %s: %w", sc.Scorer, err)
			}
			b.WriteString(`,"values":`)
			b.Write(vals)
		}
		if sc.Err != "" {
			e, err := json.Marshal(sc.Err)
			if err != nil {
				return "", err
			}
			b.WriteString(`,"error":`)
			b.Write(e)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String(), nil
}

func encodeMetric(v float64) string {
	switch {
	case math.IsNaN(v):
		return `"NaN"`
	case math.IsInf(v, 1):
		return `"+Inf"`
	case math.IsInf(v, -1):
		return `"-Inf"`
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// storedScore is one element of the column as decoded.
type storedScore struct {
	Scorer  string                     `json:"scorer"`
	Metrics map[string]json.RawMessage `json:"metrics"`
	Values  map[string]string          `json:"values"`
	Error   string                     `json:"error"`
}

// decodeScores reads the column back: Score.Metrics is never nil and
// Score.Values is nil when empty.
func decodeScores(text string) ([]comfybatch.Score, error) {
	if text == "" || text == "[]" {
		return nil, nil
	}
	if out, ok := fastScores(text); ok {
		return out, nil
	}
	return slowScores(text)
}

// slowScores is decodeScores with encoding/json: any JSON the column may
// hold.
func slowScores(text string) ([]comfybatch.Score, error) {
	var raw []storedScore
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("decode scores: %w", err)
	}
	out := make([]comfybatch.Score, len(raw))
	for i, r := range raw {
		sc := comfybatch.Score{Scorer: r.Scorer, Err: r.Error, Metrics: make(map[string]float64, len(r.Metrics))}
		for name, v := range r.Metrics {
			f, err := decodeMetric(v)
			if err != nil {
				return nil, fmt.Errorf("decode score %s.%s: %w", r.Scorer, name, err)
			}
			sc.Metrics[name] = f
		}
		if len(r.Values) > 0 {
			sc.Values = r.Values
		}
		out[i] = sc
	}
	return out, nil
}

func decodeMetric(raw json.RawMessage) (float64, error) {
	switch string(raw) {
	case `"NaN"`:
		return math.NaN(), nil
	case `"+Inf"`:
		return math.Inf(1), nil
	case `"-Inf"`:
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(string(raw), 64)
}

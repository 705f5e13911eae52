package store

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/internal/jsonnum"
)

// fastScores decodes the scores column in the form encodeScores writes it
// (and SQLite's json functions wrote it in migration 0003): no whitespace,
// strings without escapes, the keys scorer, metrics, values and error once
// each. It reports false for anything else, and decodeScores then uses
// encoding/json, whose result it always equals when it reports true
// (FuzzFastScores checks that).
//
// It is hand-written because a selection reads every candidate's scores:
// BenchmarkDecodeScores measures it against encoding/json on the column a
// sharpness + size + blank + phash + clip pipeline writes.
func fastScores(s string) ([]comfybatch.Score, bool) {
	if !utf8.ValidString(s) {
		return nil, false
	}
	p := scanner{s: s}
	if !p.lit('[') {
		return nil, false
	}
	if p.lit(']') {
		return nil, p.end()
	}
	var out []comfybatch.Score
	for {
		sc, ok := p.score()
		if !ok {
			return nil, false
		}
		out = append(out, sc)
		if p.lit(',') {
			continue
		}
		return out, p.lit(']') && p.end()
	}
}

// scanner reads JSON tokens from s at i.
type scanner struct {
	s string
	i int
}

func (p *scanner) end() bool { return p.i == len(p.s) }

// lit consumes c if it comes next.
func (p *scanner) lit(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// null consumes a JSON null if it comes next.
func (p *scanner) null() bool {
	if len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "null" {
		p.i += 4
		return true
	}
	return false
}

// str reads a string without escapes or control characters.
func (p *scanner) str() (string, bool) {
	if !p.lit('"') {
		return "", false
	}
	for j := p.i; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			v := p.s[p.i:j]
			p.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// score reads one element of the array.
func (p *scanner) score() (comfybatch.Score, bool) {
	var sc comfybatch.Score
	if !p.lit('{') {
		return sc, false
	}
	var seen [4]bool
	for first := true; ; first = false {
		if p.lit('}') {
			if sc.Metrics == nil {
				sc.Metrics = map[string]float64{}
			}
			return sc, true
		}
		if !first && !p.lit(',') {
			return sc, false
		}
		key, ok := p.str()
		if !ok || !p.lit(':') {
			return sc, false
		}
		k := -1
		switch key {
		case "scorer":
			k = 0
			sc.Scorer, ok = p.str()
		case "metrics":
			k = 1
			sc.Metrics, ok = p.metrics()
		case "values":
			k = 2
			sc.Values, ok = p.values()
		case "error":
			k = 3
			if !p.null() {
				sc.Err, ok = p.str()
			}
		}
		if k < 0 || !ok || seen[k] {
			return sc, false
		}
		seen[k] = true
	}
}

// metrics reads the metrics object (null reads as none).
func (p *scanner) metrics() (map[string]float64, bool) {
	m := map[string]float64{}
	if p.null() {
		return m, true
	}
	ok := p.object(func(name string) bool {
		v, ok := p.metric()
		m[name] = v
		return ok
	})
	return m, ok
}

// values reads the values object; an empty one (or null) reads as nil.
func (p *scanner) values() (map[string]string, bool) {
	if p.null() {
		return nil, true
	}
	var m map[string]string
	ok := p.object(func(name string) bool {
		v, ok := p.str()
		if m == nil {
			m = map[string]string{}
		}
		m[name] = v
		return ok
	})
	return m, ok
}

// object reads {"name":<value>,...}, calling value for each value.
func (p *scanner) object(value func(name string) bool) bool {
	if !p.lit('{') {
		return false
	}
	if p.lit('}') {
		return true
	}
	for {
		name, ok := p.str()
		if !ok || !p.lit(':') || !value(name) {
			return false
		}
		if p.lit(',') {
			continue
		}
		return p.lit('}')
	}
}

// metric reads a JSON number, or one of the strings encodeMetric writes
// for values JSON numbers cannot hold.
func (p *scanner) metric() (float64, bool) {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		v, ok := p.str()
		switch {
		case !ok:
			return 0, false
		case v == "NaN":
			return math.NaN(), true
		case v == "+Inf":
			return math.Inf(1), true
		case v == "-Inf":
			return math.Inf(-1), true
		}
		return 0, false
	}
	start := p.i
	if !p.number() {
		return 0, false
	}
	v, err := strconv.ParseFloat(p.s[start:p.i], 64)
	return v, err == nil
}

// number consumes a number as JSON's grammar spells it (jsonnum.End).
func (p *scanner) number() bool {
	end, ok := jsonnum.End(p.s, p.i)
	p.i = end
	return ok
}

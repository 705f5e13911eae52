package manifests

import (
	"encoding/json"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxAxis bounds the values of one sweep axis and maxJobs the whole plan,
// so that a typo like to: 1e9 is an error instead of an out-of-memory.
const (
	maxAxis = 100_000
	maxJobs = 1_000_000
)

// axisSpec is one swept parameter: a list of values (written or from a
// range) or seeds drawn at random from the master seed.
type axisSpec struct {
	b           *binding
	values      []value
	random      bool
	randomCount int // 0: as many as the group's count needs
	pos         *yaml.Node
}

// parseSweep reads the sweep: section.
func (m *Manifest) parseSweep(v *yaml.Node, src source, p *problems) {
	for _, f := range p.fields(v, "sweep", nil) {
		what := "sweep " + quote(f.key)
		b := m.resolve(f.key, f.k, what, p)
		if b == nil {
			continue
		}
		ax := &axisSpec{b: b, pos: f.k}
		if m.parseAxis(ax, f.v, what, src, p) {
			m.sweep = append(m.sweep, ax)
		}
	}
}

func (m *Manifest) parseAxis(ax *axisSpec, v *yaml.Node, what string, src source, p *problems) bool {
	b := ax.b
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!str" && v.Value == "random" {
			if !b.seed {
				p.at(v, "%s: random values are only for seeds", what)
				return false
			}
			ax.random = true
			return true
		}
		val, ok := m.convert(b, v, what, src, p)
		ax.values = []value{val}
		return ok
	case yaml.SequenceNode:
		items, _ := p.items(v, what)
		if len(items) == 0 {
			p.at(v, "%s: the list is empty", what)
			return false
		}
		if len(items) > maxAxis {
			p.at(v, "%s: %d values; the limit is %d", what, len(items), maxAxis)
			return false
		}
		ok := true
		for _, it := range items {
			val, good := m.convert(b, it, what, src, p)
			ok = ok && good
			ax.values = append(ax.values, val)
		}
		return ok
	case yaml.MappingNode:
		fs := p.fields(v, what, []string{"random", "from", "to", "step"})
		byKey := map[string]field{}
		for _, f := range fs {
			byKey[f.key] = f
		}
		if r, ok := byKey["random"]; ok {
			if len(fs) > 1 {
				p.at(v, "%s: random cannot be combined with from/to/step", what)
				return false
			}
			if !b.seed {
				p.at(r.k, "%s: random values are only for seeds", what)
				return false
			}
			ax.random = true
			if r.v.Kind == yaml.ScalarNode && r.v.Tag == "!!null" {
				return true
			}
			for _, g := range p.fields(r.v, what+" random", []string{"count"}) {
				c, ok := p.intIn(g.v, what+" random count", 1, maxAxis)
				if !ok {
					return false
				}
				ax.randomCount = c
			}
			return true
		}
		if len(fs) == 0 {
			p.at(v, "%s: give a list of values, a range {from, to, step} or {random: {count: N}}", what)
			return false
		}
		return m.parseRange(ax, v, byKey, what, p)
	}
	p.at(v, "%s: give a list of values, a range {from, to, step} or {random: {count: N}}", what)
	return false
}

// parseRange expands {from, to, step} (to included) into values.
func (m *Manifest) parseRange(ax *axisSpec, v *yaml.Node, f map[string]field, what string, p *problems) bool {
	b := ax.b
	from, hasFrom := f["from"]
	to, hasTo := f["to"]
	if !hasFrom || !hasTo {
		p.at(v, "%s: a range needs both from and to", what)
		return false
	}
	step, hasStep := f["step"]
	switch {
	case !b.seed && b.kind == kindInt,
		!b.seed && b.kind == kindNumber && isInt(from.v) && isInt(to.v) && (!hasStep || isInt(step.v)):
		// Integers other than seeds may be negative: int64. An input
		// of undeclared type ranges over integers when the range is
		// written in integers, else over floats.
		return m.intRange(ax, v, f, what, p)
	case b.seed:
		// Seeds may exceed 2^63: uint64.
		lo, ok1 := parseUint(from.v)
		hi, ok2 := parseUint(to.v)
		if !ok1 || !ok2 {
			p.at(v, "%s: seed ranges go from and to integers in 0..%s", what, maxSeed)
			return false
		}
		var st uint64 = 1
		if hasStep {
			s, ok := parseUint(step.v)
			if !ok || s == 0 {
				p.at(step.v, "%s: step must be a positive integer, not %s", what, describe(step.v))
				return false
			}
			st = s
		}
		if lo > hi {
			p.at(v, "%s: from %d is greater than to %d", what, lo, hi)
			return false
		}
		if (hi-lo)/st >= maxAxis {
			p.at(v, "%s: the range has more than %d values", what, maxAxis)
			return false
		}
		for x := lo; ; x += st {
			ax.values = append(ax.values, value{v: x, raw: json.RawMessage(strconv.FormatUint(x, 10)), pos: v})
			if hi-x < st {
				break
			}
		}
		return true
	case b.kind == kindFloat, b.kind == kindNumber:
		lo, ok1 := p.number(from.v, what+" from")
		hi, ok2 := p.number(to.v, what+" to")
		if !ok1 || !ok2 {
			return false
		}
		if !hasStep {
			p.at(v, "%s: a range of numbers needs a step", what)
			return false
		}
		st, ok := p.number(step.v, what+" step")
		if !ok {
			return false
		}
		if st <= 0 {
			p.at(step.v, "%s: step must be positive", what)
			return false
		}
		if lo > hi {
			p.at(v, "%s: from %v is greater than to %v", what, lo, hi)
			return false
		}
		n := math.Floor((hi-lo)/st+1e-9) + 1
		if n > maxAxis {
			p.at(v, "%s: the range has more than %d values", what, maxAxis)
			return false
		}
		for i := 0; i < int(n); i++ {
			x := lo + float64(i)*st
			// Round away binary noise: 0.1*3 is written 0.3, not 0.30000000000000004.
			x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'f', 9, 64), 64)
			raw, _ := json.Marshal(x)
			ax.values = append(ax.values, value{v: x, raw: raw, pos: v})
		}
		return true
	}
	p.at(v, "%s: ranges are for numbers; %s input %q takes %s, list the values instead", what, b.node, b.input, b.kind)
	return false
}

func (m *Manifest) intRange(ax *axisSpec, v *yaml.Node, f map[string]field, what string, p *problems) bool {
	lo, ok1 := parseInt(f["from"].v)
	hi, ok2 := parseInt(f["to"].v)
	if !ok1 || !ok2 {
		p.at(v, "%s: %s input %q takes integers; from and to must be integers", what, ax.b.node, ax.b.input)
		return false
	}
	var st int64 = 1
	if s, has := f["step"]; has {
		x, ok := parseInt(s.v)
		if !ok || x <= 0 {
			p.at(s.v, "%s: step must be a positive integer, not %s", what, describe(s.v))
			return false
		}
		st = x
	}
	if lo > hi {
		p.at(v, "%s: from %d is greater than to %d", what, lo, hi)
		return false
	}
	if uint64(hi-lo)/uint64(st) >= maxAxis {
		p.at(v, "%s: the range has more than %d values", what, maxAxis)
		return false
	}
	if ax.b.input == batchSizeInput && lo < 1 {
		p.at(v, "%s: %s input %q is the number of images per prompt, at least 1, not %d", what, ax.b.node, ax.b.input, lo)
		return false
	}
	for x := lo; ; x += st {
		ax.values = append(ax.values, value{v: x, raw: json.RawMessage(strconv.FormatInt(x, 10)), pos: v})
		if hi-x < st {
			break
		}
	}
	return true
}

package manifests

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// KnownScorerTypes lists the scorer types a manifest may declare.
var KnownScorerTypes = []string{"sharpness", "size", "blank", "phash", "clip", "aesthetic", "http", "exec"}

// PrimaryMetric returns the metric a scorer type's weight, min and max
// apply to, as the score package names it ("" for phash, which only
// feeds the diversity filter).
func PrimaryMetric(scorerType string) string {
	switch scorerType {
	case "sharpness":
		return "laplacian_var"
	case "size", "blank":
		return "ok"
	case "clip":
		return "similarity"
	case "aesthetic":
		return "aesthetic"
	case "http", "exec":
		return "value"
	}
	return ""
}

// Option kinds.
const (
	optInt = iota
	optFloat
	optString
	optBool
	optStrings
	optDuration // a string such as "30s"
)

// scorerOptions are the type-specific options each scorer type accepts.
var scorerOptions = map[string]map[string]int{
	"sharpness": {"long_side": optInt},
	"size":      {"width": optInt, "height": optInt, "aspect": optFloat, "min_bytes": optInt, "max_bytes": optInt},
	"blank":     {"min_std": optFloat, "min_colors": optInt},
	"phash":     {},
	"clip": {"url": optString, "model": optString, "protocol": optString, "template": optString,
		"token_env": optString, "max_batch": optInt, "timeout": optDuration, "retries": optInt},
	"aesthetic": {"url": optString, "model": optString, "protocol": optString, "head": optString,
		"token_env": optString, "max_batch": optInt, "timeout": optDuration, "retries": optInt},
	"http": {"url": optString, "format": optString, "json_path": optString, "timeout": optDuration, "token_env": optString},
	"exec": {"command": optStrings, "timeout": optDuration},
}

// optionChoices restricts some string options to a set of values.
var optionChoices = map[string][]string{
	"protocol": {"infinity", "vllm", "clip-as-service"},
	"format":   {"multipart", "json"},
}

// requiredOptions must be given for a scorer type.
var requiredOptions = map[string][]string{
	"clip":      {"url"},
	"aesthetic": {"url", "head"},
	"http":      {"url"},
	"exec":      {"command"},
}

// Normalisations of a metric within a group.
var normalizations = []string{"rank", "minmax", "raw"}

var scorerKeys = []string{"type", "name", "weight", "min", "max", "normalize", "metrics"}

// parseScorers reads the scorers: list.
func (m *Manifest) parseScorers(v *yaml.Node, p *problems) {
	items, ok := p.items(v, "scorers")
	if !ok {
		return
	}
	names := map[string]bool{}
	for i, it := range items {
		what := fmt.Sprintf("scorers[%d]", i)
		if it.Kind != yaml.MappingNode {
			p.at(it, "%s must be a mapping with a type, not %s", what, describe(it))
			continue
		}
		// Find the type first: it decides which other keys are allowed.
		var typ string
		var typNode *yaml.Node
		for j := 0; j+1 < len(it.Content); j += 2 {
			if it.Content[j].Value == "type" {
				typNode = resolveAlias(it.Content[j+1])
			}
		}
		if typNode == nil {
			p.at(it, "%s: missing type (one of %s)", what, strings.Join(KnownScorerTypes, ", "))
			continue
		}
		typ, _ = p.str(typNode, what+" type")
		opts, known := scorerOptions[typ]
		if !known {
			p.at(typNode, "%s: unknown scorer type %q%s (known types: %s)", what, typ, didYouMean(typ, KnownScorerTypes), strings.Join(KnownScorerTypes, ", "))
			continue
		}
		s := ScorerSpec{Type: typ, Name: typ, Weight: 1, Normalize: "rank", Metrics: map[string]MetricSpec{},
			Options: map[string]any{}, Pos: Pos{Line: it.Line, Col: it.Column}}
		primary := PrimaryMetric(typ)
		if primary == "" {
			s.Weight = 0
		}
		allowed := append(slices.Clone(scorerKeys), slices.Sorted(maps.Keys(opts))...)
		var ms MetricSpec
		for _, f := range p.fields(it, what+" ("+typ+")", allowed) {
			switch f.key {
			case "type":
			case "name":
				if n, ok := p.nonEmpty(f.v, what+" name"); ok {
					s.Name = n
				}
			case "weight":
				if w, ok := p.number(f.v, what+" weight"); ok {
					s.Weight = w
					if primary == "" && w != 0 {
						p.at(f.v, "%s: a phash scorer has no metric to weigh; it only feeds select.phash_distance (remove weight)", what)
					}
				}
			case "min", "max":
				if x, ok := p.number(f.v, what+" "+f.key); ok {
					if primary == "" {
						p.at(f.k, "%s: a phash scorer has no metric to gate", what)
					}
					if f.key == "min" {
						ms.Min = &x
					} else {
						ms.Max = &x
					}
				}
			case "normalize":
				s.Normalize = m.normalize(f.v, what, p)
			case "metrics":
				m.parseMetrics(&s, f.v, what, primary, p)
			default:
				if val, ok := optionValue(f.v, opts[f.key], what+" "+f.key, p); ok {
					s.Options[f.key] = val
				}
			}
		}
		for _, req := range requiredOptions[typ] {
			if _, ok := s.Options[req]; !ok {
				p.at(it, "%s: %s %s scorer needs %s", what, article(typ), typ, req)
			}
		}
		if primary != "" {
			ms.Weight = s.Weight
			s.Metrics[primary] = ms
		}
		if ms.Min != nil && ms.Max != nil && *ms.Min > *ms.Max {
			p.at(it, "%s: min %v is greater than max %v", what, *ms.Min, *ms.Max)
		}
		if names[s.Name] {
			p.at(it, "%s: two scorers are named %q; give one a name:", what, s.Name)
		}
		names[s.Name] = true
		m.Scorers = append(m.Scorers, s)
	}
}

func (m *Manifest) normalize(v *yaml.Node, what string, p *problems) string {
	n, ok := p.str(v, what+" normalize")
	if !ok {
		return ""
	}
	if !contains(normalizations, n) {
		p.at(v, "%s: normalize must be one of %s, not %q%s", what, strings.Join(normalizations, ", "), n, didYouMean(n, normalizations))
		return ""
	}
	return n
}

// parseMetrics reads a scorer's extra metrics: name -> {weight, min, max, normalize}.
func (m *Manifest) parseMetrics(s *ScorerSpec, v *yaml.Node, what, primary string, p *problems) {
	for _, f := range p.fields(v, what+" metrics", nil) {
		w := what + " metric " + quote(f.key)
		if f.key == primary {
			p.at(f.k, "%s: %q is the primary metric of %s %s scorer; set its weight, min and max on the scorer itself", w, f.key, article(s.Type), s.Type)
			continue
		}
		ms := MetricSpec{Weight: 1}
		for _, g := range p.fields(f.v, w, []string{"weight", "min", "max", "normalize"}) {
			switch g.key {
			case "weight":
				if x, ok := p.number(g.v, w+" weight"); ok {
					ms.Weight = x
				}
			case "min":
				if x, ok := p.number(g.v, w+" min"); ok {
					ms.Min = &x
				}
			case "max":
				if x, ok := p.number(g.v, w+" max"); ok {
					ms.Max = &x
				}
			case "normalize":
				ms.Normalize = m.normalize(g.v, w, p)
			}
		}
		s.Metrics[f.key] = ms
	}
}

// optionValue checks one type-specific option.
func optionValue(v *yaml.Node, k int, what string, p *problems) (any, bool) {
	switch k {
	case optInt:
		n, ok := p.intIn(v, what, 0, 1<<31-1)
		return n, ok
	case optFloat:
		return p.number(v, what)
	case optBool:
		return p.boolean(v, what)
	case optStrings:
		s, ok := p.strings(v, what)
		if ok && len(s) == 0 {
			p.at(v, "%s must not be empty", what)
			return nil, false
		}
		return s, ok
	case optDuration:
		s, ok := p.nonEmpty(v, what)
		if !ok {
			return nil, false
		}
		if _, err := parseDuration(s); err != nil {
			p.at(v, "%s: %q is not a duration like 30s or 2m", what, s)
			return nil, false
		}
		return s, true
	}
	s, ok := p.nonEmpty(v, what)
	if !ok {
		return nil, false
	}
	key := what[strings.LastIndexByte(what, ' ')+1:]
	if choices, has := optionChoices[key]; has && !contains(choices, s) {
		p.at(v, "%s must be one of %s, not %q%s", what, strings.Join(choices, ", "), s, didYouMean(s, choices))
		return nil, false
	}
	return s, true
}

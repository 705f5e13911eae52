package manifests

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Normalisations of a metric within a group.
var normalizations = []string{"rank", "minmax", "raw"}

var scorerKeys = []string{"type", "name", "weight", "min", "max", "normalize", "metrics"}

// scorerDecl is where one scorer was declared, for the checks that run
// once the whole manifest is read (checkScorers).
type scorerDecl struct {
	what  string
	item  *yaml.Node
	nodes map[string]*yaml.Node // option key -> its value
}

// parseScorers reads the scorers: list. Options are decoded into the
// type's typed struct (see ScorerTypes); checks that need the groups or
// files run later, in checkScorers.
func (m *Manifest) parseScorers(v *yaml.Node, p *problems) {
	items, ok := p.items(v, "scorers")
	if !ok {
		return
	}
	known := scorerTypeNames()
	names := map[string]bool{}
	for i, it := range items {
		what := fmt.Sprintf("scorers[%d]", i)
		if it.Kind != yaml.MappingNode {
			p.at(it, "%s must be a mapping with a type, not %s", what, describe(it))
			continue
		}
		// Find the type first: it decides which other keys are allowed.
		var typNode *yaml.Node
		for j := 0; j+1 < len(it.Content); j += 2 {
			if it.Content[j].Value == "type" {
				typNode = resolveAlias(it.Content[j+1])
			}
		}
		if typNode == nil {
			p.at(it, "%s: missing type (one of %s)", what, strings.Join(known, ", "))
			continue
		}
		typ, _ := p.str(typNode, what+" type")
		st, ok := scorerType(typ)
		if !ok {
			p.at(typNode, "%s: unknown scorer type %q%s (known types: %s)", what, typ, didYouMean(typ, known), strings.Join(known, ", "))
			continue
		}
		s := ScorerSpec{Type: typ, Name: typ, Weight: 1, Normalize: "rank", Metrics: map[string]MetricSpec{},
			Options: st.NewOptions(), Pos: Pos{Line: it.Line, Col: it.Column}}
		if st.Primary == "" {
			s.Weight = 0
		}
		opts := s.Options.options()
		allowed := slices.Clone(scorerKeys)
		for _, o := range opts {
			allowed = append(allowed, o.key)
		}
		slices.Sort(allowed[len(scorerKeys):])
		decl := scorerDecl{what: what, item: it, nodes: map[string]*yaml.Node{}}
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
					if st.Primary == "" && w != 0 {
						p.at(f.v, "%s: a phash scorer has no metric to weigh; it only feeds select.phash_distance (remove weight)", what)
					}
				}
			case "min", "max":
				if x, ok := p.number(f.v, what+" "+f.key); ok {
					if st.Primary == "" {
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
				m.parseMetrics(&s, st, f.v, what, p)
			default:
				i := slices.IndexFunc(opts, func(o option) bool { return o.key == f.key })
				if decodeOption(f.v, opts[i], what+" "+f.key, p) {
					decl.nodes[f.key] = f.v
				}
			}
		}
		for _, o := range opts {
			if o.required && decl.nodes[o.key] == nil {
				p.at(it, "%s: %s %s scorer needs %s", what, article(typ), typ, o.key)
			}
		}
		if st.Primary != "" {
			ms.Weight = s.Weight
			s.Metrics[st.Primary] = ms
		}
		if ms.Min != nil && ms.Max != nil && *ms.Min > *ms.Max {
			p.at(it, "%s: min %v is greater than max %v", what, *ms.Min, *ms.Max)
		}
		if names[s.Name] {
			p.at(it, "%s: two scorers are named %q; give one a name:", what, s.Name)
		}
		names[s.Name] = true
		m.Scorers = append(m.Scorers, s)
		m.scorerDecls = append(m.scorerDecls, decl)
	}
}

// checkScorers runs each scorer type's checks that need the whole manifest
// (the jobs' params) or its files (an aesthetic head): a scorer that
// cannot work for any candidate is found here, offline, not at run time.
func (m *Manifest) checkScorers(src source, p *problems) {
	for i, s := range m.Scorers {
		d := m.scorerDecls[i]
		s.Options.check(&scorerCheck{m: m, p: p, src: src, what: d.what, item: d.item, nodes: d.nodes})
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

// parseMetrics reads a scorer's extra metrics: name -> {weight, min, max,
// normalize}. A metric the type never reports would reject every
// candidate (missing metric), so it is an error here.
func (m *Manifest) parseMetrics(s *ScorerSpec, st ScorerType, v *yaml.Node, what string, p *problems) {
	for _, f := range p.fields(v, what+" metrics", nil) {
		w := what + " metric " + quote(f.key)
		if f.key == st.Primary {
			p.at(f.k, "%s: %q is the primary metric of %s %s scorer; set its weight, min and max on the scorer itself", w, f.key, article(s.Type), s.Type)
			continue
		}
		if !contains(st.Metrics, f.key) {
			reports := "no metrics"
			if len(st.Metrics) > 0 {
				reports = "only " + strings.Join(st.Metrics, ", ")
			}
			p.at(f.k, "%s: %s %s scorer never reports %q%s (it reports %s)", w, article(s.Type), s.Type, f.key, didYouMean(f.key, st.Metrics), reports)
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

// decodeOption decodes one option's value into its typed field, reporting
// what is wrong with it; it reports whether the value was good.
func decodeOption(v *yaml.Node, o option, what string, p *problems) bool {
	switch dst := o.dst.(type) {
	case *int:
		n, ok := p.intIn(v, what, 0, math.MaxInt32)
		*dst = n
		return ok
	case **int:
		n, ok := p.intIn(v, what, 0, math.MaxInt32)
		*dst = &n
		return ok
	case *int64:
		n, ok := p.intIn(v, what, 0, math.MaxInt32)
		*dst = int64(n)
		return ok
	case *float64:
		x, ok := p.number(v, what)
		*dst = x
		return ok
	case *[]string:
		s, ok := p.strings(v, what)
		if ok && len(s) == 0 {
			p.at(v, "%s must not be empty", what)
			return false
		}
		*dst = s
		return ok
	case *time.Duration:
		s, ok := p.nonEmpty(v, what)
		if !ok {
			return false
		}
		d, err := parseDuration(s)
		if err != nil {
			p.at(v, "%s: %q is not a duration like 30s or 2m", what, s)
			return false
		}
		*dst = d
		return true
	case *string:
		s, ok := p.nonEmpty(v, what)
		if !ok {
			return false
		}
		if o.choices != nil && !contains(o.choices, s) {
			p.at(v, "%s must be one of %s, not %q%s", what, strings.Join(o.choices, ", "), s, didYouMean(s, o.choices))
			return false
		}
		*dst = s
		return true
	}
	panic(fmt.Sprintf("manifests: option %s has a field of type %T", o.key, o.dst))
}

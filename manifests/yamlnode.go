package manifests

import (
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// field is one key: value pair of a YAML mapping, in document order.
type field struct {
	key   string
	k, v  *yaml.Node
	index int
}

// fields checks that n is a mapping with only known keys (reporting
// unknown keys with a suggestion, and duplicates) and returns its pairs in
// order. known == nil accepts any key. It returns nil when n is not a
// mapping.
func (p *problems) fields(n *yaml.Node, what string, known []string) []field {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s must be a mapping (key: value lines), not %s", what, describe(n))
		return nil
	}
	var out []field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.at(k, "%s: keys must be plain names", what)
			continue
		}
		if k.Tag == "!!merge" {
			p.at(k, "%s: merge keys (<<) are not supported; write the keys out", what)
			continue
		}
		key := k.Value
		if seen[key] {
			p.at(k, "%s: key %q appears twice", what, key)
			continue
		}
		seen[key] = true
		if known != nil && !contains(known, key) {
			p.at(k, "unknown key %q in %s%s (known keys: %s)", key, what, didYouMean(key, known), strings.Join(known, ", "))
			continue
		}
		out = append(out, field{key: key, k: k, v: v, index: len(out)})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// resolveAlias follows YAML aliases (*name) to the anchored node.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// describe names what a node is, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "empty"
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// str reads a string scalar; numbers and booleans are taken as their text.
func (p *problems) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.at(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// nonEmpty reads a string that must not be empty.
func (p *problems) nonEmpty(n *yaml.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		p.at(n, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

// parseInt reads an integer scalar.
func parseInt(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		var d int64
		if n.Decode(&d) != nil {
			return 0, false
		}
		v = d
	}
	return v, true
}

// isInt reports whether n is an integer scalar.
func isInt(n *yaml.Node) bool {
	_, ok := parseInt(n)
	return ok
}

// parseUint reads a non-negative integer scalar up to 2^64-1.
func parseUint(n *yaml.Node) (uint64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	v, err := strconv.ParseUint(n.Value, 0, 64)
	if err != nil {
		var d uint64
		if n.Decode(&d) != nil {
			return 0, false
		}
		v = d
	}
	return v, true
}

// parseFloat reads an integer or float scalar as a finite float64.
func parseFloat(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, false
	}
	var f float64
	if n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// intIn reads an integer in [lo, hi].
func (p *problems) intIn(n *yaml.Node, what string, lo, hi int64) (int, bool) {
	v, ok := parseInt(n)
	if !ok {
		p.at(n, "%s must be an integer, not %s", what, describe(n))
		return 0, false
	}
	if v < lo || v > hi {
		if hi == math.MaxInt32 {
			p.at(n, "%s must be at least %d, not %d", what, lo, v)
		} else {
			p.at(n, "%s must be between %d and %d, not %d", what, lo, hi, v)
		}
		return 0, false
	}
	return int(v), true
}

// number reads a finite number.
func (p *problems) number(n *yaml.Node, what string) (float64, bool) {
	v, ok := parseFloat(n)
	if !ok {
		p.at(n, "%s must be a number, not %s", what, describe(n))
	}
	return v, ok
}

// boolean reads true or false.
func (p *problems) boolean(n *yaml.Node, what string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.at(n, "%s must be true or false, not %s", what, describe(n))
		return false, false
	}
	return b, true
}

// list checks that n is a sequence and returns its items.
func (p *problems) items(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.at(n, "%s must be a list, not %s", what, describe(n))
		return nil, false
	}
	items := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		items[i] = resolveAlias(c)
	}
	return items, true
}

// strings reads a list of strings.
func (p *problems) strings(n *yaml.Node, what string) ([]string, bool) {
	items, ok := p.items(n, what)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := p.str(it, what+" item")
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// binding ties a manifest parameter name to one literal input of one
// workflow node.
type binding struct {
	name  string
	node  *node
	input string
	kind  kind // the type of value the input takes (see inputKind)
	seed  bool // values are seeds: integers in 0..2^64-1
	image bool // values are local image files uploaded by the engine
	cost  int  // axis order: lower is more expensive to change
	pos   *yaml.Node
}

// Axis costs, outermost first (like the A1111 X/Y/Z plot): changing the
// checkpoint reloads gigabytes, a LoRA or VAE less, other inputs nothing,
// and seeds vary fastest.
const (
	costCheckpoint = iota
	costAdapter
	costOther
	costSeed
)

var checkpointLoaders = map[string]string{
	"CheckpointLoaderSimple":    "ckpt_name",
	"CheckpointLoader":          "ckpt_name",
	"ImageOnlyCheckpointLoader": "ckpt_name",
	"unCLIPCheckpointLoader":    "ckpt_name",
	"UNETLoader":                "unet_name",
	"DiffusersLoader":           "model_path",
}

var adapterLoaders = map[string]bool{
	"LoraLoader": true, "LoraLoaderModelOnly": true, "VAELoader": true, "CLIPLoader": true,
	"DualCLIPLoader": true, "ControlNetLoader": true, "UpscaleModelLoader": true,
}

// seedInputs are the inputs a parameter named "seed" binds to when the
// manifest does not bind it explicitly.
var seedInputs = map[string]string{"KSampler": "seed", "KSamplerAdvanced": "noise_seed", "RandomNoise": "noise_seed"}

// imageLoaders are the classes whose image input takes an uploaded file.
var imageLoaders = map[string]string{"LoadImage": "image", "LoadImageMask": "image"}

func newBinding(name string, n *node, input string, pos *yaml.Node) *binding {
	b := &binding{name: name, node: n, input: input, kind: inputKind(n, input), cost: costOther, pos: pos}
	switch {
	case name == "seed" || input == "seed" || input == "noise_seed":
		b.seed, b.cost = true, costSeed
	case checkpointLoaders[n.class] == input:
		b.cost = costCheckpoint
	case adapterLoaders[n.class]:
		b.cost = costAdapter
	}
	b.image = imageLoaders[n.class] == input
	return b
}

// parseParams reads the params: section, binding each name to a node input.
func (m *Manifest) parseParams(v *yaml.Node, p *problems) {
	for _, f := range p.fields(v, "params", nil) {
		if m.wf == nil {
			continue
		}
		what := fmt.Sprintf("param %q", f.key)
		fs := p.fields(f.v, what, []string{"node", "title", "class", "input"})
		if fs == nil {
			continue
		}
		var by, val string
		var byNode, inputNode *yaml.Node
		for _, g := range fs {
			s, ok := p.nonEmpty(g.v, what+" "+g.key)
			if !ok {
				continue
			}
			if g.key == "input" {
				val, inputNode = s, g.v
				continue
			}
			if by != "" {
				p.at(g.k, "%s: give one of node, title or class, not both %s and %s", what, by, g.key)
				continue
			}
			by, byNode = g.key, g.v
		}
		if by == "" {
			p.at(f.k, "%s: say which node: node: <id>, title: <title> or class: <class_type>", what)
			continue
		}
		if inputNode == nil {
			p.at(f.k, "%s: say which input of the node: input: <name>", what)
			continue
		}
		n := m.findNode(by, byNode, what, p)
		if n == nil {
			continue
		}
		if b := m.checkInput(n, val, inputNode, what, p); b != nil {
			b.name = f.key
			if f.key == "seed" && !b.seed {
				b.seed, b.cost = true, costSeed
			}
			m.bindings[f.key] = b
		}
	}
	// Two names writing the same input would make the result depend on
	// which is applied last.
	seen := map[string]string{}
	for _, name := range sortedKeys(m.bindings) {
		b := m.bindings[name]
		k := b.node.id + "\x00" + b.input
		if other, dup := seen[k]; dup {
			p.at(b.pos, "params %q and %q both bind %s input %q", other, name, b.node, b.input)
			continue
		}
		seen[k] = name
	}
}

// findNode resolves node:, title: or class: to exactly one node.
func (m *Manifest) findNode(by string, v *yaml.Node, what string, p *problems) *node {
	w := m.wf
	key := v.Value
	var found []*node
	var all []string
	switch by {
	case "node":
		if n, ok := w.nodes[key]; ok {
			return n
		}
		p.at(v, "%s: node %q is not in %s%s", what, key, w.file, didYouMean(key, w.ids))
		return nil
	case "title":
		found = w.byTitle(key)
		for _, id := range w.ids {
			if t := w.nodes[id].title; t != "" && !contains(all, t) {
				all = append(all, t)
			}
		}
	case "class":
		found = w.byClass(key)
		for _, id := range w.ids {
			if c := w.nodes[id].class; !contains(all, c) {
				all = append(all, c)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0]
	case 0:
		p.at(v, "%s: no node with %s %q in %s%s", what, by, key, w.file, didYouMean(key, all))
	default:
		p.at(v, "%s: %d nodes have %s %q: %s; bind one with node: <id>", what, len(found), by, key, nodeList(found))
	}
	return nil
}

// nodeList lists nodes with their ids and titles.
func nodeList(ns []*node) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strings.TrimPrefix(n.String(), "node ")
	}
	return strings.Join(parts, ", ")
}

// checkInput checks that n has a literal input of that name and returns a
// binding to it.
func (m *Manifest) checkInput(n *node, input string, pos *yaml.Node, what string, p *problems) *binding {
	raw, ok := n.inputs[input]
	if !ok {
		p.at(pos, "%s: %s has no input %q%s (its inputs: %s)", what, n, input, didYouMean(input, n.inputNames()), strings.Join(n.inputNames(), ", "))
		return nil
	}
	switch literalKind(raw) {
	case kindLink:
		var link []any
		_ = json.Unmarshal(raw, &link)
		from := ""
		if len(link) > 0 {
			from = fmt.Sprintf(" from node %q", fmt.Sprint(link[0]))
		}
		p.at(pos, "%s: %s input %q is connected%s, not a value; bind the input of the node that produces it", what, n, input, from)
		return nil
	case kindOther:
		p.at(pos, "%s: %s input %q holds %s, which comfybatch cannot set", what, n, input, raw)
		return nil
	}
	return newBinding("", n, input, pos)
}

// resolve finds the binding for a name used in sweep: or set:: a declared
// param, the seed of the one sampler, or the one node with a literal input
// of that name.
func (m *Manifest) resolve(name string, pos *yaml.Node, what string, p *problems) *binding {
	if b, ok := m.bindings[name]; ok {
		return b
	}
	if m.wf == nil {
		return nil
	}
	if name == "seed" {
		var cands []*node
		for _, id := range m.wf.ids {
			n := m.wf.nodes[id]
			if in, ok := seedInputs[n.class]; ok && literalKind(n.inputs[in]) != kindLink {
				if _, has := n.inputs[in]; has {
					cands = append(cands, n)
				}
			}
		}
		if len(cands) == 1 {
			b := newBinding("seed", cands[0], seedInputs[cands[0].class], pos)
			b.seed, b.cost = true, costSeed
			m.bindings[name] = b
			return b
		}
		if len(cands) == 0 {
			p.at(pos, "%s: the workflow has no KSampler, KSamplerAdvanced or RandomNoise with a literal seed; bind it under params: (seed: {node: <id>, input: <name>})", what)
		} else {
			p.at(pos, "%s: %d nodes take a seed: %s; bind one under params: (seed: {node: <id>, input: seed})", what, len(cands), nodeList(cands))
		}
		return nil
	}
	cands := m.wf.withInput(name)
	switch len(cands) {
	case 1:
		b := newBinding(name, cands[0], name, pos)
		m.bindings[name] = b
		return b
	case 0:
		var names []string
		names = append(names, sortedKeys(m.bindings)...)
		for _, id := range m.wf.ids {
			names = append(names, m.wf.nodes[id].inputNames()...)
		}
		if hint := didYouMean(name, names); hint != "" {
			p.at(pos, "%s: %q is not a declared param nor an input of any node%s", what, name, hint)
		} else {
			p.at(pos, "%s: %q is not a declared param nor an input of any node; declare it under params: (%s: {node: <id>, input: <name>})", what, name, name)
		}
	default:
		p.at(pos, "%s: %d nodes have an input %q: %s; declare which under params: (%s: {node: <id>, input: %s})", what, len(cands), name, nodeList(cands), name, name)
	}
	return nil
}

// value is one parameter value as written in the manifest, converted to
// the type of the input it binds to.
type value struct {
	v    any             // string, bool, int64, uint64 or float64
	raw  json.RawMessage // as written into the workflow
	pos  *yaml.Node
	file string // image inputs: resolved local path
	sha  string // image inputs: hex SHA-256 of the file
}

const maxSeed = "18446744073709551615"

// convert checks one YAML scalar against the binding's input type.
func (m *Manifest) convert(b *binding, n *yaml.Node, what string, src source, p *problems) (value, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.at(n, "%s: a value must be a single %s, not %s", what, strings.TrimPrefix(strings.TrimPrefix(b.kind.String(), "an "), "a "), describe(n))
		return value{}, false
	}
	val := value{pos: n}
	switch {
	case b.seed:
		u, ok := parseUint(n)
		if !ok {
			p.at(n, "%s: seeds are integers from 0 to %s, not %s", what, maxSeed, describe(n))
			return value{}, false
		}
		val.v, val.raw = u, json.RawMessage(strconv.FormatUint(u, 10))
	case b.kind == kindInt:
		if i, ok := parseInt(n); ok {
			if b.input == batchSizeInput && i < 1 {
				p.at(n, "%s: %s input %q is the number of images per prompt, at least 1, not %d", what, b.node, b.input, i)
				return value{}, false
			}
			val.v, val.raw = i, json.RawMessage(strconv.FormatInt(i, 10))
		} else if u, ok := parseUint(n); ok {
			val.v, val.raw = u, json.RawMessage(strconv.FormatUint(u, 10))
		} else {
			p.at(n, "%s: %s input %q takes an integer, not %s", what, b.node, b.input, describe(n))
			return value{}, false
		}
	case b.kind == kindNumber:
		// Integers stay integers (the workflow wrote one); anything
		// else is a float the node may well declare.
		if i, ok := parseInt(n); ok {
			if b.input == batchSizeInput && i < 1 {
				p.at(n, "%s: %s input %q is the number of images per prompt, at least 1, not %d", what, b.node, b.input, i)
				return value{}, false
			}
			val.v, val.raw = i, json.RawMessage(strconv.FormatInt(i, 10))
			break
		}
		if u, ok := parseUint(n); ok {
			val.v, val.raw = u, json.RawMessage(strconv.FormatUint(u, 10))
			break
		}
		f, ok := parseFloat(n)
		if !ok {
			p.at(n, "%s: %s input %q takes a number, not %s", what, b.node, b.input, describe(n))
			return value{}, false
		}
		raw, _ := json.Marshal(f) // finite, so Marshal cannot fail
		val.v, val.raw = f, raw
	case b.kind == kindFloat:
		f, ok := parseFloat(n)
		if !ok {
			p.at(n, "%s: %s input %q takes a number, not %s", what, b.node, b.input, describe(n))
			return value{}, false
		}
		raw, _ := json.Marshal(f) // finite, so Marshal cannot fail
		val.v, val.raw = f, raw
	case b.kind == kindBool:
		var t bool
		if n.Tag != "!!bool" || n.Decode(&t) != nil {
			p.at(n, "%s: %s input %q takes true or false, not %s", what, b.node, b.input, describe(n))
			return value{}, false
		}
		val.v, val.raw = t, json.RawMessage(strconv.FormatBool(t))
	case b.kind == kindString:
		if n.Tag != "!!str" {
			p.at(n, "%s: %s input %q takes a string, not %s; quote it", what, b.node, b.input, describe(n))
			return value{}, false
		}
		val.v = n.Value
		if b.image {
			data, resolved, err := src.read(n.Value)
			if err != nil {
				p.at(n, "%s: image %s: %s", what, n.Value, fileProblem(err))
				return value{}, false
			}
			sum := sha256.Sum256(data)
			val.file, val.sha = resolved, hex.EncodeToString(sum[:])
			// The workflow keeps the base name; the engine writes the
			// uploaded name in its place.
			base := filepath.Base(filepath.FromSlash(n.Value))
			if base == "." || base == string(filepath.Separator) {
				base = path.Base(filepath.ToSlash(resolved))
			}
			raw, _ := json.Marshal(base)
			val.raw = raw
			return val, true
		}
		raw, _ := json.Marshal(n.Value)
		val.raw = raw
	default:
		p.at(n, "%s: %s input %q cannot be set", what, b.node, b.input)
		return value{}, false
	}
	return val, true
}

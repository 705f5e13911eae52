package manifests

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseOutputs reads outputs: the output nodes whose images are the
// candidates, each by node id or _meta.title.
func (m *Manifest) parseOutputs(v *yaml.Node, p *problems) {
	if m.wf == nil {
		return
	}
	names, ok := p.strings(v, "outputs")
	if !ok {
		return
	}
	if len(names) == 0 {
		p.at(v, "outputs is an empty list; remove it to take the workflow's SaveImage nodes")
		return
	}
	items, _ := p.items(v, "outputs")
	for i, name := range names {
		pos := items[i]
		n, ok := m.wf.nodes[name]
		if !ok {
			byTitle := m.wf.byTitle(name)
			switch len(byTitle) {
			case 0:
				p.at(pos, "outputs: no node has id or title %q; the workflow's output nodes are: %s", name, m.wf.outputNodes())
				continue
			case 1:
				n = byTitle[0]
			default:
				p.at(pos, "outputs: %d nodes have title %q; name one by its id", len(byTitle), name)
				continue
			}
		}
		if !isOutputClass(n.class) {
			p.at(pos, "outputs: %s does not save images; the workflow's output nodes are: %s", n, m.wf.outputNodes())
			continue
		}
		if slices.Contains(m.Outputs, n.id) {
			p.at(pos, "outputs: %s is named twice", n)
			continue
		}
		m.Outputs = append(m.Outputs, n.id)
	}
	slices.SortFunc(m.Outputs, compareIDs)
}

// defaultOutputs picks the candidates' output nodes when the manifest
// names none: the SaveImage nodes, else node packs' image save nodes
// (class names with both Save and Image). Previews are never candidates
// unless outputs: names them.
func (m *Manifest) defaultOutputs(p *problems) {
	if m.wf == nil || len(m.Outputs) > 0 {
		return
	}
	for _, n := range m.wf.byClass("SaveImage") {
		m.Outputs = append(m.Outputs, n.id)
	}
	if len(m.Outputs) == 0 {
		for _, id := range m.wf.ids {
			l := strings.ToLower(m.wf.nodes[id].class)
			if strings.Contains(l, "save") && strings.Contains(l, "image") {
				m.Outputs = append(m.Outputs, id)
			}
		}
	}
	if len(m.Outputs) == 0 && m.wf.hasOutput() {
		p.in(m.wf.file, 0, 0, "the workflow saves no image (it has only %s); add a SaveImage node, or name the node whose images are the candidates in outputs: [id]",
			m.wf.outputNodes())
	}
}

// outputNodes lists the workflow's output nodes for messages.
func (w *workflow) outputNodes() string {
	var out []string
	for _, id := range w.ids {
		if n := w.nodes[id]; isOutputClass(n.class) {
			out = append(out, n.String())
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// hasOutput reports whether some node saves or previews images.
func (w *workflow) hasOutput() bool {
	for _, n := range w.nodes {
		if isOutputClass(n.class) {
			return true
		}
	}
	return false
}

// batchSizeInput is the input of EmptyLatentImage and its relatives that
// makes one prompt render several images.
const batchSizeInput = "batch_size"

// batchSource says how a group's jobs get their batch size: a number
// known for the whole group, or the values of a swept param.
type batchSource struct {
	fixed int   // > 0: every job of the group renders this many images
	axis  int   // fixed == 0: index in orderedAxes of the swept batch_size
	sizes []int // fixed == 0: the batch size of each value along that axis (the largest of several inputs)
	least int   // the smallest batch size a job of the group can have
}

// literalBatch returns the batch_size literal of a node input, 1 when it
// is not a positive integer (a link, for example).
func literalBatch(raw json.RawMessage) int {
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// batchOf works out how a group's jobs get their batch size: the largest
// batch_size of the workflow's nodes, each from its literal, the group's
// set value or a swept value. It reports a problem when two swept params
// both set batch sizes.
func (m *Manifest) batchOf(g *group) (batchSource, string) {
	if m.wf == nil {
		return batchSource{fixed: 1, least: 1}, ""
	}
	fixed := 1
	src := batchSource{axis: -1}
	for _, n := range m.wf.withInput(batchSizeInput) {
		size, swept := literalBatch(n.inputs[batchSizeInput]), false
		for _, s := range g.set {
			if s.b.node == n && s.b.input == batchSizeInput {
				size = literalBatch(s.v.raw)
			}
		}
		for i, ax := range m.orderedAxes() {
			for _, a := range ax {
				if a.b.node != n || a.b.input != batchSizeInput || a.random {
					continue
				}
				if src.axis >= 0 && src.axis != i {
					return src, "batch sizes are swept by two params; sweep batch_size through one"
				}
				src.axis, swept = i, true
				if src.sizes == nil {
					src.sizes = make([]int, len(a.values))
				}
				for k, v := range a.values {
					src.sizes[k] = max(src.sizes[k], literalBatch(v.raw))
				}
			}
		}
		if !swept {
			fixed = max(fixed, size)
		}
	}
	if src.axis < 0 {
		return batchSource{fixed: fixed, least: fixed}, ""
	}
	for k := range src.sizes {
		src.sizes[k] = max(src.sizes[k], fixed)
	}
	src.least = slices.Min(src.sizes)
	return src, ""
}

// size is the batch size of the job at axis indexes idx.
func (b batchSource) size(idx []int) int {
	if b.fixed > 0 {
		return b.fixed
	}
	return b.sizes[idx[b.axis]]
}

// describeBatch says where batch sizes come from, for plan output.
func (b batchSource) String() string {
	if b.fixed > 0 {
		return fmt.Sprint(b.fixed)
	}
	return fmt.Sprint(b.sizes)
}

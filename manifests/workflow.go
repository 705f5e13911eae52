package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/comfybatch/comfybatch"
)

// workflow is a parsed API-format workflow ("Save (API Format)"): an
// object of node id -> {"class_type", "inputs", "_meta": {"title"}}.
// Values are kept as raw JSON so that unpatched numbers keep their text.
type workflow struct {
	file  string
	lines map[string]int // node id -> line of its key in the file
	ids   []string       // node ids, numeric ones in numeric order
	nodes map[string]*node
	raw   map[string]json.RawMessage
	canon map[string][]byte // node id -> canonical node JSON
	keys  []string          // node ids in canonical (byte) order

	mu        sync.Mutex            // guards templates
	templates map[string]*canonNode // node id -> its canonical parts, made on first patch
}

type node struct {
	id, class, title string
	fields           map[string]json.RawMessage
	inputs           map[string]json.RawMessage
}

// String names the node for messages: node "6" (CLIPTextEncode "Positive").
func (n *node) String() string {
	if n.title != "" && n.title != n.class {
		return fmt.Sprintf("node %q (%s %q)", n.id, n.class, n.title)
	}
	return fmt.Sprintf("node %q (%s)", n.id, n.class)
}

// inputNames returns the node's input names, sorted.
func (n *node) inputNames() []string { return slices.Sorted(maps.Keys(n.inputs)) }

// outputClasses are ComfyUI's own node classes that produce images the
// engine collects, named in messages.
var outputClasses = []string{"PreviewImage", "SaveAnimatedPNG", "SaveAnimatedWEBP", "SaveImage", "SaveImageWebsocket"}

// isOutputClass tells offline whether a class saves or previews images:
// its name says Save or Preview, which covers outputClasses and node
// packs' own save nodes ("Image Save", "SaveImageExtended"), whose
// output_node flag only /object_info knows (ValidateOnline checks it).
func isOutputClass(class string) bool {
	l := strings.ToLower(class)
	return strings.Contains(l, "save") || strings.Contains(l, "preview")
}

// kind is the JSON type of an input's literal value in the workflow.
type kind int

const (
	kindOther kind = iota
	kindInt
	kindFloat
	kindString
	kindBool
	kindLink
	// kindNumber is an input no declaration types whose literal is an
	// integer: it takes integers and non-integral numbers alike (see
	// inputKind).
	kindNumber
)

func (k kind) String() string {
	switch k {
	case kindInt:
		return "an integer"
	case kindFloat, kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindBool:
		return "a boolean"
	case kindLink:
		return "a link"
	}
	return "a value of another type"
}

// literalKind classifies a raw JSON value.
func literalKind(raw json.RawMessage) kind {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return kindOther
	}
	switch c := raw[0]; {
	case c == '"':
		return kindString
	case c == 't' || c == 'f':
		return kindBool
	case c == '[':
		return kindLink
	case c == '-' || (c >= '0' && c <= '9'):
		if bytes.ContainsAny(raw, ".eE") {
			return kindFloat
		}
		return kindInt
	}
	return kindOther
}

// parseWorkflow checks and indexes an API-format workflow. It reports
// every problem into p and returns nil when the file is unusable.
func parseWorkflow(file string, data []byte, p *problems) *workflow {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		line, col := 0, 0
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col = lineCol(data, se.Offset)
		case errors.As(err, &te):
			p.in(file, 0, 0, "not an API-format workflow: the file must be a JSON object of node id -> node, re-export it with \"Save (API Format)\"")
			return nil
		}
		p.in(file, line, col, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
		return nil
	}
	if top == nil {
		p.in(file, 0, 0, "not an API-format workflow: the file must be a JSON object of node id -> node")
		return nil
	}
	_, hasNodes := top["nodes"]
	_, hasLinks := top["links"]
	if hasNodes && hasLinks {
		p.in(file, 0, 0, `UI-format workflow (it has "nodes" and "links"); re-export it with "Save (API Format)" (in older UIs, enable the dev mode options in the settings first)`)
		return nil
	}
	if len(top) == 0 {
		p.in(file, 0, 0, "the workflow has no nodes")
		return nil
	}
	w := &workflow{file: file, nodes: map[string]*node{}, raw: top, lines: nodeLines(data), templates: map[string]*canonNode{}}
	ok := true
	for _, id := range slices.SortedFunc(maps.Keys(top), compareIDs) {
		raw := top[id]
		n := &node{id: id}
		if err := json.Unmarshal(raw, &n.fields); err != nil || n.fields == nil {
			p.in(file, w.lines[id], 0, "node %q is not an object; is this an API-format workflow?", id)
			ok = false
			continue
		}
		if err := json.Unmarshal(n.fields["class_type"], &n.class); err != nil || n.class == "" {
			p.in(file, w.lines[id], 0, "node %q has no class_type; re-export the workflow with \"Save (API Format)\"", id)
			ok = false
			continue
		}
		if in, has := n.fields["inputs"]; has {
			if err := json.Unmarshal(in, &n.inputs); err != nil || (n.inputs == nil && !bytes.Equal(bytes.TrimSpace(in), []byte("null"))) {
				p.in(file, w.lines[id], 0, "%s: inputs is not an object", n)
				ok = false
				continue
			}
		}
		if n.inputs == nil {
			n.inputs = map[string]json.RawMessage{}
		}
		var meta struct {
			Title string `json:"title"`
		}
		if m, has := n.fields["_meta"]; has {
			_ = json.Unmarshal(m, &meta) // a title is a nicety; a malformed _meta is ignored
		}
		n.title = meta.Title
		w.nodes[id] = n
	}
	if !ok {
		return nil
	}
	w.canon = make(map[string][]byte, len(top))
	for id, raw := range top {
		c, err := comfybatch.Canonical(raw)
		if err != nil {
			p.in(file, w.lines[id], 0, "node %q: %v", id, err)
			return nil
		}
		w.canon[id] = c
	}
	w.keys = slices.Sorted(maps.Keys(top)) // encoding/json's map key order
	w.ids = slices.SortedFunc(maps.Keys(w.nodes), compareIDs)
	hasOutput := false
	for _, id := range w.ids {
		n := w.nodes[id]
		hasOutput = hasOutput || isOutputClass(n.class)
		for _, name := range n.inputNames() {
			w.checkLink(n, name, p)
		}
	}
	if !hasOutput {
		p.in(file, 0, 0, "the workflow has no output node (one of %s, or a node pack's node whose class name contains Save or Preview); comfybatch collects the images output nodes save", strings.Join(outputClasses, ", "))
	}
	return w
}

// checkLink reports an input that looks like a link ["id", n] but does not
// point at an existing node output.
func (w *workflow) checkLink(n *node, name string, p *problems) {
	raw := n.inputs[name]
	if literalKind(raw) != kindLink {
		return
	}
	var link []json.RawMessage
	if err := json.Unmarshal(raw, &link); err != nil || len(link) != 2 {
		p.in(w.file, w.lines[n.id], 0, "%s input %q: a link must be [\"node id\", output index]", n, name)
		return
	}
	var target string
	if err := json.Unmarshal(link[0], &target); err != nil {
		var num json.Number
		if json.Unmarshal(link[0], &num) != nil {
			p.in(w.file, w.lines[n.id], 0, "%s input %q: a link must be [\"node id\", output index]", n, name)
			return
		}
		target = num.String()
	}
	idx, err := strconv.Atoi(string(bytes.TrimSpace(link[1])))
	if err != nil || idx < 0 {
		p.in(w.file, w.lines[n.id], 0, "%s input %q: link output index %s must be an integer >= 0", n, name, link[1])
		return
	}
	if _, ok := w.nodes[target]; !ok {
		p.in(w.file, w.lines[n.id], 0, "%s input %q links to node %q, which is not in the workflow", n, name, target)
	}
}

// compareIDs orders numeric node ids numerically, then others as text.
func compareIDs(a, b string) int {
	ia, ea := strconv.ParseUint(a, 10, 64)
	ib, eb := strconv.ParseUint(b, 10, 64)
	switch {
	case ea == nil && eb == nil:
		return cmpUint(ia, ib)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// byClass returns the nodes of one class, in id order.
func (w *workflow) byClass(class string) []*node {
	var out []*node
	for _, id := range w.ids {
		if n := w.nodes[id]; n.class == class {
			out = append(out, n)
		}
	}
	return out
}

// byTitle returns the nodes with a given _meta.title, in id order.
func (w *workflow) byTitle(title string) []*node {
	var out []*node
	for _, id := range w.ids {
		if n := w.nodes[id]; n.title == title {
			out = append(out, n)
		}
	}
	return out
}

// withInput returns the nodes that have a literal (non-link) input of the
// given name, in id order.
func (w *workflow) withInput(input string) []*node {
	var out []*node
	for _, id := range w.ids {
		n := w.nodes[id]
		if raw, ok := n.inputs[input]; ok && literalKind(raw) != kindLink {
			out = append(out, n)
		}
	}
	return out
}

// patch returns the canonical JSON of the workflow with some inputs
// replaced: patches maps node id -> input -> new raw value, which must
// itself be canonical (convert writes values with encoding/json).
// Unpatched nodes reuse their canonical form and patched ones are written
// from a template of their canonical parts, so nothing is decoded; the
// result is byte-for-byte comfybatch.Canonical of the patched document.
func (w *workflow) patch(patches map[string]map[string]json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	size := 2
	for _, c := range w.canon {
		size += len(c) + 16
	}
	b.Grow(size)
	b.WriteByte('{')
	for i, id := range w.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(id) // a string always marshals
		b.Write(k)
		b.WriteByte(':')
		in, ok := patches[id]
		if !ok {
			b.Write(w.canon[id])
			continue
		}
		if err := w.writePatched(&b, id, in); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// canonNode is a node's canonical JSON cut around its inputs: head is
// everything up to and including `"inputs":{`, inputs the canonical
// `"name":value` members in key order, tail the rest.
type canonNode struct {
	head, tail []byte
	names      []string
	members    [][]byte // members[i] = `"names[i]":` + canonical value
	keys       [][]byte // keys[i] = `"names[i]":`
}

// template cuts a node's canonical JSON around its inputs, once.
func (w *workflow) template(id string) (*canonNode, error) {
	if t, ok := w.templates[id]; ok {
		return t, nil
	}
	n := w.nodes[id]
	t := &canonNode{names: n.inputNames()}
	var fields []string
	for k := range n.fields {
		fields = append(fields, k)
	}
	if _, has := n.fields["inputs"]; !has {
		fields = append(fields, "inputs")
	}
	slices.Sort(fields)
	var head bytes.Buffer
	head.WriteByte('{')
	cur := &head
	var tail bytes.Buffer
	for i, k := range fields {
		if i > 0 {
			cur.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		cur.Write(key)
		cur.WriteByte(':')
		if k == "inputs" {
			cur.WriteByte('{')
			cur = &tail
			cur.WriteByte('}')
			continue
		}
		c, err := comfybatch.Canonical(n.fields[k])
		if err != nil {
			return nil, fmt.Errorf("%s field %s: %w", n, k, err)
		}
		cur.Write(c)
	}
	tail.WriteByte('}')
	t.head, t.tail = head.Bytes(), tail.Bytes()
	for _, name := range t.names {
		key, _ := json.Marshal(name)
		key = append(key, ':')
		c, err := comfybatch.Canonical(n.inputs[name])
		if err != nil {
			return nil, fmt.Errorf("%s input %s: %w", n, name, err)
		}
		t.keys = append(t.keys, key)
		t.members = append(t.members, append(slices.Clip(key), c...))
	}
	w.templates[id] = t
	return t, nil
}

// writePatched writes node id with the inputs in patch replaced.
func (w *workflow) writePatched(b *bytes.Buffer, id string, patch map[string]json.RawMessage) error {
	w.mu.Lock()
	t, err := w.template(id)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	for name := range patch {
		if _, found := slices.BinarySearch(t.names, name); !found {
			return fmt.Errorf("patch %s: it has no input %q", w.nodes[id], name)
		}
	}
	b.Write(t.head)
	for i, name := range t.names {
		if i > 0 {
			b.WriteByte(',')
		}
		if v, ok := patch[name]; ok {
			b.Write(t.keys[i])
			b.Write(v)
			continue
		}
		b.Write(t.members[i])
	}
	b.Write(t.tail)
	return nil
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// nodeLines finds the line of each top-level key (node id), so that
// messages about a node point into the file.
func nodeLines(data []byte) map[string]int {
	lines := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return lines
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return lines
		}
		key, _ := tok.(string)
		lines[key], _ = lineCol(data, dec.InputOffset())
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return lines
		}
	}
	return lines
}

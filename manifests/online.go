package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// nodeInfo is the part of one /object_info entry that validation reads.
type nodeInfo struct {
	Input struct {
		Required map[string]json.RawMessage `json:"required"`
		Optional map[string]json.RawMessage `json:"optional"`
		Hidden   map[string]json.RawMessage `json:"hidden"`
	} `json:"input"`
	OutputNode bool `json:"output_node"`
}

func (ni *nodeInfo) spec(input string) (json.RawMessage, bool) {
	if s, ok := ni.Input.Required[input]; ok {
		return s, true
	}
	if s, ok := ni.Input.Optional[input]; ok {
		return s, true
	}
	s, ok := ni.Input.Hidden[input]
	return s, ok
}

func (ni *nodeInfo) names() []string {
	var out []string
	for _, m := range []map[string]json.RawMessage{ni.Input.Required, ni.Input.Optional} {
		for k := range m {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// issue is one online problem; the same problem on several instances is
// reported once, naming them all.
type issue struct {
	file      string
	line, col int
	msg       string // contains "%s" where the instance names go
}

// ValidateOnline checks the manifest against what ComfyUI instances
// report: objectInfo maps an instance name to its GET /object_info body.
// It checks that every node class is installed, that every input of the
// workflow exists, that combo values (samplers, checkpoints, ...) are
// among the instance's options and that numbers are within min and max,
// for the workflow's own values and for every value the manifest sets.
// Problems name the manifest line, the node, the input and the instances
// that lack it; they are joined like Load's.
func ValidateOnline(m *Manifest, objectInfo map[string]json.RawMessage) error {
	if m.wf == nil {
		return fmt.Errorf("%s: manifest was not loaded with Load, LoadFS or Parse: %w", m.Path, comfybatch.ErrInvalid)
	}
	p := &problems{file: m.file}
	found := map[issue][]string{}
	var order []issue
	add := func(inst string, is issue, _ *binding, _ value) {
		if _, ok := found[is]; !ok {
			order = append(order, is)
		}
		found[is] = append(found[is], inst)
	}
	for _, inst := range sortedKeys(objectInfo) {
		var infos map[string]json.RawMessage
		if err := json.Unmarshal(objectInfo[inst], &infos); err != nil {
			p.in("instance "+inst, 0, 0, "its /object_info is not a JSON object of node classes")
			continue
		}
		m.checkInstance(inst, infos, add)
	}
	for _, is := range order {
		insts := found[is]
		label := "instance " + insts[0]
		if len(insts) > 1 {
			label = "instances " + strings.Join(insts, ", ")
		}
		p.in(is.file, is.line, is.col, is.msg, label)
	}
	return p.err()
}

// checkInstance checks the workflow and the manifest's values against one
// instance's node catalogue. A problem with one value the manifest sets
// comes with its binding and value; other problems (with the workflow
// itself) come with a nil binding.
func (m *Manifest) checkInstance(inst string, infos map[string]json.RawMessage, add func(string, issue, *binding, value)) {
	bound := map[string]*binding{}
	for _, b := range m.bindings {
		bound[b.node.id+"\x00"+b.input] = b
	}
	outputs, missing := 0, 0
	for _, id := range m.wf.ids {
		n := m.wf.nodes[id]
		raw, ok := infos[n.class]
		var info nodeInfo
		if !ok || json.Unmarshal(raw, &info) != nil {
			missing++
			add(inst, issue{file: m.wf.file, line: m.wf.lines[id],
				msg: fmt.Sprintf("%s: class %s is not installed on %%s%s", escape(n.String()), escape(n.class), escape(didYouMean(n.class, sortedKeys(infos))))}, nil, value{})
			continue
		}
		if info.OutputNode {
			outputs++
		}
		for _, in := range n.inputNames() {
			spec, ok := info.spec(in)
			if !ok {
				add(inst, issue{file: m.wf.file, line: m.wf.lines[id],
					msg: fmt.Sprintf("%s has input %q, which %s on %%s does not take%s", escape(n.String()), escape(in), escape(n.class), escape(didYouMean(in, info.names())))}, nil, value{})
				continue
			}
			if b, ok := bound[id+"\x00"+in]; ok {
				for _, v := range m.valuesOf(b) {
					if msg := checkValue(spec, v.raw, b.image); msg != "" {
						add(inst, issue{file: m.file, line: v.pos.Line, col: v.pos.Column,
							msg: fmt.Sprintf("param %q: %s input %q on %%s: %s", escape(b.name), escape(n.String()), escape(in), escape(msg))}, b, v)
					}
				}
				continue
			}
			if msg := checkValue(spec, n.inputs[in], false); msg != "" {
				add(inst, issue{file: m.wf.file, line: m.wf.lines[id],
					msg: fmt.Sprintf("%s input %q on %%s: %s", escape(n.String()), escape(in), escape(msg))}, nil, value{})
			}
		}
		for _, req := range slices.Sorted(maps.Keys(info.Input.Required)) {
			if _, ok := n.inputs[req]; !ok {
				add(inst, issue{file: m.wf.file, line: m.wf.lines[id],
					msg: fmt.Sprintf("%s lacks input %q, which %s on %%s requires", escape(n.String()), escape(req), escape(n.class))}, nil, value{})
			}
		}
	}
	if outputs == 0 && missing == 0 {
		// ComfyUI refuses such a prompt (prompt_no_outputs).
		add(inst, issue{file: m.wf.file,
			msg: "no node of the workflow is an output node on %s (output_node in /object_info); add a SaveImage node"}, nil, value{})
	}
}

// InstanceCheck returns a check of single jobs of this manifest against
// one instance's GET /object_info body, by the rules of ValidateOnline:
// node classes installed, inputs known, combo values among the options,
// numbers within min and max. It is meant for the fleet's scheduler
// (generate.Instance.Accept), which may call it for every job many times,
// so the work is done here, once per instance: the workflow is checked
// once, and each distinct value the manifest sets once; the returned
// function only looks the job's params up in a map. It returns nil for a
// job the instance can run, else an *Error (comfybatch.ErrInvalid) that
// names the manifest or workflow line, the node, the input, the value and
// the instance. A problem with the workflow itself refuses every job. The
// returned function is safe for concurrent use. The error is for a body
// that is not a JSON object of node classes.
func (m *Manifest) InstanceCheck(instance string, objectInfo json.RawMessage) (func(comfybatch.Job) error, error) {
	check, _, err := m.InstanceChecker(instance, objectInfo)
	return check, err
}

// InstanceChecker is InstanceCheck that also reports whether the check
// can refuse any job at all: when refuses is false every job passes, and
// a caller need not look at the jobs one by one.
func (m *Manifest) InstanceChecker(instance string, objectInfo json.RawMessage) (check func(comfybatch.Job) error, refuses bool, err error) {
	if m.wf == nil {
		return nil, false, fmt.Errorf("%s: manifest was not loaded with Load, LoadFS or Parse: %w", m.Path, comfybatch.ErrInvalid)
	}
	var infos map[string]json.RawMessage
	if err := json.Unmarshal(objectInfo, &infos); err != nil || infos == nil {
		return nil, false, fmt.Errorf("instance %s: its /object_info is not a JSON object of node classes: %w", instance, comfybatch.ErrInvalid)
	}
	type key struct {
		param string
		v     any
	}
	bad := map[key]error{}
	var all []error
	m.checkInstance(instance, infos, func(inst string, is issue, b *binding, v value) {
		e := &Error{File: is.file, Line: is.line, Col: is.col, Msg: fmt.Sprintf(is.msg, "instance "+inst)}
		if b == nil {
			all = append(all, e)
			return
		}
		k := key{b.name, v.v}
		if _, seen := bad[k]; !seen && hashable(v.v) {
			bad[k] = e
		}
	})
	if len(all) > 0 {
		refusal := errors.Join(all...)
		return func(comfybatch.Job) error { return refusal }, true, nil
	}
	if len(bad) == 0 {
		return func(comfybatch.Job) error { return nil }, false, nil
	}
	return func(j comfybatch.Job) error {
		for _, p := range j.Params {
			if !hashable(p.Value) {
				continue
			}
			if err := bad[key{p.Name, p.Value}]; err != nil {
				return err
			}
		}
		return nil
	}, true, nil
}

// hashable reports whether v may be a map key: param values are
// strings, bools and numbers, but a Job built elsewhere could hold more.
func hashable(v any) bool {
	switch v.(type) {
	case nil, string, bool, int, int64, uint64, float64:
		return true
	}
	return false
}

// escape protects a text that goes into a format string.
func escape(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// valuesOf returns every value the manifest writes through a binding:
// sweep values and group set values (random seeds are in range by
// construction and are not listed).
func (m *Manifest) valuesOf(b *binding) []value {
	var out []value
	for _, a := range m.sweep {
		if a.b == b {
			out = append(out, a.values...)
		}
	}
	for _, g := range m.groups {
		for _, s := range g.set {
			if s.b == b {
				out = append(out, s.v)
			}
		}
	}
	return out
}

// checkValue checks a literal against an input spec [type, options]:
// combo membership (V1 option lists and V3 "COMBO" options) and numeric
// min/max. Links and image uploads are not checked.
func checkValue(spec, raw json.RawMessage, upload bool) string {
	if literalKind(raw) == kindLink || upload {
		return ""
	}
	var parts []json.RawMessage
	if json.Unmarshal(spec, &parts) != nil || len(parts) == 0 {
		return ""
	}
	var opts struct {
		Options []json.RawMessage `json:"options"`
		Min     json.Number       `json:"min"`
		Max     json.Number       `json:"max"`
	}
	if len(parts) > 1 {
		_ = json.Unmarshal(parts[1], &opts) // options we cannot read are not checked
	}
	var typ string
	var list []json.RawMessage
	if json.Unmarshal(parts[0], &list) == nil {
		return inList(raw, list)
	}
	if json.Unmarshal(parts[0], &typ) != nil {
		return ""
	}
	switch typ {
	case "COMBO":
		if opts.Options != nil {
			return inList(raw, opts.Options)
		}
	case "INT", "FLOAT":
		v, ok := new(big.Float).SetPrec(256).SetString(string(bytes.TrimSpace(raw)))
		if !ok {
			return fmt.Sprintf("%s is not a number", raw)
		}
		if typ == "INT" && !v.IsInt() {
			return fmt.Sprintf("%s is not an integer", raw)
		}
		if lo, ok := new(big.Float).SetPrec(256).SetString(opts.Min.String()); ok && opts.Min != "" && v.Cmp(lo) < 0 {
			return fmt.Sprintf("%s is smaller than the minimum %s", raw, opts.Min)
		}
		if hi, ok := new(big.Float).SetPrec(256).SetString(opts.Max.String()); ok && opts.Max != "" && v.Cmp(hi) > 0 {
			return fmt.Sprintf("%s is bigger than the maximum %s", raw, opts.Max)
		}
	}
	return ""
}

// inList reports a value that is not among a combo's options.
func inList(raw json.RawMessage, options []json.RawMessage) string {
	want, err := comfybatch.Canonical(raw)
	if err != nil {
		return ""
	}
	var names []string
	for _, o := range options {
		c, err := comfybatch.Canonical(o)
		if err == nil && bytes.Equal(c, want) {
			return ""
		}
		var s string
		if json.Unmarshal(o, &s) == nil {
			names = append(names, s)
		}
	}
	var got string
	if json.Unmarshal(raw, &got) != nil {
		got = string(raw)
	}
	hint := didYouMean(got, names)
	if hint == "" {
		if len(names) <= 8 {
			hint = " (options: " + strings.Join(names, ", ") + ")"
		} else {
			hint = fmt.Sprintf(" (%d options)", len(options))
		}
	}
	return fmt.Sprintf("%q is not available%s", got, hint)
}

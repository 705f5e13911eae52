package comfytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// graph is a submitted API-format prompt: node id -> node object, with the
// JSON key order kept because ComfyUI reports several things in that order.
type graph struct {
	order []string
	nodes map[string]map[string]any // the node objects; validation coerces their "inputs" in place
}

func (g *graph) class(id string) string {
	c, _ := g.nodes[id]["class_type"].(string)
	return c
}

func (g *graph) inputs(id string) map[string]any {
	in, _ := g.nodes[id]["inputs"].(map[string]any)
	return in
}

// parseGraph decodes a prompt object keeping its key order. Numbers stay
// json.Number so that 64-bit seeds survive.
func parseGraph(raw json.RawMessage) (*graph, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("prompt is not an object")
	}
	g := &graph{nodes: map[string]map[string]any{}}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		id := kt.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		node, _ := v.(map[string]any)
		if node == nil {
			node = map[string]any{} // no class_type: reported as such
		}
		if _, seen := g.nodes[id]; !seen {
			g.order = append(g.order, id)
		}
		g.nodes[id] = node
	}
	return g, nil
}

// pyError is a Python exception raised during validation.
type pyError struct{ typ, msg string }

// traceback is a generic formatted traceback from the validator's frame
// named in: the replay test compares tracebacks by kind only (paths and
// line numbers differ between versions).
func (e *pyError) traceback(in string) []string {
	return []string{
		"  File \"/srv/ComfyUI/execution.py\", line 1010, in " + in + "\n",
		"  File \"/srv/ComfyUI/execution.py\", line 788, in validate_inputs\n",
	}
}

func reason(typ, msg, details string, extra map[string]any) map[string]any {
	if extra == nil {
		extra = map[string]any{}
	}
	return map[string]any{"type": typ, "message": msg, "details": details, "extra_info": extra}
}

type validation struct {
	s         *Server
	g         *graph
	validated map[string]vresult
	vorder    []string
	active    map[string]bool
}

type vresult struct {
	ok      bool
	reasons []map[string]any
}

func (v *validation) set(id string, r vresult) {
	if _, ok := v.validated[id]; !ok {
		v.vorder = append(v.vorder, id)
	}
	v.validated[id] = r
}

// validatePrompt follows execution.validate_prompt (§2.2). It returns the
// outputs to execute, the node_errors, and a non-nil top-level error object
// when the prompt must be rejected.
func (s *Server) validatePrompt(g *graph, targets []string) (outputs []string, nodeErrors map[string]any, topErr map[string]any) {
	nodeErrors = map[string]any{}
	var outs []string
	for _, id := range g.order {
		ct, ok := g.nodes[id]["class_type"].(string)
		_, has := g.nodes[id]["class_type"]
		def := s.classes[ct]
		if !has || !ok || def == nil {
			return nil, nodeErrors, s.missingClass(g, id, has)
		}
		if def.outputNode && (targets == nil || slices.Contains(targets, id)) {
			outs = append(outs, id)
		}
	}
	if len(outs) == 0 {
		return nil, nodeErrors, reason("prompt_no_outputs", "Prompt has no outputs", "", nil)
	}
	v := &validation{s: s, g: g, validated: map[string]vresult{}, active: map[string]bool{}}
	var good []string
	var outputReasons []map[string]any
	for _, o := range outs {
		r, ex := v.node(o)
		if ex != nil {
			r = vresult{reasons: []map[string]any{reason("exception_during_validation", "Exception when validating node", ex.msg,
				map[string]any{"exception_type": ex.typ, "traceback": ex.traceback("validate_prompt")})}}
			v.set(o, r)
		}
		if r.ok {
			good = append(good, o)
			continue
		}
		// error.details joins only the output's own reasons: a failure
		// upstream of it leaves them empty (§0.1 item 1).
		outputReasons = append(outputReasons, r.reasons...)
		// Every node that has reasons so far gets this output appended,
		// whether or not the output depends on it: ComfyUI's
		// dependent_outputs over-reports (§0.1 item 2).
		for _, id := range v.vorder {
			res := v.validated[id]
			if res.ok || len(res.reasons) == 0 {
				continue
			}
			ne, ok := nodeErrors[id].(map[string]any)
			if !ok {
				ne = map[string]any{"errors": res.reasons, "dependent_outputs": []string{}, "class_type": g.class(id)}
				nodeErrors[id] = ne
			}
			ne["dependent_outputs"] = append(ne["dependent_outputs"].([]string), o)
		}
	}
	if len(good) == 0 {
		lines := make([]string, 0, len(outputReasons))
		for _, r := range outputReasons {
			lines = append(lines, r["message"].(string)+": "+r["details"].(string))
		}
		return nil, nodeErrors, reason("prompt_outputs_failed_validation", "Prompt outputs failed validation", strings.Join(lines, "\n"), nil)
	}
	return good, nodeErrors, nil
}

// missingClass is the error for a node without a known class_type (§2.2 step 1).
func (s *Server) missingClass(g *graph, id string, hasClass bool) map[string]any {
	ct := g.nodes[id]["class_type"]
	if !s.opts.MissingNodeType {
		if !hasClass {
			return reason("invalid_prompt", "Cannot execute because a node is missing the class_type property.", "Node ID '#"+id+"'", nil)
		}
		return reason("invalid_prompt", fmt.Sprintf("Cannot execute because node %s does not exist.", pyStr(ct)), "Node ID '#"+id+"'", nil)
	}
	var title any
	if meta, ok := g.nodes[id]["_meta"].(map[string]any); ok {
		if t, ok := meta["title"].(string); ok {
			title = t
		}
	}
	extra := map[string]any{"node_id": id, "class_type": ct, "node_title": title}
	if !hasClass {
		name := "ID #" + id
		if title != nil {
			name = title.(string)
		}
		return reason("missing_node_type", "Node '"+name+"' has no class_type. The workflow may be corrupted or a custom node is missing.", "Node ID '#"+id+"'", extra)
	}
	name := pyStr(ct)
	if title != nil {
		name = title.(string)
	}
	return reason("missing_node_type", "Node '"+name+"' not found. The custom node may not be installed.", "Node ID '#"+id+"'", extra)
}

// node follows execution.validate_inputs (§2.3), memoised per node.
func (v *validation) node(id string) (vresult, *pyError) {
	if r, ok := v.validated[id]; ok {
		return r, nil
	}
	if v.active[id] {
		return vresult{}, &pyError{"RecursionError", "maximum recursion depth exceeded"}
	}
	v.active[id] = true
	defer delete(v.active, id)
	def := v.s.classes[v.g.class(id)]
	inputs := v.g.inputs(id)
	if inputs == nil {
		inputs = map[string]any{}
		v.g.nodes[id]["inputs"] = inputs
	}
	var errs []map[string]any
	valid := true
	for _, in := range def.inputs {
		val, present := inputs[in.name]
		if !present {
			if !in.optional {
				errs = append(errs, reason("required_input_missing", "Required input is missing", in.name, map[string]any{"input_name": in.name}))
			}
			continue
		}
		cfg := v.s.inputConfig(def, in)
		if link, isList := val.([]any); isList {
			if len(link) != 2 {
				errs = append(errs, reason("bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]", in.name,
					map[string]any{"input_name": in.name, "input_config": cfg, "received_value": val}))
				continue
			}
			src, ok := link[0].(string)
			if !ok || v.g.nodes[src] == nil {
				return vresult{}, &pyError{"KeyError", pyRepr(link[0])}
			}
			srcDef := v.s.classes[v.g.class(src)]
			idx, err := strconv.Atoi(fmt.Sprint(link[1]))
			if _, isNum := link[1].(json.Number); !isNum || err != nil {
				return vresult{}, &pyError{"TypeError", "tuple indices must be integers or slices, not " + pyType(link[1])}
			}
			if idx < 0 || idx >= len(srcDef.outputs) {
				return vresult{}, &pyError{"IndexError", "tuple index out of range"}
			}
			received := srcDef.outputs[idx]
			if in.typ != "COMBO" && !typesMatch(received, in.typ) {
				errs = append(errs, reason("return_type_mismatch", "Return type mismatch between linked nodes",
					fmt.Sprintf("%s, received_type(%s) mismatch input_type(%s)", in.name, received, in.typ),
					map[string]any{"input_name": in.name, "input_config": cfg, "received_type": received, "linked_node": val}))
				continue
			}
			r, ex := v.node(src)
			if ex != nil {
				valid = false
				v.set(src, vresult{reasons: []map[string]any{reason("exception_during_inner_validation", "Exception when validating inner node", ex.msg,
					map[string]any{"input_name": in.name, "input_config": cfg, "exception_message": ex.msg, "exception_type": ex.typ,
						"traceback": ex.traceback("validate_inputs"), "linked_node": val})}})
				continue
			}
			if !r.ok {
				valid = false
			}
			continue
		}
		if m, ok := val.(map[string]any); ok {
			if w, has := m["__value__"]; has {
				val = w
				inputs[in.name] = val
			}
		}
		coerced, ex := coerce(in.typ, val)
		if ex != nil {
			errs = append(errs, reason("invalid_input_type", "Failed to convert an input value to a "+in.typ+" value",
				fmt.Sprintf("%s, %s, %s", in.name, pyStr(val), ex.msg),
				map[string]any{"input_name": in.name, "input_config": cfg, "received_value": val, "exception_message": ex.msg}))
			continue
		}
		val = coerced
		inputs[in.name] = val
		if slices.Contains(def.validateArgs, in.name) {
			continue
		}
		if r := checkRange(in, cfg, val); r != nil {
			errs = append(errs, r)
			continue
		}
		if in.typ == "COMBO" {
			opts := in.combo(v.s)
			if s, ok := val.(string); !ok || !slices.Contains(opts, s) {
				listInfo, listCfg := pyList(opts), cfg
				if len(opts) > 20 {
					listInfo, listCfg = fmt.Sprintf("(list of length %d)", len(opts)), nil
				}
				errs = append(errs, reason("value_not_in_list", "Value not in list",
					fmt.Sprintf("%s: '%s' not in %s", in.name, pyStr(val), listInfo),
					map[string]any{"input_name": in.name, "input_config": listCfg, "received_value": val}))
			}
		}
	}
	if def.validate != nil {
		lits := map[string]any{}
		for _, name := range def.validateArgs {
			if val, ok := inputs[name]; ok {
				if _, isLink := val.([]any); !isLink {
					lits[name] = val
				}
			}
		}
		if len(lits) == len(def.validateArgs) {
			if ok, msg := def.validate(v.s, lits); !ok {
				for _, name := range def.validateArgs {
					errs = append(errs, reason("custom_validation_failed", "Custom validation failed for node", name+" - "+msg,
						map[string]any{"input_name": name}))
				}
			}
		}
	}
	r := vresult{ok: valid && len(errs) == 0, reasons: errs}
	if r.reasons == nil {
		r.reasons = []map[string]any{}
	}
	v.set(id, r)
	return r, nil
}

// inputConfig is the [type, options] pair reported in extra_info.
func (s *Server) inputConfig(d *nodeDef, in inputSpec) []any {
	opts := map[string]any{}
	for k, v := range in.opts {
		opts[k] = v
	}
	if in.typ == "COMBO" {
		if d.v3 {
			opts["options"] = in.combo(s)
			return []any{"COMBO", opts}
		}
		return []any{in.combo(s), opts}
	}
	return []any{in.typ, opts}
}

// typesMatch is validate_node_input without strict mode: equal types, "*" on
// either side, or intersecting comma-separated unions.
func typesMatch(received, want string) bool {
	if received == want || received == "*" || want == "*" {
		return true
	}
	for _, r := range strings.Split(received, ",") {
		for _, w := range strings.Split(want, ",") {
			if strings.TrimSpace(r) == strings.TrimSpace(w) {
				return true
			}
		}
	}
	return false
}

func checkRange(in inputSpec, cfg []any, val any) map[string]any {
	var v float64
	switch x := val.(type) {
	case json.Number:
		f, _ := new(big.Float).SetString(string(x))
		if f == nil {
			return nil
		}
		v, _ = f.Float64()
	case float64:
		v = x
	case pyFloat:
		v = float64(x)
	default:
		return nil
	}
	extra := map[string]any{"input_name": in.name, "input_config": cfg, "received_value": val}
	if lo, ok := num(in.opts["min"]); ok && v < lo {
		return reason("value_smaller_than_min", fmt.Sprintf("Value %s smaller than min of %s", pyStr(val), pyStr(in.opts["min"])), in.name, extra)
	}
	if hi, ok := num(in.opts["max"]); ok && v > hi {
		// 2^64-1 is not exact in float64: compare big ints for INT seeds.
		if n, isNum := val.(json.Number); isNum {
			if i, ok := new(big.Int).SetString(string(n), 10); ok {
				if m, ok := new(big.Int).SetString(fmt.Sprint(in.opts["max"]), 10); ok && i.Cmp(m) <= 0 {
					return nil
				}
			}
		}
		return reason("value_bigger_than_max", fmt.Sprintf("Value %s bigger than max of %s", pyStr(val), pyStr(in.opts["max"])), in.name, extra)
	}
	return nil
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case pyFloat:
		return float64(x), true
	}
	return 0, false
}

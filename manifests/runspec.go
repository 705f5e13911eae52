package manifests

import (
	"sort"

	"github.com/comfybatch/comfybatch"
)

// Binding says where a param's values go: one input of one workflow node,
// and the kind of value it takes (comfybatch.KindInt, KindFloat, ...).
// With the base workflow and a job's raw param values (Param.Raw) it is
// enough to rebuild the job's patched workflow.
type Binding struct {
	Name  string `json:"-"`
	Node  string `json:"node"`
	Input string `json:"input"`
	Kind  string `json:"kind"`
}

// Bindings returns the binding of every param, sorted by name.
func (m *Manifest) Bindings() []Binding {
	out := make([]Binding, 0, len(m.bindings))
	for _, b := range m.bindings {
		out = append(out, Binding{Name: b.name, Node: b.node.id, Input: b.input, Kind: b.valueKind()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SweptParams returns the names of the swept params in manifest order: the
// order of the swept values at the end of every job's Params.
func (m *Manifest) SweptParams() []string {
	out := make([]string, len(m.sweep))
	for i, a := range m.sweep {
		out[i] = a.b.name
	}
	return out
}

// valueKind names the kind of value the binding takes.
func (b *binding) valueKind() string {
	switch {
	case b.seed:
		return comfybatch.KindSeed
	case b.image:
		return comfybatch.KindImage
	}
	switch b.kind {
	case kindInt:
		return comfybatch.KindInt
	case kindFloat:
		return comfybatch.KindFloat
	case kindBool:
		return comfybatch.KindBool
	}
	return comfybatch.KindString
}

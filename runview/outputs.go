package runview

import (
	"encoding/json"
	"slices"

	"github.com/comfybatch/comfybatch/store"
)

// Output is one output node of the run's workflow whose images are
// candidates.
type Output struct {
	// ID is the node's id; "" stands for the first image of each prompt
	// in runs recorded before images had an identity.
	ID string
	// Title and Class are the node's _meta.title and class_type in the
	// run's workflow, "" when unknown.
	Title, Class string
	// Candidates is how many candidates the node saved.
	Candidates int
}

// Label names the node for people: its id and title, as 12 (Upscaled),
// or its id and class when it has no title, as 9 (SaveImage); "" for
// ID "".
func (o Output) Label() string {
	switch {
	case o.ID == "":
		return ""
	case o.Title != "":
		return o.ID + " (" + o.Title + ")"
	case o.Class != "":
		return o.ID + " (" + o.Class + ")"
	}
	return o.ID
}

// Output returns the run's output node with id, or one that knows only
// its id when the run has no candidate from it.
func (r *Run) Output(id string) Output {
	for _, o := range r.Outputs {
		if o.ID == id {
			return o
		}
	}
	return Output{ID: id}
}

// MultiOutput reports whether the run's candidates come from more than
// one output node, so presentations must say which saved each.
func (r *Run) MultiOutput() bool { return len(r.Outputs) > 1 }

// ValueLabel writes a value of a param or identity field (see
// Candidate.Value) for people: an output node by its Label, anything
// else as FormatValue does.
func (r *Run) ValueLabel(name string, v any) string {
	if id, ok := v.(string); ok && name == OutputName && id != "" {
		return r.Output(id).Label()
	}
	return FormatValue(v)
}

// nodeInfo is what presentations say about a workflow node.
type nodeInfo struct {
	Class string `json:"class_type"`
	Meta  struct {
		Title string `json:"title"`
	} `json:"_meta"`
}

// parseNodes reads the class and title of every node of an API-format
// workflow; nil when it cannot be read (titles are a courtesy, never a
// reason to fail).
func parseNodes(wf json.RawMessage) map[string]nodeInfo {
	if len(wf) == 0 {
		return nil
	}
	var nodes map[string]nodeInfo
	if err := json.Unmarshal(wf, &nodes); err != nil {
		return nil
	}
	return nodes
}

// outputsOf turns the store's per-node counts into Outputs, named from
// the workflow's nodes, in natural order of their ids.
func outputsOf(counts []store.OutputCount, nodes map[string]nodeInfo) ([]Output, bool) {
	out := make([]Output, 0, len(counts))
	batched := false
	for _, c := range counts {
		n := nodes[c.Node]
		out = append(out, Output{ID: c.Node, Title: n.Meta.Title, Class: n.Class, Candidates: c.Candidates})
		batched = batched || c.MaxBatchIndex > 0
	}
	slices.SortFunc(out, func(a, b Output) int { return CompareNatural(a.ID, b.ID) })
	return out, batched
}

package runview

import (
	"encoding/json"
	"fmt"
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
	Class  string                     `json:"class_type"`
	Inputs map[string]json.RawMessage `json:"inputs"`
	Meta   struct {
		Title string `json:"title"`
	} `json:"_meta"`
}

// BatchLink is where a LatentFromBatch node goes to render one image of
// a batch on its own: on the link from the node that makes the batch (an
// empty latent, which has a batch_size input) to the node that samples
// it. ComfyUI then draws the noise of that batch index, as in the batch.
type BatchLink struct {
	// Latent and LatentClass are the id and class of the node that makes
	// the batch.
	Latent, LatentClass string
	// Sampler and SamplerClass are the id and class of the node that
	// reads it, through its input Input.
	Sampler, SamplerClass, Input string
}

// String writes the link as `node 5 (EmptyLatentImage) -> node 3
// (KSampler).latent_image`.
func (l BatchLink) String() string {
	return fmt.Sprintf("node %s (%s) -> node %s (%s).%s", l.Latent, l.LatentClass, l.Sampler, l.SamplerClass, l.Input)
}

// BatchLink returns where LatentFromBatch goes in the run's workflow, and
// false when the workflow is unknown or has no single such link.
func (r *Run) BatchLink() (BatchLink, bool) {
	var found []BatchLink
	for id, n := range r.nodes {
		if _, ok := n.Inputs["batch_size"]; !ok {
			continue
		}
		for to, m := range r.nodes {
			for input, raw := range m.Inputs {
				if linkSource(raw) == id {
					found = append(found, BatchLink{Latent: id, LatentClass: n.Class, Sampler: to, SamplerClass: m.Class, Input: input})
				}
			}
		}
	}
	if len(found) != 1 {
		return BatchLink{}, false
	}
	return found[0], true
}

// linkSource returns the node id a link input (["5", 0]) reads from, ""
// for a literal.
func linkSource(raw json.RawMessage) string {
	var link []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &link) != nil || len(link) != 2 {
		return ""
	}
	var id string
	if json.Unmarshal(link[0], &id) != nil {
		return ""
	}
	return id
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

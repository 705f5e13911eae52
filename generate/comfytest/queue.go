package comfytest

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"strconv"
)

// qnum is a queue number: an int when the server assigned it, a float when
// the body supplied "number" (ComfyUI passes it through float()).
type qnum struct {
	v       float64
	isFloat bool
}

// MarshalJSON writes 7 for assigned numbers and 7.0 for supplied ones.
func (n qnum) MarshalJSON() ([]byte, error) {
	if !n.isFloat {
		return []byte(strconv.FormatInt(int64(n.v), 10)), nil
	}
	return []byte(pyStr(n.v)), nil
}

// task is one queued prompt: the 5-element queue tuple plus what the worker needs.
type task struct {
	number   qnum
	id       string
	g        *graph
	extra    map[string]any
	outputs  []string
	clientID string
	started  bool // execution_start was sent; guarded by Server.mu
}

// tuple is the JSON array ComfyUI shows in /queue and history.
func (t *task) tuple() []any {
	return []any{t.number, t.id, t.promptJSON(), t.extra, t.outputs}
}

func (t *task) promptJSON() map[string]any {
	out := make(map[string]any, len(t.g.nodes))
	for id, n := range t.g.nodes {
		out[id] = n
	}
	return out
}

// promptHeap is the pending queue: a min-heap by number, then prompt_id.
type promptHeap []*task

func (h promptHeap) Len() int { return len(h) }
func (h promptHeap) Less(i, j int) bool {
	if h[i].number.v != h[j].number.v {
		return h[i].number.v < h[j].number.v
	}
	return h[i].id < h[j].id
}
func (h promptHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *promptHeap) Push(x any)   { *h = append(*h, x.(*task)) }
func (h *promptHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

var _ heap.Interface = (*promptHeap)(nil)

// deepCopy round-trips v through JSON, as ComfyUI deep-copies queue entries.
func deepCopy(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil
	}
	return out
}

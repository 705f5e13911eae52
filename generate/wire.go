package generate

import (
	"encoding/json"
	"sort"
	"strconv"
)

// SubmitRequest is the body of POST /prompt. The client fills PromptID with
// a fresh lowercase UUIDv4 when it is empty.
type SubmitRequest struct {
	// Prompt is the API-format workflow. It is sent as is, so seeds above
	// 2^53 keep every digit.
	Prompt json.RawMessage `json:"prompt"`
	// PromptID is the client-chosen prompt id (comfyui-protocol.md §2.1).
	PromptID string `json:"prompt_id"`
	// ClientID routes the prompt's WebSocket events to one socket (§4.2).
	ClientID string `json:"client_id,omitempty"`
	// ExtraData is stored with the prompt in the queue and history.
	ExtraData map[string]any `json:"extra_data,omitempty"`
}

// SubmitResponse is the 200 answer of POST /prompt.
type SubmitResponse struct {
	PromptID string      `json:"prompt_id"`
	Number   json.Number `json:"number"`
	// NodeErrors is non-empty when the server accepted the prompt but
	// dropped some of its outputs (§2.2 step 7): node id -> messages.
	NodeErrors map[string][]string `json:"-"`
}

// ImageRef names one output file on a server, as listed in history.
type ImageRef struct {
	Filename  string `json:"filename"`
	Subfolder string `json:"subfolder"`
	Type      string `json:"type"`
}

// HistoryEntry is one prompt's record from GET /history/{id}.
type HistoryEntry struct {
	PromptID string
	// Outputs maps output node ids to their UI dicts.
	Outputs map[string]NodeOutput `json:"outputs"`
	Status  HistoryStatus         `json:"status"`
}

// NodeOutput is the UI dict of one node; only images are read.
type NodeOutput struct {
	Images []ImageRef `json:"images"`
}

// HistoryStatus is the status part of a history entry.
type HistoryStatus struct {
	StatusStr string `json:"status_str"`
	Completed bool   `json:"completed"`
	// Messages are the [event, data] pairs recorded during execution.
	Messages []HistoryMessage `json:"messages"`
}

// HistoryMessage is one recorded execution event.
type HistoryMessage struct {
	Type string
	Data json.RawMessage
}

// UnmarshalJSON reads the [event, data] pair form.
func (m *HistoryMessage) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) > 0 {
		if err := json.Unmarshal(pair[0], &m.Type); err != nil {
			return err
		}
	}
	if len(pair) > 1 {
		m.Data = pair[1]
	}
	return nil
}

// Images returns every output image of the entry: saved images (type
// "output", SaveImage) before previews ("temp", PreviewImage), each in
// ascending node id order (numeric ids numerically), so the first image is
// the one the workflow saves and the same on every call.
func (h *HistoryEntry) Images() []ImageRef {
	var out []ImageRef
	for _, id := range h.nodeIDs() {
		out = append(out, h.Outputs[id].Images...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Type == "output" && out[j].Type != "output" })
	return out
}

// firstImage returns the first image Images lists and the id of the node
// that made it.
func (h *HistoryEntry) firstImage() (string, ImageRef, bool) {
	ids := h.nodeIDs()
	for _, saved := range []bool{true, false} {
		for _, id := range ids {
			for _, ref := range h.Outputs[id].Images {
				if (ref.Type == "output") == saved {
					return id, ref, true
				}
			}
		}
	}
	return "", ImageRef{}, false
}

// nodeIDs returns the ids of the entry's output nodes in ascending order
// (numeric ids numerically).
func (h *HistoryEntry) nodeIDs() []string {
	ids := make([]string, 0, len(h.Outputs))
	for id := range h.Outputs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return nodeIDLess(ids[i], ids[j]) })
	return ids
}

func nodeIDLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	switch {
	case aerr == nil && berr == nil:
		return ai < bi
	case aerr == nil:
		return true
	case berr == nil:
		return false
	}
	return a < b
}

// timestamp returns the "timestamp" (ms) of the first recorded message of
// the given type, and false when there is none.
func (h *HistoryEntry) timestamp(event string) (int64, bool) {
	for _, m := range h.Status.Messages {
		if m.Type != event {
			continue
		}
		var d struct {
			Timestamp *int64 `json:"timestamp"`
		}
		if json.Unmarshal(m.Data, &d) == nil && d.Timestamp != nil {
			return *d.Timestamp, true
		}
	}
	return 0, false
}

// Err returns the execution error recorded in the entry, or nil when the
// prompt succeeded.
func (h *HistoryEntry) Err() error {
	for _, m := range h.Status.Messages {
		switch m.Type {
		case "execution_error":
			var d execErrorData
			if err := json.Unmarshal(m.Data, &d); err != nil {
				return &ExecError{PromptID: h.PromptID, ExceptionMessage: "unreadable execution_error: " + err.Error()}
			}
			return d.toError(h.PromptID)
		case "execution_interrupted":
			var d execErrorData
			_ = json.Unmarshal(m.Data, &d) // the fields are only for the message
			e := d.toError(h.PromptID)
			e.Interrupted = true
			return e
		}
	}
	if h.Status.StatusStr == "error" || (h.Status.StatusStr != "" && !h.Status.Completed) {
		return &ExecError{PromptID: h.PromptID, ExceptionMessage: "history status " + h.Status.StatusStr + " without an error message"}
	}
	return nil
}

type execErrorData struct {
	PromptID         string `json:"prompt_id"`
	NodeID           string `json:"node_id"`
	NodeType         string `json:"node_type"`
	ExceptionMessage string `json:"exception_message"`
	ExceptionType    string `json:"exception_type"`
	Timestamp        *int64 `json:"timestamp"`
}

func (d execErrorData) toError(promptID string) *ExecError {
	if d.PromptID != "" {
		promptID = d.PromptID
	}
	return &ExecError{
		PromptID:         promptID,
		NodeID:           d.NodeID,
		NodeType:         d.NodeType,
		ExceptionType:    d.ExceptionType,
		ExceptionMessage: d.ExceptionMessage,
	}
}

// QueueState is GET /queue: the running prompt (0 or 1) and the pending
// ones, pending sorted by queue number.
type QueueState struct {
	Running []QueueItem
	Pending []QueueItem
}

// QueueItem is one queue entry; only its number and prompt id are read.
type QueueItem struct {
	Number   json.Number
	PromptID string
}

// Has reports whether the prompt is running or pending.
func (q QueueState) Has(promptID string) bool {
	return q.IsRunning(promptID) || q.IsPending(promptID)
}

// IsRunning reports whether the prompt is the running one.
func (q QueueState) IsRunning(promptID string) bool {
	for _, it := range q.Running {
		if it.PromptID == promptID {
			return true
		}
	}
	return false
}

// IsPending reports whether the prompt waits in the queue.
func (q QueueState) IsPending(promptID string) bool {
	for _, it := range q.Pending {
		if it.PromptID == promptID {
			return true
		}
	}
	return false
}

// UnmarshalJSON reads the [number, prompt_id, prompt, extra_data, outputs] tuple.
func (it *QueueItem) UnmarshalJSON(b []byte) error {
	var tuple []json.RawMessage
	if err := json.Unmarshal(b, &tuple); err != nil {
		return err
	}
	if len(tuple) < 2 {
		return nil
	}
	if err := json.Unmarshal(tuple[0], &it.Number); err != nil {
		return err
	}
	return json.Unmarshal(tuple[1], &it.PromptID)
}

package generate

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// FuzzParse feeds arbitrary bytes to every parser of server answers: none
// may panic, and every classified error keeps exactly one class.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`{"type":"executing","data":{"node":null,"prompt_id":"p"}}`,
		`{"type":"execution_error","data":{"prompt_id":"p","node_id":"3","exception_type":"torch.OutOfMemoryError","timestamp":1}}`,
		`{"p":{"outputs":{"9":{"images":[{"filename":"a.png","subfolder":"","type":"output"}]}},"status":{"status_str":"success","completed":true,"messages":[["execution_start",{"timestamp":1}]]}}}`,
		`{"error":{"type":"prompt_outputs_failed_validation","message":"m","details":"d"},"node_errors":{"4":{"errors":[{"type":"value_not_in_list","message":"Value not in list","details":"x"}],"class_type":"CheckpointLoaderSimple"}}}`,
		`{"queue_running":[[1,"r",{},{},["9"]]],"queue_pending":[[2.5,"a",{},{},[]]]}`,
		`{"error":"text"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, ok := decodeMessage(data); ok {
			_ = m.Terminal()
		}
		var all map[string]*HistoryEntry
		if json.Unmarshal(data, &all) == nil {
			for id, h := range all {
				if h == nil {
					continue
				}
				h.PromptID = id
				_ = h.Images()
				if err := h.Err(); err != nil {
					classes := 0
					for _, k := range []error{comfybatch.ErrTransient, comfybatch.ErrExecution, comfybatch.ErrInterrupted} {
						if errors.Is(err, k) {
							classes++
						}
					}
					if classes != 1 {
						t.Errorf("history error %v has %d classes", err, classes)
					}
				}
			}
		}
		pe := parsePromptError(data)
		if !errors.Is(pe, comfybatch.ErrInvalid) || errors.Is(pe, comfybatch.ErrTransient) {
			t.Errorf("prompt error %v misclassified", pe)
		}
		_ = pe.Error()
		var q struct {
			Running []QueueItem `json:"queue_running"`
			Pending []QueueItem `json:"queue_pending"`
		}
		if json.Unmarshal(data, &q) == nil {
			sortQueue(q.Pending)
		}
	})
}

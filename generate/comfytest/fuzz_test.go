package comfytest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzPostPrompt feeds arbitrary bodies to POST /prompt. Properties: no
// panic; only the status codes ComfyUI uses; a 200 carries a prompt_id and
// a 400 an error object with a type.
func FuzzPostPrompt(f *testing.F) {
	wf, err := os.ReadFile("testdata/txt2img_api.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"prompt": ` + string(wf) + `}`))
	f.Add([]byte(`{"prompt": ` + string(wf) + `, "front": true, "client_id": "x", "number": 3.5}`))
	f.Add([]byte(`{"prompt": {"1": {"class_type": "SaveImage", "inputs": {"images": [1, 0]}}}}`))
	f.Add([]byte(`{"prompt": {"1": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}}`))
	f.Add([]byte(`{"prompt": [], "prompt_id": null}`))
	fixtures, _ := filepath.Glob("testdata/fixtures/*.json")
	for _, p := range fixtures {
		var fx fixture
		if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &fx) == nil && fx.Body != nil {
			f.Add([]byte(fx.Body))
		}
	}
	sim, err := New(Options{TimeScale: 0.0001})
	if err != nil {
		f.Fatal(err)
	}
	defer sim.Close()
	// Down pauses the worker, so accepted prompts are queued but never run
	// (a mutated width or batch_size could make one huge image); requests go
	// to the router directly, past the Down check in ServeHTTP.
	sim.SetFaults(Faults{Down: true})
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			sim.mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/prompt", bytes.NewReader(body)))
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("POST /prompt hangs on %q", body)
		}
		sim.mu.Lock()
		if len(sim.queue) > 100 {
			sim.queue = nil // nothing runs while Down: keep memory flat
		}
		sim.mu.Unlock()
		switch w.Code {
		case 200:
			var ok struct {
				PromptID *string `json:"prompt_id"`
			}
			if json.Unmarshal(w.Body.Bytes(), &ok) != nil || ok.PromptID == nil {
				t.Fatalf("200 without prompt_id: %s", w.Body)
			}
		case 400:
			var bad struct {
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
				NodeErrors map[string]any `json:"node_errors"`
			}
			if json.Unmarshal(w.Body.Bytes(), &bad) != nil || bad.Error.Type == "" || bad.NodeErrors == nil {
				t.Fatalf("400 without error type or node_errors: %s", w.Body)
			}
		case http.StatusInternalServerError, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

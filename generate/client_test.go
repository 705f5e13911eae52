package generate

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
)

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return NewClient(srv.URL, srv.Client(), ClientOptions{Headers: map[string]string{"X-Test": "1"}})
}

func TestSubmitSendsPromptIDAndExactSeed(t *testing.T) {
	var got map[string]json.RawMessage
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prompt" || r.Header.Get("X-Test") != "1" {
			t.Errorf("request %s %s header %q", r.Method, r.URL.Path, r.Header.Get("X-Test"))
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		var id string
		_ = json.Unmarshal(got["prompt_id"], &id)
		io.WriteString(w, `{"prompt_id":"`+id+`","number":3,"node_errors":{}}`)
	})
	wf := `{"3":{"class_type":"KSampler","inputs":{"seed":18446744073709551615}}}`
	resp, err := c.Submit(t.Context(), SubmitRequest{Prompt: json.RawMessage(wf), ClientID: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(resp.PromptID) {
		t.Errorf("prompt id %q is not a lowercase UUIDv4", resp.PromptID)
	}
	if !strings.Contains(string(got["prompt"]), "18446744073709551615") {
		t.Errorf("seed lost: prompt sent %s", got["prompt"])
	}
	if string(got["client_id"]) != `"abc"` {
		t.Errorf("client_id = %s, want \"abc\"", got["client_id"])
	}
	if resp.Number.String() != "3" || len(resp.NodeErrors) != 0 {
		t.Errorf("response = %+v", resp)
	}
}

func TestSubmitClassifiesFailures(t *testing.T) {
	const body400 = `{"error":{"type":"prompt_outputs_failed_validation","message":"Prompt outputs failed validation","details":"x","extra_info":{}},
	"node_errors":{"4":{"errors":[{"type":"value_not_in_list","message":"Value not in list","details":"ckpt_name: 'missing.safetensors' not in ['a.safetensors']","extra_info":{}}],"dependent_outputs":["9"],"class_type":"CheckpointLoaderSimple"}}}`
	tests := []struct {
		name    string
		status  int
		body    string
		want    error
		wantMsg string
	}{
		{"400 node errors", 400, body400, comfybatch.ErrInvalid, "node 4: (CheckpointLoaderSimple) Value not in list: ckpt_name: 'missing.safetensors'"},
		{"500", 500, "boom", comfybatch.ErrTransient, "HTTP 500"},
		{"403 origin", 403, "", comfybatch.ErrInvalid, "HTTP 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := c.Submit(t.Context(), SubmitRequest{Prompt: json.RawMessage(`{}`)})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Submit = %v, want %v containing %q", err, tt.want, tt.wantMsg)
			}
			if tt.want == comfybatch.ErrInvalid && errors.Is(err, comfybatch.ErrTransient) {
				t.Errorf("Submit = %v is both invalid and transient", err)
			}
		})
	}
	t.Run("400 is a PromptError", func(t *testing.T) {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, body400)
		})
		_, err := c.Submit(t.Context(), SubmitRequest{Prompt: json.RawMessage(`{}`)})
		pe, ok := errors.AsType[*PromptError](err)
		if !ok || pe.Type != "prompt_outputs_failed_validation" || len(pe.NodeErrors["4"]) != 1 {
			t.Errorf("Submit = %#v, want *PromptError with node 4", err)
		}
	})
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := NewClient(url, nil, ClientOptions{})
	if _, err := c.Queue(t.Context()); !errors.Is(err, comfybatch.ErrTransient) {
		t.Errorf("Queue on a closed server = %v, want ErrTransient", err)
	}
	if _, err := c.Connect(t.Context(), "x"); !errors.Is(err, comfybatch.ErrTransient) {
		t.Errorf("Connect on a closed server = %v, want ErrTransient", err)
	}
}

func TestHistory(t *testing.T) {
	const id = "0b6d2c8e-6c2e-4a55-9f6e-1a1f4f1f7b11"
	entries := map[string]string{
		"empty": `{}`,
		"success": `{"` + id + `":{"prompt":[1,"` + id + `",{"3":{"inputs":{"seed":18446744073709551615}}},{},["9"]],
			"outputs":{"12":{"images":[{"filename":"b.png","subfolder":"","type":"output"}]},"5":{"images":[{"filename":"ComfyUI_temp_abcde_00001_.png","subfolder":"","type":"temp"}]},"9":{"images":[{"filename":"a.png","subfolder":"s","type":"output"}]}},
			"status":{"status_str":"success","completed":true,"messages":[["execution_start",{"prompt_id":"` + id + `","timestamp":1000}],["execution_success",{"prompt_id":"` + id + `","timestamp":3500}]]}}}`,
		"oom":         `{"` + id + `":{"outputs":{},"status":{"status_str":"error","completed":false,"messages":[["execution_error",{"prompt_id":"` + id + `","node_id":"3","node_type":"KSampler","exception_type":"torch.OutOfMemoryError","exception_message":"CUDA out of memory\n","timestamp":5}]]}}}`,
		"exec":        `{"` + id + `":{"outputs":{},"status":{"status_str":"error","completed":false,"messages":[["execution_error",{"prompt_id":"` + id + `","node_id":"8","node_type":"VAEDecode","exception_type":"RuntimeError","exception_message":"shape mismatch\n","timestamp":5}]]}}}`,
		"interrupted": `{"` + id + `":{"outputs":{},"status":{"status_str":"error","completed":false,"messages":[["execution_interrupted",{"prompt_id":"` + id + `","node_id":"3","node_type":"KSampler","executed":[],"timestamp":5}]]}}}`,
	}
	var which string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/history/"+id {
			t.Errorf("path %s", r.URL.Path)
		}
		io.WriteString(w, entries[which])
	})
	which = "empty"
	if h, err := c.History(t.Context(), id); h != nil || err != nil {
		t.Errorf("History({}) = %v, %v; want nil, nil", h, err)
	}
	which = "success"
	h, err := c.History(t.Context(), id)
	if err != nil || h == nil {
		t.Fatalf("History = %v, %v", h, err)
	}
	imgs := h.Images()
	if len(imgs) != 3 || imgs[0].Filename != "a.png" || imgs[0].Subfolder != "s" || imgs[1].Filename != "b.png" || imgs[2].Type != "temp" {
		t.Errorf("Images = %+v, want a.png (node 9), b.png (node 12), then the preview of node 5", imgs)
	}
	if h.Err() != nil {
		t.Errorf("Err of a success = %v", h.Err())
	}
	if ts, ok := h.timestamp("execution_success"); !ok || ts != 3500 {
		t.Errorf("success timestamp = %d, %v", ts, ok)
	}
	for _, tt := range []struct {
		which string
		want  error
		msg   string
	}{
		{"oom", comfybatch.ErrTransient, "node 3 (KSampler): torch.OutOfMemoryError: CUDA out of memory"},
		{"exec", comfybatch.ErrExecution, "node 8 (VAEDecode): RuntimeError: shape mismatch"},
		{"interrupted", comfybatch.ErrInterrupted, "interrupted at node 3"},
	} {
		which = tt.which
		h, err := c.History(t.Context(), id)
		if err != nil || h == nil {
			t.Fatalf("History(%s) = %v, %v", tt.which, h, err)
		}
		got := h.Err()
		if !errors.Is(got, tt.want) || !strings.Contains(got.Error(), tt.msg) {
			t.Errorf("History(%s).Err() = %v, want %v containing %q", tt.which, got, tt.want, tt.msg)
		}
	}
}

func TestQueueSortedAndDeleted(t *testing.T) {
	var deleted []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/queue":
			io.WriteString(w, `{"queue_running":[[1,"r",{},{},["9"]]],"queue_pending":[[7,"c",{},{},[]],[-3,"a",{},{},[]],[4.5,"b",{},{},[]]]}`)
		case r.Method == http.MethodPost && r.URL.Path == "/queue":
			var body struct{ Delete []string }
			_ = json.NewDecoder(r.Body).Decode(&body)
			deleted = body.Delete
		default:
			http.NotFound(w, r)
		}
	})
	q, err := c.Queue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, it := range q.Pending {
		order = append(order, it.PromptID)
	}
	if strings.Join(order, ",") != "a,b,c" || !q.IsRunning("r") || !q.IsPending("b") || q.Has("zzz") {
		t.Errorf("Queue = %+v, want pending a,b,c and running r", q)
	}
	if err := c.DeleteQueued(t.Context(), "a", "c"); err != nil || strings.Join(deleted, ",") != "a,c" {
		t.Errorf("DeleteQueued = %v, server saw %v", err, deleted)
	}
}

func TestUploadAndView(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload/image":
			f, hdr, err := r.FormFile("image")
			if err != nil {
				t.Errorf("upload: %v", err)
				return
			}
			data, _ := io.ReadAll(f)
			if hdr.Filename != "in.png" || string(data) != "PNGDATA" || r.FormValue("type") != "input" {
				t.Errorf("upload got %s %q type %q", hdr.Filename, data, r.FormValue("type"))
			}
			io.WriteString(w, `{"name":"in (1).png","subfolder":"","type":"input"}`)
		case "/view":
			q := r.URL.Query()
			if q.Get("filename") != "x.png" || q.Get("subfolder") != "sub" || q.Get("type") != "temp" {
				t.Errorf("view query %v", q)
			}
			io.WriteString(w, "IMG")
		}
	})
	name, err := c.Upload(t.Context(), "in.png", []byte("PNGDATA"))
	if err != nil || name != "in (1).png" {
		t.Errorf("Upload = %q, %v; want the server's name", name, err)
	}
	data, err := c.View(t.Context(), ImageRef{Filename: "x.png", Subfolder: "sub", Type: "temp"})
	if err != nil || string(data) != "IMG" {
		t.Errorf("View = %q, %v", data, err)
	}
}

func TestDecodeMessageTerminal(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"type":"execution_success","data":{"prompt_id":"p","timestamp":1}}`, true},
		{`{"type":"execution_error","data":{"prompt_id":"p","timestamp":1}}`, true},
		{`{"type":"execution_error","data":{"prompt_id":"p","exception_type":"ExecutionBlocked"}}`, false},
		{`{"type":"execution_interrupted","data":{"prompt_id":"p","timestamp":1}}`, true},
		{`{"type":"executing","data":{"node":null,"prompt_id":"p"}}`, true},
		{`{"type":"executing","data":{"node":"3","prompt_id":"p"}}`, false},
		{`{"type":"executing","data":{"node":"3"}}`, false},
		{`{"type":"status","data":{"status":{"exec_info":{"queue_remaining":0}}}}`, false},
	}
	for _, tt := range tests {
		m, ok := decodeMessage([]byte(tt.in))
		if !ok || m.Terminal() != tt.want {
			t.Errorf("decodeMessage(%s) = %+v, %v; Terminal want %v", tt.in, m, ok, tt.want)
		}
	}
	if _, ok := decodeMessage([]byte(`{"type":"progress","data":{"value":NaN}}`)); ok {
		t.Errorf("NaN message decoded")
	}
}

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		body string
		n    int64
		want string
		err  bool
	}{
		{"hello", 5, "hello", false},
		{"hello", -1, "hello", false},
		{"hello world", 5, "hello world", false}, // longer than declared: still whole
		{"hel", 5, "hel", true},                  // shorter: an error
		{"", 0, "", false},
	} {
		got, err := readBody(strings.NewReader(tc.body), tc.n)
		if string(got) != tc.want || (err != nil) != tc.err {
			t.Errorf("readBody(%q, %d) = %q, %v; want %q, error %v", tc.body, tc.n, got, err, tc.want, tc.err)
		}
	}
}

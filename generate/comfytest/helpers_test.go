package comfytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// newSim starts a Server behind httptest; both are closed at cleanup.
func newSim(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.TimeScale == 0 {
		opts.TimeScale = 0.001
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sim, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(func() {
		sim.Close()
		ts.Close()
	})
	return sim, ts.URL
}

// txt2img returns the demo workflow as a mutable graph.
func txt2img(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/txt2img_api.json")
	if err != nil {
		t.Fatal(err)
	}
	var g map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&g); err != nil {
		t.Fatal(err)
	}
	return g
}

// setPath sets "node.inputs.key" (or "node") in a graph; value nil deletes.
func setPath(g map[string]any, path string, v any, del bool) {
	parts := strings.Split(path, ".")
	var m = g
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	if del {
		delete(m, parts[len(parts)-1])
	} else {
		m[parts[len(parts)-1]] = v
	}
}

type httpResult struct {
	status int
	body   []byte
	header http.Header
}

func (r httpResult) json(t *testing.T) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

func do(t *testing.T, method, url string, body any) httpResult {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{resp.StatusCode, b, resp.Header}
}

type wsMsg struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	Bin  []byte         `json:"-"` // a binary frame, Type "binary"
}

// wsClient reads one websocket into a channel. The reader goroutine ends
// when the socket closes; cleanup closes it and waits.
type wsClient struct {
	c    *websocket.Conn
	msgs chan wsMsg
	wg   sync.WaitGroup
}

func dialWS(t *testing.T, base, clientID string) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws?clientId=" + clientID
	c, _, err := websocket.DefaultDialer.DialContext(t.Context(), u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	w := &wsClient{c: c, msgs: make(chan wsMsg, 10000)}
	w.wg.Go(func() {
		defer close(w.msgs)
		for {
			typ, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.BinaryMessage {
				w.msgs <- wsMsg{Type: "binary", Bin: b}
				continue
			}
			var m wsMsg
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if dec.Decode(&m) == nil {
				w.msgs <- m
			}
		}
	})
	t.Cleanup(func() {
		c.Close()
		w.wg.Wait()
	})
	return w
}

// next returns the next message, failing the test after a deadline.
func (w *wsClient) next(t *testing.T) (wsMsg, bool) {
	t.Helper()
	select {
	case m, ok := <-w.msgs:
		return m, ok
	case <-time.After(20 * time.Second):
		t.Fatalf("no websocket message within 20s")
		return wsMsg{}, false
	}
}

// until collects messages up to and including the first one for which stop
// returns true.
func (w *wsClient) until(t *testing.T, stop func(wsMsg) bool) []wsMsg {
	t.Helper()
	var out []wsMsg
	for {
		m, ok := w.next(t)
		if !ok {
			t.Fatalf("websocket closed after %v", types(out))
		}
		out = append(out, m)
		if stop(m) {
			return out
		}
	}
}

func finished(promptID string) func(wsMsg) bool {
	return func(m wsMsg) bool {
		return m.Type == "executing" && m.Data["node"] == nil && m.Data["prompt_id"] == promptID
	}
}

func types(ms []wsMsg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Type
	}
	return out
}

// submit posts a prompt with a fresh prompt_id and returns it with the response.
func submit(t *testing.T, base string, g map[string]any, clientID string) (string, httpResult) {
	t.Helper()
	id := newUUID()
	body := map[string]any{"prompt": g, "prompt_id": id}
	if clientID != "" {
		body["client_id"] = clientID
	}
	return id, do(t, "POST", base+"/prompt", body)
}

// exactKeys are compared by value in shape comparisons; other strings and
// numbers only by type.
var exactKeys = map[string]bool{"type": true, "message": true, "details": true, "class_type": true, "input_name": true,
	"node_type": true, "exception_type": true, "status_str": true, "received_type": true, "node_id": true, "filename": true,
	"state": false}

// optionalKeys may be missing from a recorded object: create_time is added
// to extra_data by newer servers only.
var optionalKeys = map[string]bool{"create_time": true}

// anyKeys are compared by top-level JSON type only.
var anyKeys = map[string]bool{"input_config": true, "traceback": true, "current_inputs": true, "received_value": true, "linked_node": true}

// shapeDiff compares got with the recorded want: same JSON types, same
// object keys ("*" in want stands for any key; {} for any object), arrays
// element-wise when the lengths match, else every element against want[0].
func shapeDiff(path, key string, want, got any) []string {
	kind := func(v any) string {
		switch v.(type) {
		case nil:
			return "null"
		case bool:
			return "bool"
		case string:
			return "string"
		case json.Number, float64:
			return "number"
		case []any:
			return "array"
		case map[string]any:
			return "object"
		}
		return fmt.Sprintf("%T", v)
	}
	if kind(want) != kind(got) {
		return []string{fmt.Sprintf("%s: got %s %v, want %s", path, kind(got), got, kind(want))}
	}
	if anyKeys[key] {
		return nil
	}
	var diffs []string
	switch w := want.(type) {
	case string:
		if exactKeys[key] && w != got.(string) {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", path, got, w))
		}
	case map[string]any:
		g := got.(map[string]any)
		if len(w) == 0 {
			return nil
		}
		if star, ok := w["*"]; ok {
			for k, v := range g {
				diffs = append(diffs, shapeDiff(path+"."+k, k, star, v)...)
			}
			return diffs
		}
		var keys []string
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok && !optionalKeys[k] {
				diffs = append(diffs, fmt.Sprintf("%s: unexpected key %q", path, k))
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s: missing key %q", path, k))
				continue
			}
			diffs = append(diffs, shapeDiff(path+"."+k, k, w[k], gv)...)
		}
	case []any:
		g := got.([]any)
		switch {
		case len(w) == len(g):
			for i := range w {
				diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), key, w[i], g[i])...)
			}
		case len(w) > 0:
			for i := range g {
				diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), key, w[0], g[i])...)
			}
		}
	}
	return diffs
}

// typesMatchPattern matches message types against a recorded sequence in
// which "..." stands for any run of progress and progress_state messages.
func typesMatchPattern(pattern, got []string) bool {
	if len(pattern) == 0 {
		return len(got) == 0
	}
	if pattern[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if typesMatchPattern(pattern[1:], got[i:]) {
				return true
			}
			if i < len(got) && got[i] != "progress" && got[i] != "progress_state" {
				return false
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == pattern[0] && typesMatchPattern(pattern[1:], got[1:])
}

func httpPost(t *testing.T, url, ctype string, body []byte) (httpResult, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", url, bytes.NewReader(body))
	if err != nil {
		return httpResult{}, err
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, b, resp.Header}, err
}

func jsonNumber(n int) json.Number { return json.Number(fmt.Sprint(n)) }

// deadline is t.Context with a 20 s limit, for waits that must not hang a run.
func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

package comfytest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slowSim is a server whose sampler steps take 2ms, so a prompt with many
// steps stays running until it is interrupted.
func slowSim(t *testing.T) (*Server, string) {
	return newSim(t, Options{TimeScale: 0.05})
}

func withSteps(t *testing.T, steps int, seed int) map[string]any {
	g := txt2img(t)
	setPath(g, "3.inputs.steps", steps, false)
	setPath(g, "3.inputs.seed", seed, false)
	setPath(g, "5.inputs.width", 64, false) // small images keep -race runs fast
	setPath(g, "5.inputs.height", 64, false)
	return g
}

func waitType(t *testing.T, ws *wsClient, typ, promptID string) wsMsg {
	t.Helper()
	ms := ws.until(t, func(m wsMsg) bool { return m.Type == typ && m.Data["prompt_id"] == promptID })
	return ms[len(ms)-1]
}

func TestHistoryAppearsOnlyAfterTerminalEvent(t *testing.T) {
	// HistoryDelay 1000s × TimeScale 0.001 = 1s between execution_success and the write.
	_, base := newSim(t, Options{HistoryDelay: 1000 * time.Second})
	ws := dialWS(t, base, "c1")
	id, res := submit(t, base, withSteps(t, 2, 1), "c1")
	if res.status != 200 {
		t.Fatalf("POST /prompt = %d %s", res.status, res.body)
	}
	if got := string(do(t, "GET", base+"/history/"+id, nil).body); got != "{}" {
		t.Errorf("history before run = %s, want {}", got)
	}
	waitType(t, ws, "execution_success", id)
	if got := string(do(t, "GET", base+"/history/"+id, nil).body); got != "{}" {
		t.Errorf("history right after execution_success = %s, want {}", got)
	}
	rest := ws.until(t, finished(id))
	if got := types(rest); !slices.Equal(got, []string{"status", "executing"}) {
		t.Errorf("after execution_success got %v, want [status executing]", got)
	}
	h := do(t, "GET", base+"/history/"+id, nil).json(t).(map[string]any)
	if _, ok := h[id]; !ok {
		t.Errorf("history after executing null = %v, want entry %s", h, id)
	}
	if got := do(t, "GET", base+"/api/history/unknown-id", nil); got.status != 200 || string(got.body) != "{}" {
		t.Errorf("GET /api/history/unknown-id = %d %s, want 200 {}", got.status, got.body)
	}
}

func TestHistoryMaxItemsAndDelete(t *testing.T) {
	sim, base := newSim(t, Options{})
	var ids []string
	for i := range 3 {
		id, _ := submit(t, base, withSteps(t, 1, i), "")
		ids = append(ids, id)
	}
	if err := sim.WaitHistory(deadline(t), ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := sim.WaitIdle(deadline(t)); err != nil {
		t.Fatal(err)
	}
	keys := func(body []byte) []string {
		var out []string
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			out = append(out, k.(string))
			var skip json.RawMessage
			dec.Decode(&skip)
		}
		return out
	}
	if got := keys(do(t, "GET", base+"/history?max_items=2", nil).body); !slices.Equal(got, ids[1:]) {
		t.Errorf("max_items=2 = %v, want newest %v", got, ids[1:])
	}
	if got := keys(do(t, "GET", base+"/history", nil).body); !slices.Equal(got, ids) {
		t.Errorf("history order = %v, want %v", got, ids)
	}
	do(t, "POST", base+"/history", map[string]any{"delete": []string{ids[0]}})
	if got := keys(do(t, "GET", base+"/history", nil).body); !slices.Equal(got, ids[1:]) {
		t.Errorf("after delete = %v, want %v", got, ids[1:])
	}
	do(t, "POST", base+"/history", map[string]any{"clear": true})
	if got := string(do(t, "GET", base+"/history", nil).body); got != "{}" {
		t.Errorf("after clear = %s", got)
	}
}

func TestQueueFrontDeleteAndInterrupt(t *testing.T) {
	_, base := slowSim(t)
	ws := dialWS(t, base, "c1")
	a, _ := submit(t, base, withSteps(t, 10000, 1), "c1")
	waitType(t, ws, "execution_start", a)
	b, _ := submit(t, base, withSteps(t, 1, 2), "c1")
	c, _ := submit(t, base, withSteps(t, 1, 3), "c1")
	front := do(t, "POST", base+"/prompt", map[string]any{"prompt": withSteps(t, 1, 4), "client_id": "c1", "front": true, "prompt_id": newUUID()})
	fid := front.json(t).(map[string]any)["prompt_id"].(string)
	if n := front.json(t).(map[string]any)["number"].(json.Number); !strings.HasPrefix(string(n), "-") {
		t.Errorf("front number = %s, want negative", n)
	}
	q := do(t, "GET", base+"/queue", nil).json(t).(map[string]any)
	running, pending := q["queue_running"].([]any), q["queue_pending"].([]any)
	if len(running) != 1 || running[0].([]any)[1] != a || len(running[0].([]any)) != 5 {
		t.Fatalf("queue_running = %v, want [%s] as a 5-element tuple", running, a)
	}
	if len(pending) != 3 {
		t.Fatalf("queue_pending has %d items, want 3", len(pending))
	}
	if r := do(t, "GET", base+"/prompt", nil).json(t).(map[string]any); r["exec_info"].(map[string]any)["queue_remaining"] != json.Number("4") {
		t.Errorf("GET /prompt = %v, want queue_remaining 4", r)
	}
	// Deleting the running prompt does nothing; deleting a pending one removes it.
	if r := do(t, "POST", base+"/queue", map[string]any{"delete": []string{b, a}}); r.status != 200 || len(r.body) != 0 {
		t.Errorf("POST /queue delete = %d %q, want 200 and an empty body", r.status, r.body)
	}
	q = do(t, "GET", base+"/queue", nil).json(t).(map[string]any)
	if len(q["queue_pending"].([]any)) != 2 || len(q["queue_running"].([]any)) != 1 {
		t.Errorf("after delete: %d pending, %d running; want 2, 1", len(q["queue_pending"].([]any)), len(q["queue_running"].([]any)))
	}
	// A targeted interrupt of a prompt that is not running is a no-op.
	do(t, "POST", base+"/interrupt", map[string]any{"prompt_id": c})
	do(t, "POST", base+"/interrupt", nil) // global: stops a
	msgs := ws.until(t, finished(c))
	var order []string
	for _, m := range msgs {
		switch m.Type {
		case "execution_interrupted", "execution_start":
			order = append(order, m.Type+":"+m.Data["prompt_id"].(string))
		}
	}
	want := []string{"execution_interrupted:" + a, "execution_start:" + fid, "execution_start:" + c}
	if !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
	h := do(t, "GET", base+"/history/"+a, nil).json(t).(map[string]any)[a].(map[string]any)
	st := h["status"].(map[string]any)
	if st["status_str"] != "error" || st["completed"] != false {
		t.Errorf("interrupted history status = %v, want error/false", st)
	}
	if got := string(do(t, "GET", base+"/history/"+b, nil).body); got != "{}" {
		t.Errorf("deleted prompt has history %s", got)
	}
}

func TestInterruptWhileIdleDoesNotAffectNextPrompt(t *testing.T) {
	sim, base := newSim(t, Options{})
	do(t, "POST", base+"/interrupt", "")
	id, _ := submit(t, base, withSteps(t, 3, 1), "")
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	h := do(t, "GET", base+"/history/"+id, nil).json(t).(map[string]any)[id].(map[string]any)
	if st := h["status"].(map[string]any)["status_str"]; st != "success" {
		t.Errorf("status_str = %v, want success", st)
	}
}

func TestPromptNumbersAndCoercion(t *testing.T) {
	sim, base := newSim(t, Options{})
	g := txt2img(t)
	setPath(g, "3.inputs.steps", "3", false)
	if r := do(t, "POST", base+"/prompt", map[string]any{"prompt": map[string]any{}}); r.status != 400 {
		t.Fatalf("empty prompt = %d", r.status)
	}
	id, r := submit(t, base, g, "")
	if n := r.json(t).(map[string]any)["number"]; n != json.Number("1") {
		t.Errorf("number after a rejected prompt = %v, want 1 (the counter counts 400s)", n)
	}
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	h := do(t, "GET", base+"/history/"+id, nil).json(t).(map[string]any)[id].(map[string]any)
	steps := h["prompt"].([]any)[2].(map[string]any)["3"].(map[string]any)["inputs"].(map[string]any)["steps"]
	if steps != json.Number("3") {
		t.Errorf("stored steps = %#v, want the number 3", steps)
	}
	r = do(t, "POST", base+"/prompt", map[string]any{"prompt": withSteps(t, 1, 9), "number": 12.5})
	if !strings.Contains(string(r.body), `"number":12.5`) {
		t.Errorf("explicit number echo = %s", r.body)
	}
	r = do(t, "POST", base+"/prompt", map[string]any{"prompt": withSteps(t, 1, 10), "number": 12})
	if !strings.Contains(string(r.body), `"number":12.0`) {
		t.Errorf("explicit number is a float: %s, want 12.0", r.body)
	}
	r = do(t, "POST", base+"/prompt", map[string]any{"prompt": withSteps(t, 1, 11), "prompt_id": "my-own-id"})
	if r.json(t).(map[string]any)["prompt_id"] != "my-own-id" {
		t.Errorf("B mode must honour any prompt_id: %s", r.body)
	}
}

func TestStrictPromptID(t *testing.T) {
	_, base := newSim(t, Options{StrictPromptID: true})
	for _, id := range []string{"my-own-id", "0B6D2C8E-6C2E-4A55-9F6E-1A1F4F1F7B11"} {
		r := do(t, "POST", base+"/prompt", map[string]any{"prompt": withSteps(t, 1, 1), "prompt_id": id})
		if r.status != 400 || !strings.Contains(string(r.body), `"invalid_prompt_id"`) {
			t.Errorf("prompt_id %q = %d %s, want 400 invalid_prompt_id", id, r.status, r.body)
		}
	}
	if r := do(t, "POST", base+"/prompt", map[string]any{"prompt": withSteps(t, 1, 1), "prompt_id": newUUID()}); r.status != 200 {
		t.Errorf("canonical UUID = %d %s", r.status, r.body)
	}
}

func TestRoutingWithoutClientID(t *testing.T) {
	sim, base := newSim(t, Options{})
	other := dialWS(t, base, "someone-else")
	other.next(t)
	events, stop := sim.Subscribe()
	defer stop()
	id, _ := submit(t, base, withSteps(t, 2, 1), "")
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	// The history event follows the last message, so everything sent is buffered by now.
	for e := range events {
		if e.Type == "history" {
			break
		}
	}
	got := other.until(t, func(m wsMsg) bool {
		return m.Type == "status" && m.Data["status"].(map[string]any)["exec_info"].(map[string]any)["queue_remaining"] == json.Number("0")
	})
	seen := map[string]bool{}
	for _, m := range got {
		seen[m.Type] = true
	}
	for _, typ := range []string{"execution_start", "executing", "executed", "execution_success"} {
		if seen[typ] {
			t.Errorf("%s was delivered to another client for a prompt without client_id", typ)
		}
	}
	if !seen["progress"] || !seen["progress_state"] || !seen["status"] {
		t.Errorf("broadcasts seen = %v, want status, progress and progress_state", seen)
	}
}

func TestReconnectReplaysExecutingAndFeatureFlags(t *testing.T) {
	_, base := slowSim(t)
	ws := dialWS(t, base, "c1")
	id, _ := submit(t, base, withSteps(t, 10000, 1), "c1")
	waitType(t, ws, "progress", id)
	again := dialWS(t, base, "c1")
	first, _ := again.next(t)
	second, _ := again.next(t)
	if first.Type != "status" || second.Type != "executing" || second.Data["node"] != "3" || len(second.Data) != 1 {
		t.Errorf("reconnect got %v %v then %v %v; want status then executing {node: 3} only", first.Type, first.Data, second.Type, second.Data)
	}
	if err := again.c.WriteJSON(map[string]any{"type": "feature_flags", "data": map[string]any{"supports_preview_metadata": true}}); err != nil {
		t.Fatal(err)
	}
	ms := again.until(t, func(m wsMsg) bool { return m.Type == "feature_flags" })
	if f := ms[len(ms)-1].Data; f["supports_preview_metadata"] != true || f["max_upload_size"] == nil {
		t.Errorf("feature_flags reply = %v", f)
	}
	do(t, "POST", base+"/interrupt", map[string]any{"prompt_id": id})
	again.until(t, finished(id))
}

func TestCachingAndFree(t *testing.T) {
	cases := []struct {
		name       string
		opts       Options
		free       bool
		wantCached int
	}{
		{"classic", Options{}, false, 7},
		{"free_memory", Options{}, true, 0},
		{"cache-none", Options{CacheNone: true}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, base := newSim(t, tc.opts)
			ws := dialWS(t, base, "c1")
			g := withSteps(t, 2, 7)
			id1, _ := submit(t, base, g, "c1")
			ws.until(t, finished(id1))
			if tc.free {
				if r := do(t, "POST", base+"/free", map[string]any{"free_memory": true}); r.status != 200 {
					t.Fatalf("POST /free = %d", r.status)
				}
			}
			id2, _ := submit(t, base, g, "c1")
			msgs := ws.until(t, finished(id2))
			cached := msgs[slices.IndexFunc(msgs, func(m wsMsg) bool { return m.Type == "execution_cached" })].Data["nodes"].([]any)
			if len(cached) != tc.wantCached {
				t.Errorf("execution_cached = %v, want %d nodes", cached, tc.wantCached)
			}
			files, _ := os.ReadDir(sim.OutputDir())
			wantFiles := 2
			if tc.wantCached == 7 {
				wantFiles = 1
			}
			if len(files) != wantFiles {
				t.Errorf("%d files written, want %d", len(files), wantFiles)
			}
		})
	}
}

func TestModelLoadsCounted(t *testing.T) {
	sim, base := newSim(t, Options{})
	ckpts := []string{"sd_xl_base_1.0.safetensors", "sd_xl_base_1.0.safetensors", "dreamshaper_8.safetensors", "sd_xl_base_1.0.safetensors"}
	var last string
	for i, c := range ckpts {
		g := withSteps(t, 1, i)
		setPath(g, "4.inputs.ckpt_name", c, false)
		last, _ = submit(t, base, g, "")
	}
	if err := sim.WaitHistory(deadline(t), last); err != nil {
		t.Fatal(err)
	}
	if st := sim.Stats(); st.ModelLoads != 3 || st.Prompts != 4 || st.Succeeded != 4 || st.Busy <= 0 {
		t.Errorf("Stats = %+v, want 3 model loads, 4 prompts, busy > 0", st)
	}
}

func TestRestartForgetsEverything(t *testing.T) {
	sim, base := slowSim(t)
	ws := dialWS(t, base, "c1")
	done, _ := submit(t, base, withSteps(t, 1, 1), "c1")
	ws.until(t, finished(done))
	g := withSteps(t, 1, 2)
	setPath(g, "9.class_type", "PreviewImage", false)
	setPath(g, "9.inputs", map[string]any{"images": []any{"8", 0}}, false)
	prev, _ := submit(t, base, g, "c1")
	ws.until(t, finished(prev))
	if tmp, _ := os.ReadDir(sim.TempDir()); len(tmp) != 1 {
		t.Fatalf("temp dir has %d files, want the preview", len(tmp))
	}
	running, _ := submit(t, base, withSteps(t, 10000, 3), "c1")
	waitType(t, ws, "execution_start", running)
	submit(t, base, withSteps(t, 1, 4), "c1")

	sim.Restart()
	for {
		if _, ok := <-ws.msgs; !ok {
			break // the socket was dropped
		}
	}
	q := do(t, "GET", base+"/queue", nil).json(t).(map[string]any)
	if len(q["queue_running"].([]any)) != 0 || len(q["queue_pending"].([]any)) != 0 {
		t.Errorf("queue after restart = %v", q)
	}
	if got := string(do(t, "GET", base+"/history", nil).body); got != "{}" {
		t.Errorf("history after restart = %s", got)
	}
	if tmp, _ := os.ReadDir(sim.TempDir()); len(tmp) != 0 {
		t.Errorf("temp dir after restart has %d files", len(tmp))
	}
	if out, _ := os.ReadDir(sim.OutputDir()); len(out) != 1 {
		t.Errorf("output dir after restart has %d files, want 1 (kept)", len(out))
	}
	_, r := submit(t, base, withSteps(t, 1, 5), "")
	if n := r.json(t).(map[string]any)["number"]; n != json.Number("0") {
		t.Errorf("first number after restart = %v, want 0", n)
	}
	if err := sim.WaitIdle(deadline(t)); err != nil {
		t.Fatal(err)
	}
	if got := string(do(t, "GET", base+"/history/"+running, nil).body); got != "{}" {
		t.Errorf("the prompt running at restart reappeared in history: %s", got)
	}
}

func TestFaults(t *testing.T) {
	t.Run("http500", func(t *testing.T) {
		sim, base := newSim(t, Options{})
		sim.SetFaults(Faults{HTTP500Rate: 0.5, Seed: 1})
		n := 0
		for range 100 {
			r := do(t, "GET", base+"/system_stats", nil)
			if r.status == 500 {
				n++
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("500 Content-Type = %q, want text/plain", ct)
				}
			}
		}
		if n < 30 || n > 70 {
			t.Errorf("%d of 100 requests failed at rate 0.5", n)
		}
	})
	t.Run("down", func(t *testing.T) {
		sim, base := newSim(t, Options{})
		ws := dialWS(t, base, "c1")
		ws.next(t)
		sim.SetFaults(Faults{Down: true})
		if _, ok := <-ws.msgs; ok {
			for range ws.msgs {
			}
		}
		if r := do(t, "GET", base+"/queue", nil); r.status != 503 {
			t.Errorf("GET /queue while down = %d, want 503", r.status)
		}
		sim.SetFaults(Faults{})
		if r := do(t, "GET", base+"/queue", nil); r.status != 200 {
			t.Errorf("GET /queue after recovery = %d", r.status)
		}
	})
	t.Run("ws_drop", func(t *testing.T) {
		sim, base := newSim(t, Options{})
		sim.SetFaults(Faults{WSDropEvery: 20 * time.Millisecond})
		ws := dialWS(t, base, "c1")
		for range ws.msgs { // ends when the server drops the socket
		}
	})
	for _, tc := range []struct {
		name, typ, node, contains string
		faults                    Faults
	}{
		{"oom", "torch.OutOfMemoryError", "3", "out of memory", Faults{OOMRate: 1}},
		{"runtime", "RuntimeError", "8", "channels", Faults{ExecErrorRate: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, base := newSim(t, Options{})
			sim.SetFaults(tc.faults)
			ws := dialWS(t, base, "c1")
			id, _ := submit(t, base, withSteps(t, 2, 1), "c1")
			msgs := ws.until(t, finished(id))
			i := slices.IndexFunc(msgs, func(m wsMsg) bool { return m.Type == "execution_error" })
			if i < 0 {
				t.Fatalf("no execution_error in %v", types(msgs))
			}
			d := msgs[i].Data
			msg, _ := d["exception_message"].(string)
			if d["exception_type"] != tc.typ || d["node_id"] != tc.node || !strings.Contains(msg, tc.contains) || !strings.HasSuffix(msg, "\n") {
				t.Errorf("execution_error = %v", d)
			}
			if slices.ContainsFunc(msgs, func(m wsMsg) bool { return m.Type == "execution_success" }) {
				t.Error("execution_success after a failure")
			}
			if st := sim.Stats(); st.Errors != 1 {
				t.Errorf("Stats.Errors = %d, want 1", st.Errors)
			}
		})
	}
}

func TestRoutesAndIntrospection(t *testing.T) {
	_, base := newSim(t, Options{Checkpoints: []string{"a.safetensors"}, MaxUploadSize: 1 << 20})
	info := do(t, "GET", base+"/api/object_info", nil)
	if info.status != 200 || !strings.Contains(string(info.body), `"max":18446744073709551615`) {
		t.Errorf("object_info lacks the exact 2^64-1 seed max")
	}
	all := info.json(t).(map[string]any)
	ck := all["CheckpointLoaderSimple"].(map[string]any)["input"].(map[string]any)["required"].(map[string]any)["ckpt_name"].([]any)
	if opts, ok := ck[0].([]any); !ok || len(opts) != 1 || opts[0] != "a.safetensors" {
		t.Errorf("V1 combo = %v, want [[a.safetensors] {...}]", ck)
	}
	flip := all["ImageFlip"].(map[string]any)["input"].(map[string]any)["required"].(map[string]any)["flip_method"].([]any)
	if flip[0] != "COMBO" || flip[1].(map[string]any)["options"] == nil {
		t.Errorf("V3 combo = %v, want [COMBO {options}]", flip)
	}
	for path, want := range map[string]int{
		"/object_info/Nope": 200, "/object_info/KSampler": 200, "/api/system_stats": 200, "/features": 200,
		"/models": 200, "/models/checkpoints": 200, "/models/nope": 404, "/embeddings": 200, "/extensions": 200,
		"/api/prompt": 200, "/api/queue": 200,
	} {
		if r := do(t, "GET", base+path, nil); r.status != want {
			t.Errorf("GET %s = %d, want %d", path, r.status, want)
		}
	}
	if r := do(t, "GET", base+"/object_info/Nope", nil); string(r.body) != "{}" {
		t.Errorf("unknown class = %s, want {}", r.body)
	}
	big := strings.Repeat("x", 1<<20+10)
	if r := do(t, "POST", base+"/prompt", big); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d, want 413", r.status)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/queue", nil)
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("mismatched Origin on loopback = %v %v, want 403", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
}

func TestFleetServesAndClosesCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := StartFleet(3, Options{TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	urls := f.URLs()
	if len(urls) != 3 || len(f.Servers()) != 3 {
		t.Fatalf("URLs = %v", urls)
	}
	seen := map[string]bool{}
	for _, u := range urls {
		seen[u] = true
		if r := do(t, "GET", u+"/system_stats", nil); r.status != 200 {
			t.Errorf("%s: %d", u, r.status)
		}
		ws := dialWS(t, u, "c")
		ws.next(t)
		id, _ := submit(t, u, withSteps(t, 1, 1), "c")
		ws.until(t, finished(id))
	}
	if len(seen) != 3 {
		t.Errorf("URLs not distinct: %v", urls)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 { // the test's own websocket readers end at cleanup
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestListenFleetConsecutivePorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	f, err := ListenFleet("127.0.0.1", port, 2, Options{})
	if err != nil {
		t.Skipf("ports %d-%d not free: %v", port, port+1, err)
	}
	defer f.Close()
	for i, u := range f.URLs() {
		if want := "http://127.0.0.1:" + strconv.Itoa(port+i); u != want {
			t.Errorf("URL %d = %s, want %s", i, u, want)
		}
	}
}

func TestSubscribeAndWaitIdle(t *testing.T) {
	sim, base := newSim(t, Options{})
	events, stop := sim.Subscribe()
	defer stop()
	id, _ := submit(t, base, withSteps(t, 1, 1), "c1") // no socket for c1: events still reach subscribers
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for e := range events {
		got = append(got, e.Type)
		if e.Type == "history" && e.PromptID() == id {
			break
		}
	}
	if got[0] != "status" || !slices.Contains(got, "execution_start") {
		t.Errorf("events = %v", got)
	}
	if _, err := os.Stat(filepath.Join(sim.OutputDir(), "ComfyUI_00001_.png")); err != nil {
		t.Errorf("output file: %v", err)
	}
}

func TestMissingNodeTypeMode(t *testing.T) {
	for _, tc := range []struct {
		opts                 Options
		wantType, wantSubstr string
	}{
		{Options{}, "invalid_prompt", "Cannot execute because node Nope does not exist."},
		{Options{MissingNodeType: true}, "missing_node_type", "Node 'VAE Decode' not found. The custom node may not be installed."},
	} {
		_, base := newSim(t, tc.opts)
		g := txt2img(t)
		setPath(g, "8.class_type", "Nope", false)
		_, r := submit(t, base, g, "")
		e := r.json(t).(map[string]any)["error"].(map[string]any)
		if r.status != 400 || e["type"] != tc.wantType || e["message"] != tc.wantSubstr {
			t.Errorf("MissingNodeType=%v: %d %v", tc.opts.MissingNodeType, r.status, e)
		}
		if tc.opts.MissingNodeType {
			if x := e["extra_info"].(map[string]any); x["node_id"] != "8" || x["class_type"] != "Nope" || x["node_title"] != "VAE Decode" {
				t.Errorf("extra_info = %v", x)
			}
		}
	}
}

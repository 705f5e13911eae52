package comfytest

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
)

// maxHistory is MAXIMUM_HISTORY_SIZE.
const maxHistory = 10000

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		method, path, _ := cutSpace(pattern)
		s.mux.HandleFunc(method+" "+path, h)
		s.mux.HandleFunc(method+" /api"+path, h)
	}
	handle("POST /prompt", s.postPrompt)
	handle("GET /prompt", s.getPrompt)
	handle("GET /queue", s.getQueue)
	handle("POST /queue", s.postQueue)
	handle("GET /history", s.getHistory)
	handle("GET /history/{id}", s.getHistoryItem)
	handle("POST /history", s.postHistory)
	handle("POST /interrupt", s.postInterrupt)
	handle("POST /free", s.postFree)
	handle("GET /ws", s.serveWS)
	handle("GET /view", s.getView)
	handle("POST /upload/image", s.postUpload)
	handle("GET /object_info", s.getObjectInfo)
	handle("GET /object_info/{class}", s.getObjectInfoClass)
	handle("GET /system_stats", s.getSystemStats)
	handle("GET /features", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.features()) })
	handle("GET /models", s.getModels)
	handle("GET /models/{folder}", s.getModelsFolder)
	handle("GET /embeddings", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []string{"easynegative", "bad_prompt_version2"})
	})
	handle("GET /extensions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []string{"/extensions/core/clipspace.js", "/extensions/core/groupNode.js", "/extensions/core/widgetInputs.js"})
	})
	if s.prof.jobs {
		// The jobs routes are declared with their /api prefix, which the
		// router mirrors once more: /api/jobs and /api/api/jobs, no /jobs.
		for _, prefix := range []string{"/api", "/api/api"} {
			s.mux.HandleFunc("GET "+prefix+"/jobs", s.getJobs)
			s.mux.HandleFunc("GET "+prefix+"/jobs/{id}", s.getJob)
		}
	}
	s.mux.HandleFunc("/", notFound)
}

func cutSpace(p string) (string, string, bool) {
	for i := range p {
		if p[i] == ' ' {
			return p[:i], p[i+1:], true
		}
	}
	return "", p, false
}

// writeJSONFlushed is writeJSON with a Content-Length, flushed at once, so
// the client has the whole answer before the handler goes on.
func writeJSONFlushed(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		serverError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "500 Internal Server Error", 500)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b)
}

// readBody reads a request body under the 100 MB limit. It answers 413 or
// 500 itself and returns ok=false then.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxUploadSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			textResponse(w, http.StatusRequestEntityTooLarge, "413: Request Entity Too Large")
		} else {
			serverError(w)
		}
		return nil, false
	}
	return b, true
}

// serverError is aiohttp's answer to an unhandled exception: 500, plain text.
func serverError(w http.ResponseWriter) {
	textResponse(w, 500, "500 Internal Server Error\n\nServer got itself in trouble")
}

// notFound is aiohttp's answer to a path no route matches.
func notFound(w http.ResponseWriter, r *http.Request) {
	textResponse(w, 404, "404: Not Found")
}

// textResponse writes an aiohttp plain-text answer: exactly body, with no
// trailing newline (http.Error adds one).
func textResponse(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// emptyResponse is aiohttp's web.Response(status=code): no body, typed
// application/octet-stream, as POST /queue, /interrupt, /free and
// /history answer, and /view, /upload/image and the origin check refuse.
func emptyResponse(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(code)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func newUUID() string {
	var b [16]byte
	randRead(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

// postPrompt follows server.post_prompt (§2.1).
func (s *Server) postPrompt(w http.ResponseWriter, r *http.Request) {
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil {
		serverError(w)
		return
	}
	var number qnum
	s.mu.Lock()
	if raw, has := body["number"]; has {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			s.mu.Unlock()
			serverError(w)
			return
		}
		number = qnum{v: f, isFloat: true}
	} else {
		number = qnum{v: float64(s.counter)}
		var front any
		if raw, has := body["front"]; has && json.Unmarshal(raw, &front) == nil && pyTruthy(front) {
			number.v = -number.v
		}
		s.counter++ // before validation: rejected prompts use up a number too (§3.1)
	}
	s.mu.Unlock()
	noNodeErrors := map[string]any{}
	rawPrompt, has := body["prompt"]
	if !has {
		writeJSON(w, 400, map[string]any{"error": reason("no_prompt", "No prompt provided", "No prompt provided", nil), "node_errors": noNodeErrors})
		return
	}
	promptID := newUUID()
	if raw, has := body["prompt_id"]; has {
		var v any
		dec := json.NewDecoder(bytesReader(raw))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			serverError(w)
			return
		}
		switch {
		case s.opts.StrictPromptID && v == nil:
		case s.opts.StrictPromptID:
			id, isStr := v.(string)
			if !isStr || !uuidRE.MatchString(id) {
				writeJSON(w, 400, map[string]any{"error": reason("invalid_prompt_id", "prompt_id must be a valid UUID",
					"prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one", nil),
					"node_errors": noNodeErrors})
				return
			}
			promptID = id
		default:
			promptID = pyStr(v)
		}
	}
	g, err := parseGraph(rawPrompt)
	if err != nil {
		serverError(w)
		return
	}
	var targets []string
	if raw, has := body["partial_execution_targets"]; has && string(raw) != "null" {
		if json.Unmarshal(raw, &targets) != nil {
			serverError(w)
			return
		}
		targets = nonNil(targets)
	}
	outputs, nodeErrors, topErr := s.validatePrompt(g, targets)
	if topErr != nil {
		writeJSON(w, 400, map[string]any{"error": topErr, "node_errors": nodeErrors})
		return
	}
	extra := map[string]any{}
	if raw, has := body["extra_data"]; has {
		var e map[string]any
		dec := json.NewDecoder(bytesReader(raw))
		dec.UseNumber()
		if dec.Decode(&e) == nil && e != nil {
			extra = e
		}
	}
	if raw, has := body["client_id"]; has {
		var cid any
		json.Unmarshal(raw, &cid)
		extra["client_id"] = cid
	}
	if s.prof.createTime {
		// Newer servers move the sensitive keys out of extra_data at
		// submission, so /queue no longer shows them, and stamp it.
		delete(extra, "auth_token_comfy_org")
		delete(extra, "api_key_comfy_org")
		extra["create_time"] = s.createTime()
	}
	clientID, _ := extra["client_id"].(string)
	t := &task{number: number, id: promptID, g: g, extra: extra, outputs: outputs, clientID: clientID}
	answer := map[string]any{"prompt_id": promptID, "number": number, "node_errors": nodeErrors}
	if s.opts.ReplyOrder == ReplyBeforeEvents {
		writeJSONFlushed(w, 200, answer)
	}
	s.mu.Lock()
	s.put(t)
	gen := s.gen
	s.mu.Unlock()
	s.nudge()
	s.log.Debug("prompt queued", "prompt_id", promptID, "number", number.v)
	switch s.opts.ReplyOrder {
	case ReplyBeforeEvents:
		return
	case ReplyAfterEvents:
		s.awaitStart(r.Context(), t, gen)
	}
	writeJSON(w, 200, answer)
}

// awaitStart returns once t's first events are on its client's socket: the
// worker started t, or is busy with another prompt (t's status broadcast
// is then all there is), and the socket's writer has sent what was queued
// for it by then. It also returns when t is lost to a restart, the server
// closes or ctx is done.
func (s *Server) awaitStart(ctx context.Context, t *task, gen int) {
	if s.waitFor(ctx, func() bool {
		return t.started || s.closed || s.gen != gen || (s.running != nil && s.running != t)
	}) != nil {
		return
	}
	s.mu.Lock()
	wc := s.sockets[t.clientID]
	var target int64
	if wc != nil {
		target = wc.queued
	}
	s.mu.Unlock()
	if wc != nil {
		s.waitFor(ctx, func() bool { return wc.dropped || s.closed || wc.written >= target })
	}
}

// createTime is extra_data.create_time: the wall clock in ms, kept
// strictly increasing so that prompts submitted within one millisecond
// still sort in submission order in the jobs API (a real server takes
// longer than that to answer one POST /prompt).
func (s *Server) createTime() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastCreate = max(nowMS(), s.lastCreate+1)
	return s.lastCreate
}

func (s *Server) getPrompt(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := s.queueRemaining()
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"exec_info": map[string]any{"queue_remaining": n}})
}

func (s *Server) getQueue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	running := []any{}
	if s.running != nil {
		running = append(running, s.running.tuple())
	}
	pending := make([]any, 0, len(s.queue))
	for _, t := range s.queue { // the raw heap order, as ComfyUI (§3.3)
		pending = append(pending, t.tuple())
	}
	body := deepCopy(map[string]any{"queue_running": running, "queue_pending": pending})
	s.mu.Unlock()
	writeJSON(w, 200, body)
}

type clearDelete struct {
	Clear  any      `json:"clear"`
	Delete []string `json:"delete"`
}

// readClearDelete reads the body of POST /queue and POST /history; a body
// that is not JSON is answered 500, as the server's unguarded json parse is.
func (s *Server) readClearDelete(w http.ResponseWriter, r *http.Request) (clearDelete, bool) {
	var req clearDelete
	b, ok := s.readBody(w, r)
	if !ok {
		return req, false
	}
	if json.Unmarshal(b, &req) != nil {
		serverError(w)
		return req, false
	}
	return req, true
}

func (s *Server) postQueue(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readClearDelete(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	if pyTruthy(req.Clear) {
		s.queue = nil
		s.queueUpdatedLocked()
	}
	for _, id := range req.Delete {
		for i, t := range s.queue {
			if t.id != id {
				continue
			}
			if len(s.queue) == 1 {
				s.queue = nil
				s.queueUpdatedLocked() // wipe_queue broadcasts too: two status messages (§3.4)
			} else {
				// As PromptQueue.delete_queue_item: pop the item, heapify
				// the rest (the raw heap order is what /queue shows).
				s.queue = slices.Delete(s.queue, i, i+1)
				heap.Init(&s.queue)
			}
			s.queueUpdatedLocked()
			break
		}
	}
	s.mu.Unlock()
	emptyResponse(w, 200)
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxItems, offset := -1, -1
	if v := q.Get("max_items"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			serverError(w)
			return
		}
		maxItems = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			serverError(w)
			return
		}
		offset = n
	}
	s.mu.Lock()
	if offset < 0 && maxItems >= 0 {
		offset = len(s.histOrder) - maxItems
	}
	out := orderedObject{}
	for i, id := range s.histOrder {
		if i < offset {
			continue
		}
		if maxItems >= 0 && len(out) >= maxItems {
			break
		}
		out = append(out, kv{id, s.history[id]})
	}
	b, err := json.Marshal(out)
	s.mu.Unlock()
	if err != nil {
		serverError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

func (s *Server) getHistoryItem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	out := map[string]any{}
	if e := s.history[id]; e != nil {
		out[id] = e
	}
	b, err := json.Marshal(out)
	s.mu.Unlock()
	if err != nil {
		serverError(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(b)
}

func (s *Server) postHistory(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readClearDelete(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	if pyTruthy(req.Clear) {
		s.history = map[string]map[string]any{}
		s.histOrder = nil
	}
	for _, id := range req.Delete {
		if _, ok := s.history[id]; ok {
			delete(s.history, id)
			s.histOrder = slices.DeleteFunc(s.histOrder, func(x string) bool { return x == id })
		}
	}
	s.changedLocked()
	s.mu.Unlock()
	emptyResponse(w, 200)
}

func (s *Server) postInterrupt(w http.ResponseWriter, r *http.Request) {
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req map[string]any
	json.Unmarshal(b, &req) // invalid or empty JSON means {} (§3.5)
	s.mu.Lock()
	id, targeted := req["prompt_id"]
	switch {
	case !targeted || id == nil:
		s.signalInterrupt()
	case s.running != nil && s.running.id == pyStr(id):
		s.signalInterrupt()
	}
	s.mu.Unlock()
	emptyResponse(w, 200)
}

func (s *Server) postFree(w http.ResponseWriter, r *http.Request) {
	b, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req map[string]any
	if json.Unmarshal(b, &req) != nil {
		serverError(w)
		return
	}
	s.mu.Lock()
	if pyTruthy(req["free_memory"]) {
		s.freeMemory = true // applied by the worker between prompts
	}
	if pyTruthy(req["unload_models"]) || pyTruthy(req["free_memory"]) {
		s.loadedCkpt = ""
	}
	s.mu.Unlock()
	s.nudge()
	emptyResponse(w, 200)
}

func (s *Server) getObjectInfo(w http.ResponseWriter, r *http.Request) {
	out := orderedObject{}
	for _, d := range s.order {
		out = append(out, kv{d.name, s.objectInfo(d)})
	}
	writeJSON(w, 200, out)
}

func (s *Server) getObjectInfoClass(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{}
	if d := s.classes[r.PathValue("class")]; d != nil {
		out[d.name] = s.objectInfo(d)
	}
	writeJSON(w, 200, out)
}

func (s *Server) getSystemStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"system": map[string]any{
			"os": s.prof.os, "ram_total": int64(68719476736), "ram_free": int64(51539607552),
			"comfyui_version": s.prof.version, "required_frontend_version": s.prof.frontend,
			"installed_templates_version": nil, "required_templates_version": s.prof.templates,
			"python_version": "3.12.3 (main, simulated)", "pytorch_version": "2.8.0+cu128",
			"embedded_python": false, "argv": []string{"main.py", "--simulated"},
		},
		"devices": []any{map[string]any{
			"name": "cuda:0 Simulated GPU : cudaMallocAsync", "type": "cuda", "index": 0,
			"vram_total": int64(25757220864), "vram_free": int64(24000000000),
			"torch_vram_total": int64(0), "torch_vram_free": int64(0),
		}},
	})
}

func modelFolders() []string {
	return []string{"checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision",
		"style_models", "embeddings", "diffusers", "vae_approx", "controlnet", "gligen", "upscale_models",
		"custom_nodes", "hypernetworks", "photomaker", "classifiers", "model_patches", "audio_encoders"}
}

func (s *Server) getModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, modelFolders())
}

func (s *Server) getModelsFolder(w http.ResponseWriter, r *http.Request) {
	folder := r.PathValue("folder")
	if !slices.Contains(modelFolders(), folder) {
		emptyResponse(w, 404)
		return
	}
	var list []string
	switch folder {
	case "checkpoints":
		list = s.opts.Checkpoints
	case "loras":
		list = s.comboOf("LoraLoader", "lora_name")
	case "vae":
		list = s.comboOf("VAELoader", "vae_name")
	case "embeddings":
		list = []string{"easynegative.safetensors", "bad_prompt_version2.pt"}
	}
	writeJSON(w, 200, nonNil(list))
}

// comboOf returns the options of a combo input of the catalogue.
func (s *Server) comboOf(class, input string) []string {
	if d := s.classes[class]; d != nil {
		if in, ok := d.input(input); ok && in.combo != nil {
			return in.combo(s)
		}
	}
	return nil
}

// kv and orderedObject encode a JSON object in a given key order.
type kv struct {
	k string
	v any
}

type orderedObject []kv

// MarshalJSON writes the pairs in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, p := range o {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(p.k)
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, err
		}
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

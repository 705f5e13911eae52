package comfytest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplayTranscripts replays every recording of a real ComfyUI server
// in testdata/transcripts against a simulator behaving as the recorded
// version: the same requests, in the order they were recorded, on one
// server, so what a recording needs from earlier ones (a cached prompt, a
// history entry, a file to view, the jobs history) is there as it was.
// Each recording is a subtest; each compares status codes, Content-Type
// and Content-Disposition, JSON bodies by shape, value kind and value,
// the WebSocket messages of every prompt in order, and history, after the
// normalisations below. Where the simulator differs on purpose, the
// difference is in deliberateDifferences with its reason.
//
// Normalisations (they hold for every recording):
//   - JSON objects compare as sets of keys; arrays element by element.
//     Numbers compare by kind (an int stays an int, a float a float) and
//     value; strings by value.
//   - Ids: a prompt id the server made up (no prompt_id sent) maps to the
//     simulator's, consistently within the session; ids the recorder sent
//     are sent again and must come back unchanged.
//   - Output file names: the counter in "<prefix>_NNNNN_.png" depends on
//     every save before it, including saves the recorder made between
//     recordings; names map consistently within the session.
//   - Times (timestamp, create_time, execution_*_time) and queue numbers
//     (number, priority, a queue tuple's first element) compare by kind
//     only: they depend on the clock and on requests the recorder sent
//     outside the recordings.
//   - Tracebacks compare as lists of strings: paths and line numbers are
//     the recording machine's.
//   - current_outputs and executed compare as sets: ComfyUI lists a Python
//     set, whose order varies between processes.
//   - Of the HTTP headers only Content-Type and Content-Disposition are
//     compared; 0.8.0's Content-Security-Policy comes from the recorded
//     server's --disable-api-nodes flag, Content-Length from the body.
//   - Binary bodies (PNG files) compare by their first 16 bytes: the
//     simulator draws its own pixels.
//   - A prompt that was interrupted compares without its sampler steps:
//     how many steps run before an interrupt lands is timing.
//   - Status broadcasts compare by shape only where several prompts share
//     a socket: how many prompts are queued at each moment is timing.
func TestReplayTranscripts(t *testing.T) {
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			replaySession(t, v)
		})
	}
}

// deliberateDifferences are where the simulator does not do what the
// recorded server did, on purpose. The test skips these paths.
var deliberateDifferences = []struct {
	version, file string // "" matches every version
	step          int    // the HTTP step of file, or -1 for every step
	path          string // regexp on the JSON path of a response or message
	reason        string
}{
	{"", "get_system_stats.json", -1, `^system\.(ram_total|ram_free|python_version|pytorch_version|argv)|^devices`,
		"the machine: the simulator reports a simulated CUDA GPU and its own memory and runtime"},
	{"", "origin_check.json", -1, `^system\.(ram_total|ram_free|python_version|pytorch_version|argv)|^devices`,
		"the machine, as in get_system_stats.json"},
	{"0.3.64", "post_prompt_partial_outputs_failed.json", -1, `^node_errors\.\d+\.dependent_outputs$`,
		"ComfyUI validates outputs in Python set order, which varies per process (0.8.0 happened to use prompt order, the simulator's); over-reporting into dependent_outputs follows that order"},
	{"", "jobs_list.json", 3, `^jobs\[\d+\]\.(id|priority|outputs_count|preview_output)$`,
		"sort_by=execution_duration picks the completed prompts that took a millisecond or two, and the simulator's durations are its own: which prompts those are differs (the list's length, statuses and pagination are still compared)"},
}

// session is every recording in the order it was recorded (by the Date
// headers and timestamps in them); groups of files that record one
// scenario from two sides are replayed by one script.
var session = []string{
	"get_features.json", "get_system_stats.json", "get_object_info_SaveImage.json", "get_object_info_KSampler.json",
	"get_object_info_CheckpointLoaderSimple.json", "get_object_info_EmptyImage.json", "get_object_info_SeededNoiseImage.json",
	"get_object_info_unknown_class.json", "get_api_prefix_object_info_EmptyImage.json", "get_object_info_full_summary.json",
	"get_history_unknown_id.json",
	"post_prompt_accepted_ws_sequence_EmptyImage.json", "post_prompt_accepted.json", "get_history_after_success.json",
	"get_view_output_image.json", "ws_sequence_cached_resubmit.json",
	"ws_sequence_SeededNoiseImage_progress.json", "get_history_after_success_SeededNoiseImage.json",
	"ws_sequence_execution_error.json", "get_history_after_execution_error.json",
	"post_prompt_error_integer_link_id.json", "post_prompt_error_invalid_input_type.json", "post_prompt_error_invalid_json.json",
	"post_prompt_error_link_to_missing_node.json", "post_prompt_error_missing_class_type.json", "post_prompt_error_no_outputs.json",
	"post_prompt_error_no_prompt.json", "post_prompt_error_required_input_missing.json", "post_prompt_error_seed_negative.json",
	"post_prompt_error_unknown_class.json", "post_prompt_error_value_bigger_than_max.json",
	"post_prompt_error_value_not_in_list.json", "post_prompt_error_value_smaller_than_min.json",
	"post_prompt_seed_max_uint64.json", "post_prompt_partial_outputs_failed.json", "post_prompt_prompt_id_variants.json",
	"queue_pending_running_and_delete.json", "interrupt_and_queue_clear.json", "get_history_list_max_items.json",
	"get_prompt_idle.json", "origin_check.json", "post_upload_image.json", "ws_feature_flags.json",
	"ws_same_client_id_reconnect.json", "post_free_and_history_delete.json",
	"jobs_pending_and_in_progress.json", "jobs_ws_sequence.json", "jobs_get_completed.json", "jobs_get_failed.json",
	"jobs_get_interrupted.json", "jobs_list.json", "jobs_errors.json",
}

// scripts replay the recordings that are more than a list of requests.
// The others are replayed step by step (replay.plain).
var scripts = map[string]func(r *replay, file string){
	"post_prompt_accepted_ws_sequence_EmptyImage.json": (*replay).onePrompt,
	"ws_sequence_cached_resubmit.json":                 (*replay).onePrompt,
	"ws_sequence_SeededNoiseImage_progress.json":       (*replay).onePrompt,
	"ws_sequence_execution_error.json":                 (*replay).onePrompt,
	"post_prompt_accepted.json":                        sameExchange("post_prompt_accepted_ws_sequence_EmptyImage.json"),
	"get_object_info_full_summary.json":                (*replay).objectInfoSummary,
	"queue_pending_running_and_delete.json":            (*replay).queueAndInterrupt,
	"interrupt_and_queue_clear.json":                   replayedWith("queue_pending_running_and_delete.json"),
	"ws_feature_flags.json":                            (*replay).featureFlags,
	"ws_same_client_id_reconnect.json":                 (*replay).sameClientID,
	"post_free_and_history_delete.json":                (*replay).freeAndHistoryDelete,
	"jobs_pending_and_in_progress.json":                (*replay).jobs,
	"jobs_ws_sequence.json":                            replayedWith("jobs_pending_and_in_progress.json"),
}

// transcript is one recording (testdata/transcripts/README.md).
type transcript struct {
	What  string  `json:"what"`
	Steps []tstep `json:"steps"`
}

type tstep struct {
	HTTP    string `json:"http"`
	Request struct {
		Headers map[string]string `json:"headers"`
		Body    *string           `json:"body"`
	} `json:"request"`
	Response struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		BodyRaw string            `json:"body_raw"`
		JSON    json.RawMessage   `json:"json"`
	} `json:"response"`
	Summary  map[string]json.RawMessage `json:"summary"`
	WS       string                     `json:"ws"`
	Messages []struct {
		Text   json.RawMessage `json:"text"`
		Marker string          `json:"marker"`
	} `json:"messages"`
}

// recorded returns the recorded text messages of a WebSocket step.
func (s tstep) recorded(t *testing.T) []wsMsg {
	var out []wsMsg
	for _, m := range s.Messages {
		if m.Text == nil {
			continue
		}
		var msg wsMsg
		dec := json.NewDecoder(bytes.NewReader(m.Text))
		dec.UseNumber()
		if err := dec.Decode(&msg); err != nil {
			t.Fatalf("recorded message %s: %v", m.Text, err)
		}
		out = append(out, msg)
	}
	return out
}

// replay is one version's session: one simulator, the recordings, and the
// id and file-name maps between them.
type replay struct {
	t       *testing.T // the current recording's subtest
	version string
	sim     *Server
	base    string
	files   map[string]*transcript
	answers map[string][]httpResult // each file's simulated answers, by step

	curStep int // the HTTP step being compared, -1 for WebSocket messages

	mu    sync.Mutex
	names map[string]string // recorded id or file name -> the simulator's
	back  map[string]string // and back, so the mapping stays one to one
}

func replaySession(t *testing.T, version string) {
	dir := filepath.Join("testdata", "transcripts", version)
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recordings in %s: %v", dir, err)
	}
	r := &replay{version: version, curStep: -1, files: map[string]*transcript{}, answers: map[string][]httpResult{},
		names: map[string]string{}, back: map[string]string{}}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var tr transcript
		if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		name := filepath.Base(p)
		if !slices.Contains(session, name) {
			t.Errorf("%s is not in the replay session: add it where it was recorded", p)
		}
		r.files[name] = &tr
		// Ids the recorder sent are sent again: they must come back as they
		// are, so they map to themselves from the start.
		for _, st := range tr.Steps {
			for _, text := range []string{st.HTTP, st.WS, deref(st.Request.Body)} {
				for _, id := range uuidInText.FindAllString(text, -1) {
					r.names[id], r.back[id] = id, id
				}
			}
		}
	}
	// The recorded servers: model-free, SeededNoiseImage steps of 0.2 s
	// (here 10 ms), every other node a few milliseconds. 0.3.64's worker
	// paused long enough between prompts for a queue clear to land before
	// the next prompt started (interrupt_and_queue_clear.json); 0.8.0's
	// did not.
	opts := Options{Version: version, Checkpoints: []string{}, TimeScale: 0.05, StepTime: 200 * time.Millisecond,
		NodeTime: 5 * time.Millisecond, SameSIDQuirk: true}
	if version == Version0364 {
		opts.PromptGap = 6 * time.Second // scaled: 300 ms
	}
	r.sim, r.base = newSim(t, opts)
	for _, name := range session {
		tr := r.files[name]
		if tr == nil {
			continue // a 0.8.0-only recording
		}
		ok := t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			r.t = t
			t.Log(tr.What)
			if script := scripts[name]; script != nil {
				script(r, name)
			} else {
				r.plain(name)
			}
			if err := r.sim.WaitIdle(deadline(t)); err != nil {
				t.Fatalf("simulator not idle after %s: %v", name, err)
			}
		})
		if !ok && !r.answered(name) {
			t.Logf("%s failed before its requests were sent; later recordings may fail for it", name)
		}
	}
}

func (r *replay) answered(file string) bool { return len(r.answers[file]) > 0 }

// plain sends a recording's requests one by one and compares each answer.
func (r *replay) plain(file string) {
	for i := range r.files[file].Steps {
		r.step(file, i)
	}
}

// step sends step i of file and compares the answer with the recorded one.
func (r *replay) step(file string, i int) httpResult {
	r.t.Helper()
	st := r.files[file].Steps[i]
	if st.HTTP == "" {
		r.t.Fatalf("%s step %d is not an HTTP step", file, i)
	}
	method, target, _ := strings.Cut(st.HTTP, " ")
	target = r.mapRecorded(target)
	var res httpResult
	switch body := st.Request.Body; {
	case body != nil && strings.HasPrefix(*body, "multipart/form-data: "):
		res = r.multipart(method, target, *body)
	default:
		req, err := http.NewRequestWithContext(r.t.Context(), method, r.base+target, nil)
		if body != nil && *body != "" {
			req, err = http.NewRequestWithContext(r.t.Context(), method, r.base+target, strings.NewReader(r.mapRecorded(*body)))
		}
		if err != nil {
			r.t.Fatal(err)
		}
		for k, v := range st.Request.Headers {
			if k == "Origin" && strings.HasPrefix(v, "http://127.0.0.1:") {
				v = r.base // the recorded server's own URL
			}
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			r.t.Fatalf("%s %s: %v", method, target, err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		res = httpResult{resp.StatusCode, b.Bytes(), resp.Header}
	}
	r.answers[file] = append(r.answers[file], res)
	r.compareHTTP(file, i, res)
	return res
}

// multipart rebuilds an upload from its recorded description, e.g.
// "multipart/form-data: image=('a.png', '<80 bytes>', 'image/png'); fields {"overwrite": "true"}".
// The recorder sent a PNG of that size: the bytes here are a PNG header and
// a fill that differs per size, so the same size means the same bytes.
func (r *replay) multipart(method, target, desc string) httpResult {
	m := regexp.MustCompile(`^multipart/form-data: (\w+)=\('([^']*)', '<(\d+) bytes>', '([^']*)'\)(?:; fields (\{.*\}))?$`).FindStringSubmatch(desc)
	if m == nil {
		r.t.Fatalf("unreadable multipart description %q", desc)
	}
	var size int
	fmt.Sscan(m[3], &size)
	data := make([]byte, size)
	copy(data, "\x89PNG\r\n\x1a\n")
	for i := 8; i < size; i++ {
		data[i] = byte(size + i)
	}
	fields := map[string]string{}
	if m[5] != "" {
		if err := json.Unmarshal([]byte(m[5]), &fields); err != nil {
			r.t.Fatalf("fields of %q: %v", desc, err)
		}
	}
	body, ctype := multipartBody(r.t, m[1], m[2], data, fields)
	res, err := httpPost(r.t, r.base+target, ctype, body)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, target, err)
	}
	return res
}

// multipartBody is a form with one file part named field and text fields.
func multipartBody(t *testing.T, field, name string, data []byte, fields map[string]string) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		mw.WriteField(k, fields[k])
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// compareHTTP compares one simulated answer with step i of file.
func (r *replay) compareHTTP(file string, i int, got httpResult) {
	r.t.Helper()
	want := r.files[file].Steps[i].Response
	where := fmt.Sprintf("%s step %d (%s)", file, i, r.files[file].Steps[i].HTTP)
	r.curStep = i
	defer func() { r.curStep = -1 }()
	if got.status != want.Status {
		r.t.Errorf("%s: status %d, want %d; body %.300s", where, got.status, want.Status, got.body)
		return
	}
	for _, h := range []string{"Content-Type", "Content-Disposition"} {
		if w, g := want.Headers[h], got.header.Get(h); w != g {
			r.t.Errorf("%s: %s %q, want %q", where, h, g, w)
		}
	}
	switch raw := want.BodyRaw; {
	case want.JSON != nil && string(want.JSON) != "null":
		var g any
		dec := json.NewDecoder(bytes.NewReader(got.body))
		dec.UseNumber()
		if err := dec.Decode(&g); err != nil {
			r.t.Errorf("%s: body %.300q is not JSON: %v", where, got.body, err)
			return
		}
		for _, d := range r.compare(file, "", decodeNumber(r.t, want.JSON), g) {
			r.t.Errorf("%s: %s", where, d)
		}
	case strings.HasPrefix(raw, "<") && strings.Contains(raw, " bytes"):
		// "<N bytes of TYPE; first 16: HEX>" (or a summary): binary or empty.
		if m := regexp.MustCompile(`^<(\d+) bytes of [^;]*; first 16: ([0-9a-f]*)>$`).FindStringSubmatch(raw); m != nil {
			prefix, _ := hex.DecodeString(m[2])
			if m[1] == "0" && len(got.body) != 0 || !bytes.HasPrefix(got.body, prefix) {
				r.t.Errorf("%s: body starts %x (%d bytes), want %s…", where, got.body[:min(16, len(got.body))], len(got.body), m[2])
			}
		}
	default:
		if string(got.body) != raw {
			r.t.Errorf("%s: body %q, want %q", where, got.body, raw)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var (
	uuidInText = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	uuidish    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	outputName = regexp.MustCompile(`^[A-Za-z0-9_.-]*_\d{5,}_\.png$`)
	timeKeys   = map[string]bool{"timestamp": true, "create_time": true, "execution_start_time": true, "execution_end_time": true}
	numberKeys = map[string]bool{"number": true, "priority": true}
	tupleHead  = regexp.MustCompile(`(^|\.)(prompt|queue_running\[\d+\]|queue_pending\[\d+\])\[0\]$`)
	setKeys    = map[string]bool{"current_outputs": true, "executed": true}
)

// mapName maps a recorded id or file name to the simulator's, recording
// the pair the first time; it reports false when the pair contradicts an
// earlier one.
func (r *replay) mapName(recorded, got string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.names[recorded]; ok {
		return s == got
	}
	if rec, ok := r.back[got]; ok {
		return rec == recorded
	}
	r.names[recorded], r.back[got] = got, recorded
	return true
}

// mapRecorded rewrites recorded ids and file names in a request to the
// simulator's.
func (r *replay) mapRecorded(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for rec, sim := range r.names {
		if rec != sim {
			s = strings.ReplaceAll(s, rec, sim)
		}
	}
	return s
}

// skipped reports whether path of file, in the step being compared, is a
// deliberate difference.
func (r *replay) skipped(file, path string) bool {
	for _, d := range deliberateDifferences {
		if (d.version == "" || d.version == r.version) && d.file == file && (d.step < 0 || d.step == r.curStep) &&
			regexp.MustCompile(d.path).MatchString(path) {
			return true
		}
	}
	return false
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// compare returns the differences between a recorded JSON value and the
// simulator's, after the normalisations of TestReplayTranscripts.
func (r *replay) compare(file, path string, want, got any) []string {
	if r.skipped(file, path) {
		return nil
	}
	key := path[strings.LastIndex(path, ".")+1:]
	if i := strings.Index(key, "["); i >= 0 {
		key = key[:i]
	}
	wk, gk := jsonKind(want), jsonKind(got)
	if wk != gk {
		return []string{fmt.Sprintf("%s: got %s %.200v, want %s %.200v", path, gk, got, wk, want)}
	}
	var diffs []string
	switch w := want.(type) {
	case string:
		g := got.(string)
		switch {
		case w == g:
		case uuidish.MatchString(w) && uuidish.MatchString(g), outputName.MatchString(w) && outputName.MatchString(g):
			if !r.mapName(w, g) {
				diffs = append(diffs, fmt.Sprintf("%s: got %q where %q was recorded, but it stands for something else in this session", path, g, w))
			}
		default:
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", path, g, w))
		}
	case json.Number:
		if w != got.(json.Number) && !timeKeys[key] && !numberKeys[key] && !tupleHead.MatchString(path) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", path, got, w))
		}
	case map[string]any:
		g := got.(map[string]any)
		keys := slices.Sorted(maps.Keys(w))
		for k := range g {
			if _, ok := w[k]; !ok && !r.skipped(file, join(path, k)) {
				diffs = append(diffs, fmt.Sprintf("%s: unexpected key %q", path, k))
			}
		}
		for _, k := range keys {
			if _, ok := g[k]; !ok {
				if !r.skipped(file, join(path, k)) {
					diffs = append(diffs, fmt.Sprintf("%s: missing key %q", path, k))
				}
				continue
			}
			diffs = append(diffs, r.compare(file, join(path, k), w[k], g[k])...)
		}
	case []any:
		g := got.([]any)
		switch {
		case key == "traceback":
			for i, e := range g {
				if _, ok := e.(string); !ok {
					diffs = append(diffs, fmt.Sprintf("%s[%d]: got %v, want a string", path, i, e))
				}
			}
			return diffs
		case setKeys[key]:
			w, g = sortedStrings(w), sortedStrings(g)
		}
		if len(w) != len(g) {
			return append(diffs, fmt.Sprintf("%s: got %d elements %.300v, want %d %.300v", path, len(g), g, len(w), w))
		}
		for i := range w {
			diffs = append(diffs, r.compare(file, fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
	}
	return diffs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedStrings(a []any) []any {
	out := slices.Clone(a)
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// socket is a recorded WebSocket opened again: every message it receives,
// in order, and a way to wait for one.
type socket struct {
	ws   *wsClient
	mu   sync.Mutex
	msgs []wsMsg
	more chan struct{} // closed and replaced when a message arrives
	done chan struct{} // closed when the reader ends
}

func (r *replay) open(clientID string) *socket {
	s := &socket{ws: dialWS(r.t, r.base, clientID), more: make(chan struct{}), done: make(chan struct{})}
	go func() { // owned by the socket: it ends when dialWS's cleanup closes the connection
		defer close(s.done)
		for m := range s.ws.msgs {
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			close(s.more)
			s.more = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	r.t.Cleanup(func() { s.ws.c.Close(); <-s.done })
	s.await(r.t, func(m wsMsg) bool { return m.Type == "status" })
	return s
}

// await returns once a message satisfying ok has arrived (it may have
// arrived already), failing the test after 20 s.
func (s *socket) await(t *testing.T, ok func(wsMsg) bool) wsMsg {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for i := 0; ; {
		s.mu.Lock()
		msgs, more := s.msgs, s.more
		s.mu.Unlock()
		for ; i < len(msgs); i++ {
			if ok(msgs[i]) {
				return msgs[i]
			}
		}
		select {
		case <-more:
		case <-s.done:
			t.Fatalf("websocket closed after %v", types(msgs))
		case <-timeout:
			t.Fatalf("no matching websocket message within 20s; got %v", types(msgs))
		}
	}
}

func (s *socket) received() []wsMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

func ofPrompt(id string, typ ...string) func(wsMsg) bool {
	return func(m wsMsg) bool {
		return m.Data["prompt_id"] == id && (len(typ) == 0 || slices.Contains(typ, m.Type))
	}
}

// promptDone matches the end of a prompt: executing with node null.
func promptDone(id string) func(wsMsg) bool {
	return func(m wsMsg) bool { return m.Type == "executing" && m.Data["node"] == nil && m.Data["prompt_id"] == id }
}

// compareWS compares the messages a socket received with a recorded
// WebSocket step: every prompt's messages in order, and, where the socket
// saw one prompt only, the whole sequence with its status broadcasts.
func (r *replay) compareWS(file string, step int, got []wsMsg) {
	r.t.Helper()
	want := r.files[file].Steps[step].recorded(r.t)
	where := fmt.Sprintf("%s step %d", file, step)
	var ids []string
	for _, m := range want {
		if id, ok := m.Data["prompt_id"].(string); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) <= 1 {
		r.compareMessages(file, where, want, got)
		return
	}
	for _, id := range ids {
		simID := r.mapRecorded(id)
		w, g := filterMsgs(want, ofPrompt(id)), filterMsgs(got, ofPrompt(simID))
		if slices.ContainsFunc(w, func(m wsMsg) bool { return m.Type == "execution_interrupted" }) {
			w, g = withoutSteps(w), withoutSteps(g)
		}
		r.compareMessages(file, where+" prompt "+id, w, g)
	}
	for i, m := range filterMsgs(got, func(m wsMsg) bool { return m.Type == "status" }) {
		wantStatus := filterMsgs(want, func(m wsMsg) bool { return m.Type == "status" })[min(i, 1)]
		for _, d := range r.compare(file, "status", wantStatus.Data, m.Data) {
			if !strings.Contains(d, "queue_remaining") {
				r.t.Errorf("%s: status %d: %s", where, i, d)
			}
		}
	}
}

func (r *replay) compareMessages(file, where string, want, got []wsMsg) {
	r.t.Helper()
	if !slices.Equal(types(want), types(got)) {
		r.t.Errorf("%s: message types\n got %v\nwant %v", where, types(got), types(want))
		return
	}
	for i := range want {
		for _, d := range r.compare(file, want[i].Type, mapAny(want[i].Data), mapAny(got[i].Data)) {
			r.t.Errorf("%s: message %d: %s", where, i, d)
		}
	}
}

func mapAny(m map[string]any) any { return m }

func filterMsgs(ms []wsMsg, ok func(wsMsg) bool) []wsMsg {
	var out []wsMsg
	for _, m := range ms {
		if ok(m) {
			out = append(out, m)
		}
	}
	return out
}

// withoutSteps drops sampler steps: progress, and progress_state of a
// node that is running with integer (ProgressBar) values.
func withoutSteps(ms []wsMsg) []wsMsg {
	return slices.DeleteFunc(slices.Clone(ms), func(m wsMsg) bool {
		if m.Type == "progress" {
			return true
		}
		if m.Type != "progress_state" {
			return false
		}
		nodes, _ := m.Data["nodes"].(map[string]any)
		for _, n := range nodes {
			st, _ := n.(map[string]any)
			if st["state"] == "running" && jsonKind(st["value"]) == "int" {
				return true
			}
		}
		return false
	})
}

// clientOf returns the clientId of a recorded WebSocket step.
func clientOf(t *testing.T, st tstep) string {
	_, q, ok := strings.Cut(st.WS, "clientId=")
	if !ok {
		t.Fatalf("websocket step %q has no clientId", st.WS)
	}
	return q
}

// promptIDOf returns the prompt_id a recorded POST /prompt sent.
func promptIDOf(t *testing.T, st tstep) string {
	var body struct {
		PromptID string `json:"prompt_id"`
	}
	if st.Request.Body == nil || json.Unmarshal([]byte(*st.Request.Body), &body) != nil || body.PromptID == "" {
		t.Fatalf("%s: no prompt_id in the recorded request", st.HTTP)
	}
	return body.PromptID
}

// onePrompt replays a socket watching one prompt: connect, submit, wait
// for the end of the prompt, compare the answer and every message.
func (r *replay) onePrompt(file string) {
	tr := r.files[file]
	ws := r.open(clientOf(r.t, tr.Steps[0]))
	id := promptIDOf(r.t, tr.Steps[1])
	r.step(file, 1)
	ws.await(r.t, promptDone(id))
	r.compareWS(file, 0, ws.received())
}

// sameExchange compares a recording of one request that another recording
// also holds (the same exchange, recorded from two sides) with the answer
// the simulator gave there.
func sameExchange(other string) func(*replay, string) {
	return func(r *replay, file string) {
		if !r.answered(other) {
			r.t.Fatalf("%s was not replayed", other)
		}
		for i, st := range r.files[file].Steps {
			j := slices.IndexFunc(r.files[other].Steps, func(o tstep) bool {
				return o.HTTP == st.HTTP && *o.Request.Body == *st.Request.Body
			})
			if j < 0 {
				r.t.Fatalf("%s step %d is not in %s", file, i, other)
			}
			k := 0 // answers are kept for HTTP steps only, in order
			for _, o := range r.files[other].Steps[:j] {
				if o.HTTP != "" {
					k++
				}
			}
			r.compareHTTP(file, i, r.answers[other][k])
		}
	}
}

// replayedWith marks a recording that another's script replays.
func replayedWith(other string) func(*replay, string) {
	return func(r *replay, file string) {
		if !r.answered(other) {
			r.t.Fatalf("replayed with %s, which did not get that far", other)
		}
	}
}

// objectInfoSummary checks GET /object_info against the recorded summary:
// the simulator serves a small catalogue, every class of which the real
// server has, with the facts the summary records.
func (r *replay) objectInfoSummary(file string) {
	sum := r.files[file].Steps[0].Summary
	res := do(r.t, "GET", r.base+"/object_info", nil)
	if res.status != 200 {
		r.t.Fatalf("GET /object_info = %d", res.status)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &got); err != nil {
		r.t.Fatal(err)
	}
	var names []string
	json.Unmarshal(sum["class_names_sorted"], &names)
	for class := range got {
		if !slices.Contains(names, class) {
			r.t.Errorf("the simulator serves %s, which the real server does not have", class)
		}
	}
	for _, class := range []string{"KSampler", "CheckpointLoaderSimple", "SeededNoiseImage", "EmptyImage"} {
		if _, ok := got[class]; !ok {
			r.t.Errorf("the simulator does not serve %s", class)
		}
	}
	var ckpt struct {
		Input struct {
			Required map[string]json.RawMessage `json:"required"`
		} `json:"input"`
	}
	json.Unmarshal(got["CheckpointLoaderSimple"], &ckpt)
	for _, d := range r.compare(file, "ckpt_name", decodeNumber(r.t, sum["CheckpointLoaderSimple.ckpt_name"]),
		decodeNumber(r.t, ckpt.Input.Required["ckpt_name"])) {
		r.t.Error(d)
	}
}

// queueAndInterrupt replays the queue and interrupt recordings, two views
// of one scenario: four long prompts queued (their POSTs are in the queue
// recording), /queue and /prompt while the first runs, a delete of a
// pending and of the running prompt, an interrupt of the first by id, a
// global one of the second, a queue clear.
func (r *replay) queueAndInterrupt(file string) {
	const other = "interrupt_and_queue_clear.json"
	q, in := r.files[file], r.files[other]
	ws := r.open(clientOf(r.t, in.Steps[0]))
	var ids []string
	for i := range 4 {
		ids = append(ids, promptIDOf(r.t, q.Steps[i]))
		r.step(file, i)
		if i == 1 {
			// As recorded: the first prompt started before the third was sent.
			ws.await(r.t, ofPrompt(ids[0], "executing"))
		}
	}
	r.step(file, 4) // GET /queue: 1 running, 3 pending
	r.step(file, 5) // GET /prompt
	ws.await(r.t, ofPrompt(ids[0], "progress"))
	r.step(file, 6) // delete the third
	r.step(file, 7) // delete the running one: nothing happens
	r.step(file, 8) // GET /queue
	r.step(other, 1)
	ws.await(r.t, ofPrompt(ids[1], "executing"))
	r.step(other, 2) // global interrupt, during the second
	if r.version == Version0364 {
		// The clear came while the worker paused after the second prompt.
		ws.await(r.t, promptDone(ids[1]))
	} else {
		// The clear came after the fourth prompt had started: it ran.
		ws.await(r.t, ofPrompt(ids[3], "execution_start"))
	}
	r.step(other, 3) // clear
	if r.version != Version0364 {
		ws.await(r.t, promptDone(ids[3]))
	}
	r.step(other, 4) // GET /queue
	r.step(other, 5) // GET /history of the first
	r.compareWS(other, 0, ws.received())
}

// featureFlags sends feature_flags twice: the first gets the server's
// flags, the second nothing.
func (r *replay) featureFlags(file string) {
	st := r.files[file].Steps[0]
	ws := r.open(clientOf(r.t, st))
	flags := map[string]any{"type": "feature_flags", "data": map[string]any{"supports_preview_metadata": true, "supports_progress_text_metadata": true}}
	for range 2 {
		if err := ws.ws.c.WriteJSON(flags); err != nil {
			r.t.Fatal(err)
		}
	}
	ws.await(r.t, func(m wsMsg) bool { return m.Type == "feature_flags" })
	wc := r.conn(clientOf(r.t, st))
	// Once the server has read both, whatever it queued for this socket
	// is the connect status and one reply.
	if err := r.sim.waitFor(deadline(r.t), func() bool { return wc.texts >= 2 }); err != nil {
		r.t.Fatal(err)
	}
	r.sim.mu.Lock()
	queued := wc.queued
	r.sim.mu.Unlock()
	if queued != 2 {
		r.t.Errorf("the server queued %d messages for the socket, want 2 (status, one feature_flags reply)", queued)
	}
	r.compareWS(file, 0, ws.received())
}

// conn returns the simulator's newest socket for a client id.
func (r *replay) conn(clientID string) *wsConn {
	r.sim.mu.Lock()
	defer r.sim.mu.Unlock()
	var newest *wsConn
	for wc := range r.sim.conns {
		if wc.sid == clientID && (newest == nil || wc.serial > newest.serial) {
			newest = wc
		}
	}
	if newest == nil {
		r.t.Fatalf("no simulated socket for %s", clientID)
	}
	return newest
}

// sameClientID opens two sockets with one clientId, closes the first and
// submits for that client: the second gets nothing (§4.1 step 3).
func (r *replay) sameClientID(file string) {
	tr := r.files[file]
	cid := clientOf(r.t, tr.Steps[0])
	a := r.open(cid)
	b := r.open(cid)
	wcB := r.conn(cid)
	a.ws.c.Close()
	<-a.done
	if err := r.sim.waitFor(deadline(r.t), func() bool { return r.sim.sockets[cid] == nil }); err != nil {
		r.t.Fatalf("closing the first socket did not unregister the client id: %v", err)
	}
	id := promptIDOf(r.t, tr.Steps[2])
	r.step(file, 2)
	if err := r.sim.WaitHistory(deadline(r.t), id); err != nil {
		r.t.Fatal(err)
	}
	r.sim.mu.Lock()
	queued := wcB.queued
	r.sim.mu.Unlock()
	if queued != 1 {
		r.t.Errorf("the second socket was sent %d messages, want only its connect status", queued)
	}
	r.compareWS(file, 1, b.received())
}

// freeAndHistoryDelete needs the history entry it reads: the recorder
// submitted its prompt outside the recording, so it is submitted here from
// the recorded entry.
func (r *replay) freeAndHistoryDelete(file string) {
	tr := r.files[file]
	var entry map[string]struct {
		Prompt []json.RawMessage `json:"prompt"`
	}
	if err := json.Unmarshal(tr.Steps[2].Response.JSON, &entry); err != nil || len(entry) != 1 {
		r.t.Fatalf("recorded history entry: %v", err)
	}
	for id, e := range entry {
		body := fmt.Sprintf(`{"prompt": %s, "prompt_id": %q, "extra_data": %s}`, e.Prompt[2], id, e.Prompt[3])
		if res := do(r.t, "POST", r.base+"/prompt", body); res.status != 200 {
			r.t.Fatalf("submit the recorded prompt %s: %d %s", id, res.status, res.body)
		}
		if err := r.sim.WaitHistory(deadline(r.t), id); err != nil {
			r.t.Fatal(err)
		}
	}
	r.plain(file)
}

// jobs replays the jobs recordings: three prompts (one completes, one
// raises, one is interrupted), the jobs API while the first runs, and the
// socket that watched them.
func (r *replay) jobs(file string) {
	const wsFile = "jobs_ws_sequence.json"
	tr := r.files[file]
	ws := r.open(clientOf(r.t, r.files[wsFile].Steps[0]))
	var ids []string
	for i := range 3 {
		ids = append(ids, promptIDOf(r.t, tr.Steps[i]))
		r.step(file, i)
	}
	ws.await(r.t, ofPrompt(ids[0], "executing"))
	for i := 3; i < len(tr.Steps); i++ {
		r.step(file, i)
	}
	ws.await(r.t, ofPrompt(ids[2], "executing"))
	if res := do(r.t, "POST", r.base+"/interrupt", map[string]string{"prompt_id": ids[2]}); res.status != 200 {
		r.t.Fatalf("POST /interrupt = %d", res.status)
	}
	ws.await(r.t, promptDone(ids[2]))
	r.compareWS(wsFile, 0, ws.received())
}

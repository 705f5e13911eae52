package generate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// realMessages are message shapes ComfyUI sends, in the bytes its
// json.dumps writes: one of each type and key set in the transcripts
// (comfytest/testdata/transcripts), and the shapes comfyui-protocol.md §4
// describes that no transcript holds.
var realMessages = []struct{ name, msg string }{
	{"status at connect", `{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "rec-e622b34f"}}`},
	{"status", `{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 1}}}}`},
	{"execution_start", `{"type": "execution_start", "data": {"prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae", "timestamp": 1796517266406}}`},
	{"execution_cached none", `{"type": "execution_cached", "data": {"nodes": [], "prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae", "timestamp": 1796517266408}}`},
	{"execution_cached all", `{"type": "execution_cached", "data": {"nodes": ["1", "2"], "prompt_id": "b1e0c0d2-5a8f-4c63-9d0e-7f1f2b3c4d5e", "timestamp": 1796517263060}}`},
	{"progress_state start", `{"type": "progress_state", "data": {"prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae", "nodes": {"1": {"value": 0.0, "max": 1.0, "state": "running", "node_id": "1", "prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae", "display_node_id": "1", "parent_node_id": null, "real_node_id": "1"}}}}`},
	{"progress_state two nodes", `{"type": "progress_state", "data": {"prompt_id": "7de3e53f-550b-4b4f-9bd1-6b714772ed08", "nodes": {"1": {"value": 1.0, "max": 1.0, "state": "finished", "node_id": "1", "prompt_id": "7de3e53f-550b-4b4f-9bd1-6b714772ed08", "display_node_id": "1", "parent_node_id": null, "real_node_id": "1"}, "2": {"value": 0.0, "max": 1.0, "state": "running", "node_id": "2", "prompt_id": "7de3e53f-550b-4b4f-9bd1-6b714772ed08", "display_node_id": "2", "parent_node_id": null, "real_node_id": "2"}}}}`},
	{"progress_state step", `{"type": "progress_state", "data": {"prompt_id": "b7acc86f-d5ce-4ae2-aa11-50c3076ed97f", "nodes": {"1": {"value": 2, "max": 3, "state": "running", "node_id": "1", "prompt_id": "b7acc86f-d5ce-4ae2-aa11-50c3076ed97f", "display_node_id": "1", "parent_node_id": null, "real_node_id": "1"}}}}`},
	{"executing", `{"type": "executing", "data": {"node": "1", "display_node": "1", "prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae"}}`},
	{"executing on reconnect", `{"type": "executing", "data": {"node": "3"}}`},
	{"executing null", `{"type": "executing", "data": {"node": null, "prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae"}}`},
	{"progress", `{"type": "progress", "data": {"value": 1, "max": 25, "prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae", "node": "1"}}`},
	{"executed", `{"type": "executed", "data": {"node": "2", "display_node": "2", "output": {"images": [{"filename": "cb_empty_00001_.png", "subfolder": "", "type": "output"}]}, "prompt_id": "7de3e53f-550b-4b4f-9bd1-6b714772ed08"}}`},
	{"executed cached without ui", `{"type": "executed", "data": {"node": "9", "display_node": "9", "output": null, "prompt_id": "7de3e53f-550b-4b4f-9bd1-6b714772ed08"}}`},
	{"execution_success", `{"type": "execution_success", "data": {"prompt_id": "7de3e53f-550b-4b4f-9bd1-6b714772ed08", "timestamp": 1796517262175}}`},
	{"execution_interrupted", `{"type": "execution_interrupted", "data": {"prompt_id": "2f546515-f75e-4ff3-9192-ffeb83da6fae", "node_id": "1", "node_type": "SeededNoiseImage", "executed": [], "timestamp": 1796517267170}}`},
	// The traceback cut to its last frame.
	{"execution_error", `{"type": "execution_error", "data": {"prompt_id": "2e9e373a-b97e-4e2a-a0af-31a23fecd330", "node_id": "1", "node_type": "SeededNoiseImage", "executed": [], "exception_message": "SeededNoiseImage: magic failure seed 666\n", "exception_type": "RuntimeError", "traceback": ["  File \"/srv/ComfyUI/custom_nodes/seeded_noise.py\", line 47, in generate\n    raise RuntimeError(\"SeededNoiseImage: magic failure seed %d\" % seed)\n"], "current_inputs": {"seed": [666], "width": [64], "height": [64], "steps": [2], "sampler_name": ["euler"]}, "current_outputs": ["2", "1"], "timestamp": 1796517264197}}`},
	{"execution_error blocked", `{"type": "execution_error", "data": {"prompt_id": "2e9e373a-b97e-4e2a-a0af-31a23fecd330", "node_id": "5", "node_type": "KSampler", "executed": ["4"], "exception_message": "Execution Blocked: no", "exception_type": "ExecutionBlocked", "traceback": [], "current_inputs": [], "current_outputs": []}}`},
	{"execution_error float input", `{"type": "execution_error", "data": {"prompt_id": "p", "node_id": "3", "node_type": "KSampler", "executed": [], "exception_message": "x\n", "exception_type": "torch.OutOfMemoryError", "traceback": [], "current_inputs": {"cfg": [7.5], "denoise": [1.0], "seed": [18446744073709551615], "x": [-0.0, 1e-07, 2.5e+300, true, false, null, "\u00e9\u4e2d\ud83d\ude00"]}, "current_outputs": [], "timestamp": 1}}`},
	{"feature_flags", `{"type": "feature_flags", "data": {"supports_preview_metadata": true, "max_upload_size": 104857600}}`},
	{"feature_flags 0.8.0", `{"type": "feature_flags", "data": {"supports_preview_metadata": true, "max_upload_size": 104857600, "extension": {"manager": {"supports_v4": true}}}}`},
	{"prompt_id None", `{"type": "execution_start", "data": {"prompt_id": "None", "timestamp": 1796517262812}}`},
	{"logs", `{"type": "logs", "data": {"entries": [{"t": "2026-12-06T07:00:00", "m": "got prompt\n"}], "size": {"cols": 80, "rows": 24}}}`},
	{"custom node type", `{"type": "crystools.monitor", "data": {"cpu_utilization": 12.5, "gpus": [{"gpu_utilization": 99, "vram_used_percent": 51.25}]}}`},

	// Shapes no server sends, inside the accepted form.
	{"no data", `{"type": "status"}`},
	{"empty data", `{"type": "executing", "data": {}}`},
	{"timestamp null", `{"type": "execution_error", "data": {"prompt_id": "p", "timestamp": null}}`},
	{"timestamp object", `{"type": "execution_error", "data": {"prompt_id": "p", "timestamp": {"ms": [1, 2]}}}`},
	{"prompt_id null", `{"type": "executing", "data": {"prompt_id": null, "node": "3"}}`},
	{"empty strings", `{"type": "executing", "data": {"prompt_id": "", "node": ""}}`},
	{"non-ASCII values", `{"type": "ünïcode", "data": {"prompt_id": "日本", "node": "🙂"}}`},
	{"escapes elsewhere", `{"type": "executed", "data": {"node": "9", "output": {"text": ["a\"b\\c\/d\b\f\n\r\t\u0041"], "k\u00e9y": 1}, "prompt_id": "p"}}`},
	{"type-like keys elsewhere", `{"type": "x", "prompt_id": "top level is ignored", "Prompt_ID": 1, "data": {"type": 1, "DATA": 2, "output": {"Node": 1, "TIMESTAMP": 2, "node": 3, "node": 4}}}`},
	{"whitespace", " \t\r\n{ \"data\" :\n{\t\"node\"\r:\"3\" , \"prompt_id\" : \"p\" } ,\"type\"\n:\"executing\" }\n\t "},
	{"numbers", `{"type": "n", "data": {"a": [0, -0, 1, -1, 0.5, -0.5, 1e5, 1E5, 1e+5, 1e-5, 12.34e-56, 9007199254740993, 1e400], "timestamp": -1.5E+3}}`},
}

// declined are inputs decodeMessageFast must leave to encoding/json.
var declined = []struct{ name, msg string }{
	{"escape in type", `{"type": "progr\u0065ss", "data": {"prompt_id": "p"}}`},
	{"escape in prompt_id", `{"type": "progress", "data": {"prompt_id": "p\u0031"}}`},
	{"escaped slash in node", `{"type": "executing", "data": {"node": "3\/4", "prompt_id": "p"}}`},
	{"escape in a top key", `{"typ\u0065": "progress", "data": {}}`},
	{"escape in an ignored top key", `{"type": "progress", "d\u0061ta": {}}`},
	{"escape in a data key", `{"type": "progress", "data": {"prompt\u005fid": "p"}}`},
	{"escape in an ignored data key", `{"type": "progress", "data": {"v\u0061lue": 1}}`},
	{"type twice", `{"type": "progress", "type": "executing", "data": {}}`},
	{"data twice", `{"type": "progress", "data": {"prompt_id": "a"}, "data": {"prompt_id": "b"}}`},
	{"prompt_id twice", `{"type": "progress", "data": {"prompt_id": "a", "prompt_id": "b"}}`},
	{"node twice", `{"type": "executing", "data": {"node": "3", "node": null, "prompt_id": "p"}}`},
	{"timestamp twice", `{"type": "execution_error", "data": {"timestamp": 1, "timestamp": null}}`},
	{"Type", `{"Type": "progress", "data": {}}`},
	{"TYPE beside type", `{"type": "progress", "TYPE": "executing", "data": {}}`},
	{"Data", `{"type": "progress", "Data": {"prompt_id": "p"}}`},
	{"Prompt_Id", `{"type": "progress", "data": {"Prompt_Id": "p"}}`},
	{"NODE", `{"type": "executing", "data": {"NODE": "3"}}`},
	{"timeStamp", `{"type": "execution_error", "data": {"timeStamp": 1}}`},
	{"long s folds to s", `{"type": "execution_error", "data": {"time\u017ftamp": 1}}`},
	{"long s raw", "{\"type\": \"execution_error\", \"data\": {\"time\u017ftamp\": 1}}"},
	{"kelvin sign in an ignored key", "{\"type\": \"x\", \"data\": {\"\u212aey\": 1}}"},
	{"data null", `{"type": "status", "data": null}`},
	{"data array", `{"type": "status", "data": [1, 2]}`},
	{"data string", `{"type": "status", "data": "x"}`},
	{"data number", `{"type": "status", "data": 1}`},
	{"data true", `{"type": "status", "data": true}`},
	{"type number", `{"type": 1, "data": {}}`},
	{"type null", `{"type": null, "data": {}}`},
	{"type empty", `{"type": "", "data": {}}`},
	{"type absent", `{"data": {"prompt_id": "p"}}`},
	{"empty object", `{}`},
	{"prompt_id number", `{"type": "progress", "data": {"prompt_id": 1, "node": "3"}}`},
	{"prompt_id object", `{"type": "progress", "data": {"prompt_id": {}, "timestamp": 1}}`},
	{"node number", `{"type": "executing", "data": {"node": 3, "prompt_id": "p"}}`},
	{"node array", `{"type": "executing", "data": {"node": ["3"], "prompt_id": "p"}}`},
	{"node false", `{"type": "executing", "data": {"node": false, "prompt_id": "p"}}`},
	{"invalid UTF-8 in type", "{\"type\": \"pro\xffgress\", \"data\": {}}"},
	{"invalid UTF-8 in prompt_id", "{\"type\": \"progress\", \"data\": {\"prompt_id\": \"\xc3\"}}"},
	{"invalid UTF-8 elsewhere", "{\"type\": \"progress\", \"data\": {\"x\": \"\xed\xa0\x80\"}}"},
	{"NaN", `{"type": "progress", "data": {"value": NaN}}`},
	{"Infinity", `{"type": "execution_error", "data": {"current_inputs": {"cfg": [Infinity]}, "timestamp": 1}}`},
	{"leading zero", `{"type": "progress", "data": {"value": 01}}`},
	{"bare point", `{"type": "progress", "data": {"value": 1.}}`},
	{"point first", `{"type": "progress", "data": {"value": .5}}`},
	{"plus", `{"type": "progress", "data": {"value": +1}}`},
	{"minus alone", `{"type": "progress", "data": {"value": -}}`},
	{"empty exponent", `{"type": "progress", "data": {"value": 1e}}`},
	{"hex", `{"type": "progress", "data": {"value": 0x10}}`},
	{"trailing comma in data", `{"type": "progress", "data": {"value": 1,}}`},
	{"trailing comma", `{"type": "progress", "data": {},}`},
	{"trailing comma in array", `{"type": "progress", "data": {"a": [1,]}}`},
	{"missing colon", `{"type" "progress", "data": {}}`},
	{"missing comma", `{"type": "progress" "data": {}}`},
	{"single quotes", `{'type': 'progress', 'data': {}}`},
	{"unquoted key", `{type: "progress"}`},
	{"unterminated", `{"type": "progress", "data": {"value": 1}`},
	{"unterminated string", `{"type": "progress`},
	{"truncated escape", `{"type": "progress", "data": {"x": "\u12`},
	{"bad escape", `{"type": "progress", "data": {"x": "\x"}}`},
	{"bad unicode escape", `{"type": "progress", "data": {"x": "\u12g4"}}`},
	{"control character", "{\"type\": \"progress\", \"data\": {\"x\": \"a\tb\"}}"},
	{"NUL in type", "{\"type\": \"pro\x00gress\"}"},
	{"trailing garbage", `{"type": "progress", "data": {}} x`},
	{"two objects", `{"type": "progress"}{"type": "status"}`},
	{"bad literal", `{"type": "progress", "data": {"x": tru}}`},
	{"literal with a tail", `{"type": "progress", "data": {"x": nullx}}`},
	{"Python None", `{"type": "progress", "data": {"x": None}}`},
	{"byte order mark", "\xef\xbb\xbf{\"type\": \"status\", \"data\": {}}"},
	{"top-level array", `[{"type": "progress"}]`},
	{"top-level string", `"progress"`},
	{"top-level null", `null`},
	{"empty", ``},
	{"spaces", `   `},
	{"too deep", `{"type": "x", "data": {"a": ` + strings.Repeat("[", maxMessageDepth) + strings.Repeat("]", maxMessageDepth) + `}}`},
	{"too deep and invalid", `{"type": "x", "data": {"a": ` + strings.Repeat("[", 20000) + `}}`},
}

// messageForms returns msg (as ComfyUI writes it) as the simulator writes
// it, json.Marshal of a map: compact, keys sorted, < > & escaped; and
// compacted in its own key order.
func messageForms(t testing.TB, msg []byte) map[string][]byte {
	t.Helper()
	forms := map[string][]byte{"python": msg}
	var c bytes.Buffer
	if err := json.Compact(&c, msg); err != nil {
		t.Fatalf("compact %s: %v", msg, err)
	}
	forms["compact"] = c.Bytes()
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", msg, err)
	}
	g, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %s: %v", msg, err)
	}
	forms["go"] = g
	return forms
}

// checkFast checks that decodeMessageFast accepts b and agrees with
// decodeMessageJSON.
func checkFast(t *testing.T, b []byte) {
	t.Helper()
	fast, ok := decodeMessageFast(b)
	if !ok {
		t.Errorf("decodeMessageFast(%s) declined", b)
		return
	}
	slow, sok := decodeMessageJSON(b)
	if !sok || !reflect.DeepEqual(fast, slow) {
		t.Errorf("decodeMessageFast(%s)\n = %s\nencoding/json\n = %s, %v", b, showMessage(fast), showMessage(slow), sok)
	}
}

// showMessage prints m with its Node's value and Data as text.
func showMessage(m Message) string {
	node := "nil"
	if m.Node != nil {
		node = fmt.Sprintf("%q", *m.Node)
	}
	data := "nil"
	if m.Data != nil {
		data = fmt.Sprintf("%q", m.Data)
	}
	return fmt.Sprintf("{Type %q PromptID %q Node %s HasTimestamp %v Data %s}", m.Type, m.PromptID, node, m.HasTimestamp, data)
}

func TestDecodeMessageFast(t *testing.T) {
	for _, tt := range realMessages {
		for form, b := range messageForms(t, []byte(tt.msg)) {
			t.Run(tt.name+"/"+form, func(t *testing.T) { checkFast(t, b) })
		}
	}
}

// TestDecodeMessageFastTranscripts: every text message of every recorded
// WebSocket sequence, as ComfyUI sent it (the recordings' compacted text
// with json.dumps' separators put back) and as the simulator would, takes
// the fast path and decodes as with encoding/json.
func TestDecodeMessageFastTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("comfytest", "testdata", "transcripts", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	n := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var tr struct {
			Steps []struct {
				Messages []struct {
					Text json.RawMessage `json:"text"`
				} `json:"messages"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(data, &tr); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, st := range tr.Steps {
			for _, m := range st.Messages {
				if m.Text == nil {
					continue // a marker, a close frame
				}
				forms := messageForms(t, m.Text)
				forms["python"] = pythonSeparators(forms["compact"])
				for _, b := range forms {
					checkFast(t, b)
				}
				n++
			}
		}
	}
	if n < 100 {
		t.Errorf("%d messages in the transcripts, want at least 100", n)
	}
}

// pythonSeparators puts json.dumps' ", " and ": " into compact JSON.
func pythonSeparators(compact []byte) []byte {
	var out []byte
	inString, escaped := false, false
	for _, c := range compact {
		out = append(out, c)
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ',' || c == ':'):
			out = append(out, ' ')
		}
	}
	return out
}

func TestDecodeMessageFastDeclines(t *testing.T) {
	for _, tt := range declined {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.msg)
			if m, ok := decodeMessageFast(b); ok {
				t.Errorf("decodeMessageFast(%q) = %s, want declined", b, showMessage(m))
			}
			got, ok := decodeMessage(b)
			want, wok := decodeMessageJSON(b)
			if ok != wok || !reflect.DeepEqual(got, want) {
				t.Errorf("decodeMessage(%q) = %s, %v; encoding/json %s, %v", b, showMessage(got), ok, showMessage(want), wok)
			}
		})
	}
}

// TestDecodeMessageFastCopiesData: Data does not share the input's
// memory, which the caller may reuse, as encoding/json's copy does not.
func TestDecodeMessageFastCopiesData(t *testing.T) {
	b := []byte(`{"type": "progress", "data": {"value": 1, "max": 20, "prompt_id": "p", "node": "3"}}`)
	m, ok := decodeMessageFast(b)
	if !ok {
		t.Fatal("declined")
	}
	want := string(m.Data)
	for i := range b {
		b[i] = 'x'
	}
	if string(m.Data) != want || m.PromptID != "p" || *m.Node != "3" || m.Type != "progress" {
		t.Errorf("after the input was overwritten: %s", showMessage(m))
	}
}

// FuzzDecodeMessage: decodeMessage always answers as encoding/json does,
// and whenever decodeMessageFast accepts an input it agrees with
// encoding/json. Each input is checked as a message and as the data of
// one, and the seeds hold the data objects of realMessages too, so that
// more mutations of data take the fast path.
func FuzzDecodeMessage(f *testing.F) {
	for _, tt := range realMessages {
		for _, b := range messageForms(f, []byte(tt.msg)) {
			f.Add(b)
		}
		var env struct{ Data json.RawMessage }
		if err := json.Unmarshal([]byte(tt.msg), &env); err != nil {
			f.Fatal(err)
		}
		if env.Data != nil {
			f.Add([]byte(env.Data))
		}
	}
	for _, tt := range declined {
		if len(tt.msg) < 1000 {
			f.Add([]byte(tt.msg))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgree(t, b)
		checkAgree(t, append(append([]byte(`{"type": "progress", "data": `), b...), '}'))
	})
}

// checkAgree checks that decodeMessage answers as decodeMessageJSON does
// for b, and that decodeMessageFast, if it accepts b, does too.
func checkAgree(t *testing.T, b []byte) {
	t.Helper()
	slow, sok := decodeMessageJSON(b)
	if fast, ok := decodeMessageFast(b); ok && (!sok || !reflect.DeepEqual(fast, slow)) {
		t.Errorf("decodeMessageFast(%q)\n = %s\nencoding/json\n = %s, %v", b, showMessage(fast), showMessage(slow), sok)
	}
	if m, ok := decodeMessage(b); ok != sok || !reflect.DeepEqual(m, slow) {
		t.Errorf("decodeMessage(%q) = %s, %v; encoding/json %s, %v", b, showMessage(m), ok, showMessage(slow), sok)
	}
}

// txt2imgMessages returns the text messages ComfyUI 0.3.64 sends its
// client for one default txt2img prompt (comfyui-protocol.md §4.4 A, with
// the progress_state messages and their number kinds as the transcripts
// show them): nodes 4, 5, 6, 7, KSampler 3 with 20 steps (a progress_state
// and a progress per step, two identical finished progress_states after
// it), 8, and SaveImage 9. 70 messages, 60 of them progress or
// progress_state.
func txt2imgMessages() [][]byte {
	const pid = "0f7c3a9e-58d2-4b1e-9c6a-2d4e8f1b7a35"
	var (
		msgs   [][]byte
		order  []string
		states = map[string]string{}
	)
	add := func(typ, data string) {
		msgs = append(msgs, []byte(`{"type": "`+typ+`", "data": {`+data+`}}`))
	}
	progressState := func(id, value, max, state string) {
		if _, ok := states[id]; !ok {
			order = append(order, id)
		}
		states[id] = `"` + id + `": {"value": ` + value + `, "max": ` + max + `, "state": "` + state + `", "node_id": "` + id +
			`", "prompt_id": "` + pid + `", "display_node_id": "` + id + `", "parent_node_id": null, "real_node_id": "` + id + `"}`
		nodes := make([]string, len(order))
		for i, id := range order {
			nodes[i] = states[id]
		}
		add("progress_state", `"prompt_id": "`+pid+`", "nodes": {`+strings.Join(nodes, ", ")+`}`)
	}
	add("status", `"status": {"exec_info": {"queue_remaining": 1}}`)
	add("status", `"status": {"exec_info": {"queue_remaining": 1}}`)
	add("execution_start", `"prompt_id": "`+pid+`", "timestamp": 1796517262812`)
	add("execution_cached", `"nodes": [], "prompt_id": "`+pid+`", "timestamp": 1796517262813`)
	for _, id := range []string{"4", "5", "6", "7", "3", "8", "9"} {
		progressState(id, "0.0", "1.0", "running")
		add("executing", `"node": "`+id+`", "display_node": "`+id+`", "prompt_id": "`+pid+`"`)
		switch id {
		case "3":
			for k := 1; k <= 20; k++ {
				progressState(id, fmt.Sprint(k), "20", "running")
				add("progress", fmt.Sprintf(`"value": %d, "max": 20, "prompt_id": "%s", "node": "3"`, k, pid))
			}
			progressState(id, "20", "20", "finished")
			progressState(id, "20", "20", "finished")
			continue
		case "9":
			add("executed", `"node": "9", "display_node": "9", "output": {"images": [{"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"}]}, "prompt_id": "`+pid+`"`)
		}
		progressState(id, "1.0", "1.0", "finished")
	}
	add("execution_success", `"prompt_id": "`+pid+`", "timestamp": 1796517275120`)
	add("status", `"status": {"exec_info": {"queue_remaining": 0}}`)
	add("executing", `"node": null, "prompt_id": "`+pid+`"`)
	return msgs
}

// BenchmarkDecodeMessage decodes one txt2img prompt's messages
// (txt2imgMessages; an op is the whole prompt) as ComfyUI writes them
// (python) and as the simulator does (go), with decodeMessage (fast) and
// with encoding/json alone (json).
func BenchmarkDecodeMessage(b *testing.B) {
	py := txt2imgMessages()
	sim := make([][]byte, len(py))
	size := 0
	for i, m := range py {
		sim[i] = messageForms(b, m)["go"]
		size += len(m)
	}
	for _, form := range []struct {
		name string
		msgs [][]byte
	}{{"python", py}, {"go", sim}} {
		for _, m := range form.msgs {
			if _, ok := decodeMessageFast(m); !ok {
				b.Fatalf("decodeMessageFast declined %s", m)
			}
		}
		for _, dec := range []struct {
			name string
			f    func([]byte) (Message, bool)
		}{{"fast", decodeMessage}, {"json", decodeMessageJSON}} {
			b.Run(form.name+"/"+dec.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					for _, m := range form.msgs {
						if _, ok := dec.f(m); !ok {
							b.Fatalf("%s declined %s", dec.name, m)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(form.msgs)), "ns/msg")
			})
		}
	}
}

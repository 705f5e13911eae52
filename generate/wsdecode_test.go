package generate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

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
// (python) and as the simulator does (go), with encoding/json (json).
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
		for _, dec := range []struct {
			name string
			f    func([]byte) (Message, bool)
		}{{"json", decodeMessageJSON}} {
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

package comfytest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image/png"
	"testing"
)

func TestPreviewFrames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		extra     map[string]any
		flags     bool
		wantType  uint32
		wantAfter string // the message type right before each frame
	}{
		{"server flag, plain client", Options{PreviewMethod: "auto"}, nil, false, 1, "progress"},
		{"server flag, metadata client", Options{PreviewMethod: "auto"}, nil, true, 4, "progress_state"},
		{"per-prompt preview_method", Options{}, map[string]any{"preview_method": "taesd"}, false, 1, "progress"},
		{"off", Options{}, nil, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newSim(t, tc.opts)
			ws := dialWS(t, base, "c1")
			ws.next(t)
			if tc.flags {
				ws.c.WriteJSON(map[string]any{"type": "feature_flags", "data": map[string]any{"supports_preview_metadata": true}})
				ws.until(t, func(m wsMsg) bool { return m.Type == "feature_flags" })
			}
			id := newUUID()
			body := map[string]any{"prompt": withSteps(t, 3, 1), "prompt_id": id, "client_id": "c1"}
			if tc.extra != nil {
				body["extra_data"] = tc.extra
			}
			if r := do(t, "POST", base+"/prompt", body); r.status != 200 {
				t.Fatalf("POST /prompt = %d %s", r.status, r.body)
			}
			msgs := ws.until(t, finished(id))
			frames := 0
			for i, m := range msgs {
				if m.Type != "binary" {
					continue
				}
				frames++
				if got := binary.BigEndian.Uint32(m.Bin); got != tc.wantType {
					t.Fatalf("frame type %d, want %d", got, tc.wantType)
				}
				if prev := msgs[i-1].Type; prev != tc.wantAfter {
					t.Errorf("frame after %s, want after %s", prev, tc.wantAfter)
				}
				img := m.Bin[8:]
				if tc.wantType == 4 {
					n := binary.BigEndian.Uint32(m.Bin[4:])
					var meta map[string]any
					if err := json.Unmarshal(m.Bin[8:8+n], &meta); err != nil || meta["node_id"] != "3" || meta["prompt_id"] != id || meta["image_type"] != "image/png" {
						t.Errorf("metadata %s: %v", m.Bin[8:8+n], err)
					}
					img = m.Bin[8+n:]
				} else if f := binary.BigEndian.Uint32(m.Bin[4:]); f != 2 {
					t.Errorf("format %d, want 2 (PNG)", f)
				}
				if _, err := png.Decode(bytes.NewReader(img)); err != nil {
					t.Errorf("preview image: %v", err)
				}
			}
			want := 3
			if tc.wantType == 0 {
				want = 0
			}
			if frames != want {
				t.Errorf("%d preview frames, want %d", frames, want)
			}
		})
	}
}

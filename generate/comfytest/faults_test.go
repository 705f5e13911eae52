package comfytest

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/http"
	"strconv"
	"testing"

	"github.com/gorilla/websocket"
)

// TestViewTruncateFault: a truncated /view answer is a 200 whose
// Content-Length matches the cut body, so the HTTP client reads it without
// error and only the PNG's structure shows the damage.
func TestViewTruncateFault(t *testing.T) {
	sim, base := newSim(t, Options{})
	id, r := submit(t, base, withSteps(t, 2, 1), "")
	if r.status != 200 {
		t.Fatalf("POST /prompt = %d %s", r.status, r.body)
	}
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	h := do(t, "GET", base+"/history/"+id, nil).json(t).(map[string]any)
	img := h[id].(map[string]any)["outputs"].(map[string]any)["9"].(map[string]any)["images"].([]any)[0].(map[string]any)
	url := base + "/view?type=output&filename=" + img["filename"].(string)
	whole := do(t, "GET", url, nil)
	if _, err := png.Decode(bytes.NewReader(whole.body)); whole.status != 200 || err != nil {
		t.Fatalf("GET /view = %d, decode: %v", whole.status, err)
	}

	sim.SetFaults(Faults{ViewTruncateRate: 1})
	cut := do(t, "GET", url, nil) // do fails the test on a read error
	if cut.status != 200 || len(cut.body) != len(whole.body)/2 || !bytes.Equal(cut.body, whole.body[:len(cut.body)]) {
		t.Errorf("truncated GET /view = %d with %d bytes, want 200 with the first %d of %d", cut.status, len(cut.body), len(whole.body)/2, len(whole.body))
	}
	if cl := cut.header.Get("Content-Length"); cl != strconv.Itoa(len(cut.body)) {
		t.Errorf("truncated GET /view Content-Length %q, want %d", cl, len(cut.body))
	}
	if r := do(t, "GET", base+"/queue", nil); r.status != 200 {
		t.Errorf("GET /queue with ViewTruncateRate 1 = %d, want 200 (only /view is cut)", r.status)
	}
}

// TestAuthTokenFault: requests without the token are answered 401 with a
// challenge, a wrong token 403 with a body, the right one passes; the
// WebSocket upgrade is guarded too.
func TestAuthTokenFault(t *testing.T) {
	sim, base := newSim(t, Options{})
	sim.SetFaults(Faults{AuthToken: "s3cret"})
	get := func(auth string) (int, http.Header, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/system_stats", nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, resp.Header, b.Bytes()
	}
	if code, h, _ := get(""); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("without a token: %d, WWW-Authenticate %q; want 401 with a challenge", code, h.Get("WWW-Authenticate"))
	}
	if code, _, body := get("Bearer wrong"); code != 403 || len(bytes.TrimSpace(body)) == 0 {
		t.Errorf("with a wrong token: %d %q; want 403 with a body", code, body)
	}
	if code, _, _ := get("Bearer s3cret"); code != 200 {
		t.Errorf("with the token: %d, want 200", code)
	}
	ws := "ws" + base[len("http"):] + "/ws?clientId=c1"
	if _, resp, err := websocket.DefaultDialer.DialContext(t.Context(), ws, nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("WebSocket without a token: err %v, resp %v; want a 401", err, resp)
	}
	c, _, err := websocket.DefaultDialer.DialContext(t.Context(), ws, http.Header{"Authorization": {"Bearer s3cret"}})
	if err != nil {
		t.Fatalf("WebSocket with the token: %v", err)
	}
	c.Close()
}

// TestLostReplyFault: a POST /prompt whose answer is lost gets no HTTP
// answer at all, yet the prompt was queued and runs; other requests are
// answered.
func TestLostReplyFault(t *testing.T) {
	sim, base := newSim(t, Options{})
	sim.SetFaults(Faults{LostReplyRate: 1})
	id := newUUID()
	body, err := json.Marshal(map[string]any{"prompt": withSteps(t, 2, 1), "prompt_id": id})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/prompt", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("POST /prompt with LostReplyRate 1 = %d, want no answer", resp.StatusCode)
	}
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatalf("the prompt whose answer was lost did not run: %v", err)
	}
	if st := sim.Stats(); st.Prompts != 1 {
		t.Errorf("%d prompts ran, want 1", st.Prompts)
	}
	if r := do(t, "GET", base+"/history/"+id, nil); r.status != 200 {
		t.Errorf("GET /history with LostReplyRate 1 = %d, want 200 (only POST /prompt loses its answer)", r.status)
	}
}

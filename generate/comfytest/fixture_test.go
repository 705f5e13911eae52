package comfytest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is one recorded request/response pair or execution transcript
// from comfyui-protocol.md, replayed against the simulator over real sockets.
type fixture struct {
	Name           string
	Ref            string
	Set            map[string]json.RawMessage
	SecondSet      map[string]json.RawMessage `json:"second_set"`
	Delete         []string
	Body           json.RawMessage
	RawBody        *string `json:"raw_body"`
	Faults         *Faults
	TimeScale      float64 `json:"time_scale"`
	Submissions    int
	InterruptOn    string `json:"interrupt_on"`
	Status         int
	Response       json.RawMessage
	WS             []string
	WSData         map[string]json.RawMessage `json:"ws_data"`
	ExecutingNodes []string                   `json:"executing_nodes"`
	History        json.RawMessage
	// SimOnly marks fixtures that depend on the simulator's catalogue,
	// checkpoints or fault injection; they are not replayed against a real server.
	SimOnly bool `json:"sim_only"`
	// NeedsCheckpoint marks fixtures whose txt2img graph must validate up to
	// its CheckpointLoaderSimple: they use the first checkpoint the server
	// lists, and skip on a server that lists none.
	NeedsCheckpoint bool `json:"needs_checkpoint"`
}

func decodeNumber(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func TestFixtures(t *testing.T) {
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			eachFixture(t, func(t *testing.T, fx fixture) {
				sim, base := newSim(t, Options{Version: v, TimeScale: fx.TimeScale})
				runFixture(t, fx, base, sim)
			})
		})
	}
}

// TestFixturesModelFree replays the fixtures a real server must pass
// against simulators without checkpoints, as TestFixturesRealComfyUI does
// against a model-free ComfyUI: those that need a checkpoint must skip,
// the others must pass.
func TestFixturesModelFree(t *testing.T) {
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			_, base := newSim(t, Options{Version: v, Checkpoints: []string{}})
			eachFixture(t, func(t *testing.T, fx fixture) {
				if fx.SimOnly || fx.Faults != nil {
					t.Skip("simulator-only fixture")
				}
				runFixture(t, fx, base, nil)
			})
		})
	}
}

// TestFixturesRealComfyUI replays the fixtures that hold for any ComfyUI
// against a real server when COMFYBATCH_REAL_URL is set (e.g.
// http://127.0.0.1:8188), so the recordings stay honest. A model-free
// server passes every fixture that needs no checkpoint; those that do skip
// and say what to install.
func TestFixturesRealComfyUI(t *testing.T) {
	base := os.Getenv("COMFYBATCH_REAL_URL")
	if base == "" {
		t.Skip("COMFYBATCH_REAL_URL not set")
	}
	eachFixture(t, func(t *testing.T, fx fixture) {
		if fx.SimOnly || fx.Faults != nil {
			t.Skip("simulator-only fixture")
		}
		runFixture(t, fx, strings.TrimSuffix(base, "/"), nil)
	})
}

// firstCheckpoint returns the first ckpt_name option the server at base
// lists, skipping the test when it lists none.
func firstCheckpoint(t *testing.T, base string) string {
	t.Helper()
	res := do(t, "GET", base+"/object_info/CheckpointLoaderSimple", nil)
	var info map[string]struct {
		Input struct {
			Required struct {
				CkptName []json.RawMessage `json:"ckpt_name"`
			} `json:"required"`
		} `json:"input"`
	}
	if res.status != 200 || json.Unmarshal(res.body, &info) != nil {
		t.Fatalf("GET /object_info/CheckpointLoaderSimple = %d %s", res.status, res.body)
	}
	var names []string
	if spec := info["CheckpointLoaderSimple"].Input.Required.CkptName; len(spec) > 0 {
		json.Unmarshal(spec[0], &names) // V1 combo: the option list is the type
	}
	if len(names) == 0 {
		t.Skip("this fixture needs a checkpoint and the server lists none in /object_info/CheckpointLoaderSimple: " +
			"put any checkpoint (.safetensors or .ckpt) in ComfyUI/models/checkpoints and run again")
	}
	return names[0]
}

func eachFixture(t *testing.T, run func(*testing.T, fixture)) {
	files, err := filepath.Glob("testdata/fixtures/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var fx fixture
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			t.Logf("%s (%s)", fx.Name, fx.Ref)
			run(t, fx)
		})
	}
}

// runFixture replays fx against base; sim is nil for a real server.
func runFixture(t *testing.T, fx fixture, base string, sim *Server) {
	if fx.Faults != nil {
		sim.SetFaults(*fx.Faults)
	}
	clientID := "fixture-" + newUUID()[:8]
	ws := dialWS(t, base, clientID)
	if m, _ := ws.next(t); m.Type != "status" || m.Data["sid"] != clientID {
		t.Fatalf("first message = %+v, want status with sid %q", m, clientID)
	}
	apply := func(g map[string]any, set map[string]json.RawMessage) {
		for path, v := range set {
			setPath(g, path, decodeNumber(t, v), false)
		}
	}
	g := txt2img(t)
	if fx.NeedsCheckpoint {
		setPath(g, "4.inputs.ckpt_name", firstCheckpoint(t, base), false)
	}
	apply(g, fx.Set)
	for _, p := range fx.Delete {
		setPath(g, p, nil, true)
	}

	var res httpResult
	var promptID string
	switch {
	case fx.RawBody != nil:
		res = do(t, "POST", base+"/prompt", *fx.RawBody)
	case fx.Body != nil:
		res = do(t, "POST", base+"/prompt", []byte(fx.Body))
	default:
		for i := 1; i < fx.Submissions; i++ {
			id, r := submit(t, base, g, clientID)
			if r.status != 200 {
				t.Fatalf("submission %d: %d %s", i, r.status, r.body)
			}
			ws.until(t, finished(id))
		}
		apply(g, fx.SecondSet)
		promptID, res = submit(t, base, g, clientID)
	}
	if res.status != fx.Status {
		t.Fatalf("POST /prompt = %d %s, want %d", res.status, res.body, fx.Status)
	}
	if fx.Response != nil {
		for _, d := range shapeDiff("response", "", decodeNumber(t, fx.Response), res.json(t)) {
			t.Error(d)
		}
	}
	if fx.WS == nil {
		return
	}

	interrupted := false
	msgs := ws.until(t, func(m wsMsg) bool {
		if fx.InterruptOn != "" && m.Type == fx.InterruptOn && !interrupted {
			interrupted = true
			if r := do(t, "POST", base+"/interrupt", map[string]any{"prompt_id": promptID}); r.status != 200 {
				t.Errorf("POST /interrupt = %d", r.status)
			}
		}
		return finished(promptID)(m)
	})
	if got := types(msgs); !typesMatchPattern(fx.WS, got) {
		t.Errorf("websocket types:\n got %v\nwant %v", got, fx.WS)
	}
	for typ, want := range fx.WSData {
		i := slices.IndexFunc(msgs, func(m wsMsg) bool { return m.Type == typ })
		if i < 0 {
			t.Errorf("no %s message", typ)
			continue
		}
		got := decodeNumber(t, mustJSON(t, msgs[i].Data))
		for _, d := range shapeDiff(typ, "", decodeNumber(t, want), got) {
			t.Error(d)
		}
	}
	var executing []string
	for _, m := range msgs {
		if node, ok := m.Data["node"].(string); ok && m.Type == "executing" {
			executing = append(executing, node)
		}
		if id, ok := m.Data["prompt_id"]; ok && id != promptID {
			t.Errorf("%s for prompt %v, want %s", m.Type, id, promptID)
		}
	}
	if fx.ExecutingNodes != nil && !slices.Equal(executing, fx.ExecutingNodes) {
		t.Errorf("executing nodes = %v, want %v", executing, fx.ExecutingNodes)
	}
	if fx.History != nil {
		h := do(t, "GET", base+"/history/"+promptID, nil).json(t).(map[string]any)
		entry, ok := h[promptID]
		if !ok {
			t.Fatalf("history has no %s after executing null: %v", promptID, h)
		}
		for _, d := range shapeDiff("history", "", decodeNumber(t, fx.History), entry) {
			t.Error(d)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

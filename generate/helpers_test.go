package generate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// testWorkflow returns testdata/txt2img.json with the seed, checkpoint and
// prompt text set; the seed is written as a literal so values above 2^53
// stay exact.
func testWorkflow(t testing.TB, seed uint64, ckpt string) json.RawMessage {
	t.Helper()
	data, err := os.ReadFile("testdata/txt2img.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var wf map[string]map[string]any
	if err := dec.Decode(&wf); err != nil {
		t.Fatal(err)
	}
	wf["3"]["inputs"].(map[string]any)["seed"] = json.Number(strconv.FormatUint(seed, 10))
	wf["4"]["inputs"].(map[string]any)["ckpt_name"] = ckpt
	out, err := json.Marshal(wf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testJob(t testing.TB, i int, seed uint64, ckpt string) comfybatch.Job {
	t.Helper()
	wf := testWorkflow(t, seed, ckpt)
	key, err := comfybatch.KeyOf(wf, nil)
	if err != nil {
		t.Fatal(err)
	}
	return comfybatch.Job{
		Key: key, Index: i, Group: ckpt, Workflow: wf, Affinity: ckpt,
		Params: []comfybatch.Param{{Name: "seed", Value: seed}, {Name: "ckpt", Value: ckpt}},
	}
}

// testTasks returns n tasks cycling over the checkpoints (the checkpoint
// varies fastest, as a seeds x checkpoints sweep expands).
func testTasks(t testing.TB, n int, ckpts ...string) []Task {
	t.Helper()
	if len(ckpts) == 0 {
		ckpts = []string{"sd_xl_base_1.0.safetensors"}
	}
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{Job: testJob(t, i, 1<<60+uint64(i), ckpts[i%len(ckpts)])}
	}
	return tasks
}

func startSim(t testing.TB, opts ...comfytest.Options) *comfytest.Fleet {
	t.Helper()
	sim, err := comfytest.StartFleetEach(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func simOptions(n int, o comfytest.Options) []comfytest.Options {
	out := make([]comfytest.Options, n)
	for i := range out {
		out[i] = o
	}
	return out
}

func instancesOf(sim *comfytest.Fleet) []Instance {
	var out []Instance
	for i, u := range sim.URLs() {
		out = append(out, Instance{Name: fmt.Sprintf("gpu%d", i), URL: u})
	}
	return out
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// runAll runs the fleet and collects the results, failing the test on a
// second result for one job or a missing one.
func runAll(t testing.TB, ctx context.Context, f *Fleet, tasks []Task) (map[string]Result, error) {
	t.Helper()
	results := make(chan Result, len(tasks))
	err := f.Run(ctx, tasks, results)
	close(results)
	got := map[string]Result{}
	for r := range results {
		key := r.Candidate.Job.Key
		if r.Err != nil && key != errKey(tasks, r) {
			t.Errorf("failed result for job %s names another job: %v", key, r.Err)
		}
		if _, dup := got[key]; dup {
			t.Errorf("second result for job %s: %+v", key, r)
		}
		got[key] = r
	}
	return got, err
}

// errKey finds the job a failed Result belongs to: its error message names it.
func errKey(tasks []Task, r Result) string {
	for _, tk := range tasks {
		if bytes.Contains([]byte(r.Err.Error()), []byte(tk.Job.Key)) {
			return tk.Job.Key
		}
	}
	return "unknown: " + r.Err.Error()
}

func checkImage(t testing.TB, r Result) {
	t.Helper()
	if _, err := png.Decode(bytes.NewReader(r.Candidate.Image)); err != nil {
		t.Errorf("job %s: image from %s does not decode: %v", r.Candidate.Job.Key, r.Candidate.Instance, err)
	}
}

// events records fleet events for assertions.
type events struct {
	mu  sync.Mutex
	all []Event
	ch  chan Event
}

func newEvents() *events { return &events{ch: make(chan Event, 10000)} }

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	select {
	case e.ch <- ev:
	default:
	}
}

func (e *events) count(kind EventKind) int { return len(e.ofKind(kind)) }

// ofKind returns the events of one kind so far, in order.
func (e *events) ofKind(kind EventKind) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// snapshot returns every event so far.
func (e *events) snapshot() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.all...)
}

// waitFor blocks until an event matching ok arrives or the deadline passes.
func (e *events) waitFor(t testing.TB, ok func(Event) bool) Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no matching fleet event within 20s")
			return Event{}
		}
	}
}

package generate

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// Real servers answer POST /prompt before or after the prompt's first
// status broadcasts (comfyui-protocol.md §0.1 item 6, §4.5): the client
// must see every event of its prompt, in order, either way, and a fleet
// must finish its jobs either way.

var replyOrders = []struct {
	name  string
	order comfytest.ReplyOrder
}{
	{"answer-before-events", comfytest.ReplyBeforeEvents},
	{"answer-after-events", comfytest.ReplyAfterEvents},
}

func TestSubmitAnswerBeforeAndAfterEvents(t *testing.T) {
	for _, v := range comfytest.Versions() {
		for _, ro := range replyOrders {
			t.Run(v+"/"+ro.name, func(t *testing.T) {
				fleet := startSim(t, comfytest.Options{Version: v, TimeScale: 0.002, ReplyOrder: ro.order})
				c := NewClient(fleet.URLs()[0], nil, ClientOptions{Logger: testLogger(t)})
				w, err := c.Connect(t.Context(), "order-test")
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				res, err := c.Submit(t.Context(), SubmitRequest{Prompt: testWorkflow(t, 7, "sd_xl_base_1.0.safetensors"), ClientID: "order-test"})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				timeout := time.After(20 * time.Second)
				for done := false; !done; {
					select {
					case m, ok := <-w.Messages():
						if !ok {
							t.Fatalf("websocket closed: %v", w.Err())
						}
						if m.PromptID != "" && m.PromptID != res.PromptID {
							t.Fatalf("%s for prompt %s, want %s", m.Type, m.PromptID, res.PromptID)
						}
						if m.Type != "progress" && m.Type != "progress_state" {
							got = append(got, m.Type)
						}
						done = m.Terminal() && m.Type == "executing"
					case <-timeout:
						t.Fatalf("no end of prompt within 20s; got %v", got)
					}
				}
				// The connect status, the queue's and the worker's status, then
				// the prompt's run; the answer came before or after those.
				want := []string{"status", "status", "status", "execution_start", "execution_cached"}
				if !slices.Equal(got[:len(want)], want) {
					t.Errorf("first messages %v, want %v (all: %v)", got[:len(want)], want, got)
				}
				tail := []string{"executed", "execution_success", "status", "executing"}
				if !slices.Equal(got[len(got)-len(tail):], tail) {
					t.Errorf("last messages %v, want %v", got[len(got)-len(tail):], tail)
				}
				h, err := c.History(t.Context(), res.PromptID)
				if err != nil || h == nil || len(h.Images()) != 1 || h.Err() != nil {
					t.Errorf("History = %+v, %v; want one image", h, err)
				}
			})
		}
	}
}

func TestFleetAnswerBeforeAndAfterEvents(t *testing.T) {
	for _, v := range comfytest.Versions() {
		for _, ro := range replyOrders {
			t.Run(fmt.Sprint(v, "/", ro.name), func(t *testing.T) {
				sim := startSim(t, simOptions(2, comfytest.Options{Version: v, TimeScale: 0.002, ReplyOrder: ro.order})...)
				f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				tasks := testTasks(t, 8)
				got, err := runAll(t, t.Context(), f, tasks)
				if err != nil {
					t.Fatalf("Run = %v", err)
				}
				for _, tk := range tasks {
					if r, ok := got[tk.Job.Key]; !ok || r.Err != nil {
						t.Errorf("job %d: %+v", tk.Job.Index, r.Err)
					} else {
						checkImage(t, r)
					}
				}
			})
		}
	}
}

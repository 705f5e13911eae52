package generate

import (
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
)

func TestFleetHappyPath(t *testing.T) {
	sim := startSim(t, simOptions(3, comfytest.Options{TimeScale: 0.002})...)
	ev := newEvents()
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 30, comfytest.DefaultCheckpoints()[:3]...)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(got) != len(tasks) {
		t.Fatalf("%d results for %d tasks", len(got), len(tasks))
	}
	// A prompt taken over by tail stealing is an attempt too; nothing failed.
	stolen := map[string]int{}
	for _, e := range ev.ofKind(EventStolen) {
		stolen[e.JobKey]++
	}
	for _, tk := range tasks {
		r, ok := got[tk.Job.Key]
		if !ok || r.Err != nil {
			t.Errorf("job %d: result %+v", tk.Job.Index, r.Err)
			continue
		}
		checkImage(t, r)
		if want := 1 + stolen[tk.Job.Key]; r.Attempts != want || r.Candidate.Attempt != want || r.Candidate.PromptID == "" || r.Candidate.Filename == "" {
			t.Errorf("job %d: attempts %d, candidate %+v", tk.Job.Index, r.Attempts, r.Candidate.PromptID)
		}
	}
	total := 0
	for i, s := range sim.Servers() {
		st := s.Stats()
		total += st.Prompts
		if st.Prompts == 0 {
			t.Errorf("instance %d generated nothing", i)
		}
	}
	if total != len(tasks) {
		t.Errorf("servers ran %d prompts for %d jobs", total, len(tasks))
	}
	for _, st := range f.Stats() {
		if st.Prompts == 0 || st.Failures != 0 {
			t.Errorf("fleet stats %+v", st)
		}
	}
}

package generate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

func TestFleetResumeAdoptsPriorAttempts(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
	insts := instancesOf(sim)
	tasks := testTasks(t, 4, "sd_xl_base_1.0.safetensors")
	// A previous process submitted jobs 0 and 1, which finished.
	for i := range 2 {
		c := NewClient(insts[i].URL, nil, ClientOptions{})
		pid := NewPromptID()
		if _, err := c.Submit(t.Context(), SubmitRequest{Prompt: tasks[i].Job.Workflow, PromptID: pid}); err != nil {
			t.Fatal(err)
		}
		if err := sim.Servers()[i].WaitHistory(t.Context(), pid); err != nil {
			t.Fatal(err)
		}
		tasks[i].Prior = []Attempt{{JobKey: tasks[i].Job.Key, Instance: insts[i].Name, PromptID: pid, Number: 1}}
	}
	// Job 2's prompt was lost in a restart; job 3's instance is gone.
	tasks[2].Prior = []Attempt{{JobKey: tasks[2].Job.Key, Instance: insts[0].Name, PromptID: NewPromptID(), Number: 1}}
	tasks[3].Prior = []Attempt{{JobKey: tasks[3].Job.Key, Instance: "retired", PromptID: NewPromptID(), Number: 1}}
	before := sim.Servers()[0].Stats().Prompts + sim.Servers()[1].Stats().Prompts

	ev := newEvents()
	f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for i, tk := range tasks {
		r := got[tk.Job.Key]
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
		checkImage(t, r)
		adopted := i < 2
		if adopted && (r.Candidate.PromptID != tk.Prior[0].PromptID || r.Candidate.Attempt != 1) {
			t.Errorf("job %d: candidate prompt %s attempt %d, want the prior %s attempt 1", i, r.Candidate.PromptID, r.Candidate.Attempt, tk.Prior[0].PromptID)
		}
		if !adopted && (r.Candidate.PromptID == tk.Prior[0].PromptID || r.Candidate.Attempt != 2 || r.Attempts != 2) {
			t.Errorf("job %d: candidate prompt %s attempt %d (%d attempts), want a new attempt 2", i, r.Candidate.PromptID, r.Candidate.Attempt, r.Attempts)
		}
	}
	after := sim.Servers()[0].Stats().Prompts + sim.Servers()[1].Stats().Prompts
	if after-before != 2 || ev.count(EventAdopted) != 2 {
		t.Errorf("servers ran %d new prompts, %d adopted; want 2 and 2", after-before, ev.count(EventAdopted))
	}
}

func TestFleetTimeoutInterruptsThatPrompt(t *testing.T) {
	stuck := comfytest.Options{TimeScale: 0.002, Speed: 0.0001} // ~6s per job
	sim := startSim(t, stuck, comfytest.Options{TimeScale: 0.002})
	insts := instancesOf(sim)
	insts[0].InFlight = 1
	log := newAttemptLog()
	interrupted := map[string]bool{}
	evs, cancel := sim.Servers()[0].Subscribe()
	f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond, Backoff: 10 * time.Millisecond,
		JobTimeout: 300 * time.Millisecond, BeforeSubmit: log.record})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 4)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, tk := range tasks {
		if r := got[tk.Job.Key]; r.Err != nil || r.Candidate.Instance != "gpu1" {
			t.Errorf("job %d: %v on %q, want success on gpu1", tk.Job.Index, r.Err, r.Candidate.Instance)
		}
	}
	ctx, stop := context.WithTimeout(t.Context(), 20*time.Second)
	defer stop()
	if err := sim.Servers()[0].WaitIdle(ctx); err != nil {
		t.Fatalf("stuck server never became idle: %v", err)
	}
	cancel()
	for ev := range evs {
		if ev.Type == "execution_interrupted" {
			interrupted[ev.PromptID()] = true
		}
	}
	var onStuck []string
	for pid, a := range log.byPID {
		if a.Instance == "gpu0" {
			onStuck = append(onStuck, pid)
		}
	}
	if len(onStuck) == 0 || len(interrupted) != len(onStuck) {
		t.Errorf("%d attempts on the stuck instance, %d interrupted; want every one interrupted", len(onStuck), len(interrupted))
	}
	for pid := range interrupted {
		if log.byPID[pid].Instance != "gpu0" {
			t.Errorf("interrupted prompt %s is not one of our attempts on gpu0", pid)
		}
	}
}

func TestFleetShutdownDeletesOnlyOurPending(t *testing.T) {
	sim := startSim(t, comfytest.Options{TimeScale: 0.002, Speed: 0.0003}) // ~2s per job
	srv := sim.Servers()[0]
	insts := instancesOf(sim)
	insts[0].InFlight = 3
	ev := newEvents()
	log := newAttemptLog()
	f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond, OnEvent: ev.add, BeforeSubmit: log.record})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 6)
	runErr := make(chan error, 1)
	results := make(chan Result, len(tasks))
	go func() { runErr <- f.Run(t.Context(), tasks, results) }()
	// All three submitted, and one of ours running for Shutdown to interrupt.
	for submitted, started := 0, false; submitted < 3 || !started; {
		e := ev.waitFor(t, func(e Event) bool { return e.Kind == EventSubmitted || e.Kind == EventStarted })
		if e.Kind == EventSubmitted {
			submitted++
		} else {
			started = true
		}
	}
	c := NewClient(insts[0].URL, nil, ClientOptions{})
	foreign := NewPromptID()
	if _, err := c.Submit(t.Context(), SubmitRequest{Prompt: testWorkflow(t, 99, "sd_xl_base_1.0.safetensors"), PromptID: foreign}); err != nil {
		t.Fatal(err)
	}
	grace, stop := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer stop()
	if err := f.Shutdown(grace); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-runErr; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after Shutdown = %v, want context.Canceled", err)
	}
	if len(results) != 0 {
		t.Errorf("%d results after Shutdown, want none (nothing could finish in the grace)", len(results))
	}
	q, err := c.Queue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for pid := range log.byPID {
		if q.IsPending(pid) {
			t.Errorf("our prompt %s still pending after Shutdown", pid)
		}
	}
	if !q.Has(foreign) {
		t.Errorf("the foreign prompt %s was removed: queue %+v", foreign, q)
	}
	if err := srv.WaitHistory(t.Context(), foreign); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Interrupted != 1 || st.Succeeded != 1 {
		t.Errorf("server stats %+v: want our running prompt interrupted and only the foreign one generated", st)
	}
}

func TestFleetTagsAndTiers(t *testing.T) {
	t.Run("tags", func(t *testing.T) {
		sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
		insts := instancesOf(sim)
		insts[0].Tags = []string{"sdxl"}
		f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		tasks := testTasks(t, 7)
		for i := range tasks {
			tasks[i].Job.Tags = []string{"sdxl"}
		}
		tasks[6].Job.Tags = []string{"flux"}
		got, err := runAll(t, t.Context(), f, tasks)
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		for _, tk := range tasks[:6] {
			if r := got[tk.Job.Key]; r.Err != nil || r.Candidate.Instance != "gpu0" {
				t.Errorf("job %d tagged sdxl: %v on %q, want gpu0", tk.Job.Index, r.Err, r.Candidate.Instance)
			}
		}
		if r := got[tasks[6].Job.Key]; !errors.Is(r.Err, comfybatch.ErrInvalid) {
			t.Errorf("job tagged flux: %v, want ErrInvalid", r.Err)
		}
	})
	t.Run("overflow tier idle while the primary has room", func(t *testing.T) {
		sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
		insts := instancesOf(sim)
		insts[1].Tier = 1
		f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		tasks := testTasks(t, 2) // exactly the primary's two slots
		if _, err := runAll(t, t.Context(), f, tasks); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if st := f.Stats(); st[0].Prompts != 2 || st[1].Prompts != 0 {
			t.Errorf("stats %+v, want both prompts on the primary", st)
		}
	})
	t.Run("overflow tier takes over a down primary", func(t *testing.T) {
		sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
		sim.Servers()[0].SetFaults(comfytest.Faults{Down: true})
		insts := instancesOf(sim)
		insts[1].Tier = 1
		f, err := NewFleet(insts, Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxAttempts: 5})
		if err != nil {
			t.Fatal(err)
		}
		tasks := testTasks(t, 8)
		got, err := runAll(t, t.Context(), f, tasks)
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		for _, tk := range tasks {
			if r := got[tk.Job.Key]; r.Err != nil || r.Candidate.Instance != "gpu1" {
				t.Errorf("job %d: %v on %q, want gpu1", tk.Job.Index, r.Err, r.Candidate.Instance)
			}
		}
	})
}

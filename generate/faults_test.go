package generate

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// attemptLog records every attempt BeforeSubmit saw.
type attemptLog struct {
	mu    sync.Mutex
	byPID map[string]Attempt
	byJob map[string][]Attempt
}

func newAttemptLog() *attemptLog {
	return &attemptLog{byPID: map[string]Attempt{}, byJob: map[string][]Attempt{}}
}

func (l *attemptLog) record(_ context.Context, a Attempt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byPID[a.PromptID] = a
	l.byJob[a.JobKey] = append(l.byJob[a.JobKey], a)
	return nil
}

// successes subscribes to every server and counts execution_success per
// prompt id; stop returns the counts.
func successes(t *testing.T, sim *comfytest.Fleet) (stop func() map[string]int) {
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	var cancels []func()
	for _, s := range sim.Servers() {
		ch, cancel := s.Subscribe()
		cancels = append(cancels, cancel)
		wg.Go(func() {
			for ev := range ch {
				if ev.Type == "execution_success" {
					mu.Lock()
					count[ev.PromptID()]++
					mu.Unlock()
				}
			}
		})
	}
	return func() map[string]int {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return count
	}
}

func TestFleetSurvivesFaults(t *testing.T) {
	base := comfytest.Options{TimeScale: 0.005}
	slow := base
	slow.Speed = 0.3
	sim := startSim(t, base, base, slow, base)
	srv := sim.Servers()
	srv[0].SetFaults(comfytest.Faults{WSDropEvery: 300 * time.Millisecond, HTTP500Rate: 0.05, Seed: 1})
	srv[1].SetFaults(comfytest.Faults{HTTP500Rate: 0.05, OOMRate: 0.1, ExecErrorRate: 0.03, Seed: 2})
	srv[2].SetFaults(comfytest.Faults{WSDropEvery: 200 * time.Millisecond, Seed: 3})
	stop := successes(t, sim)

	log := newAttemptLog()
	ev := newEvents()
	f, err := NewFleet(instancesOf(sim), Options{
		Logger: testLogger(t), MaxAttempts: 8, PollInterval: 50 * time.Millisecond, Backoff: 20 * time.Millisecond,
		GiveUpAfter: time.Minute, BeforeSubmit: log.record, OnEvent: ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 80, comfytest.DefaultCheckpoints()[:3]...)

	type outcome struct {
		got map[string]Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		got, err := runAll(t, t.Context(), f, tasks)
		done <- outcome{got, err}
	}()
	// Restart gpu3 after some work, then take it down for a window.
	doneOn := func(name string) func(Event) bool {
		return func(e Event) bool { return e.Kind == EventDone && e.Instance == name }
	}
	ev.waitFor(t, doneOn("gpu3"))
	srv[3].Restart()
	ev.waitFor(t, doneOn("gpu0"))
	srv[3].SetFaults(comfytest.Faults{Down: true})
	ev.waitFor(t, func(e Event) bool { return e.Kind == EventInstanceDown && e.Instance == "gpu3" })
	ev.waitFor(t, doneOn("gpu1"))
	srv[3].SetFaults(comfytest.Faults{})

	var o outcome
	select {
	case o = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not finish within 60s")
	}
	if o.err != nil {
		t.Fatalf("Run = %v", o.err)
	}
	if len(o.got) != len(tasks) {
		t.Fatalf("%d results for %d tasks", len(o.got), len(tasks))
	}
	ok := 0
	for _, tk := range tasks {
		r := o.got[tk.Job.Key]
		if r.Err != nil {
			if comfybatch.Class(r.Err) == comfybatch.ClassOther || errors.Is(r.Err, comfybatch.ErrInvalid) {
				t.Errorf("job %d failed with an unexpected class: %v", tk.Job.Index, r.Err)
			}
			continue
		}
		ok++
		checkImage(t, r)
		if a, known := log.byPID[r.Candidate.PromptID]; !known || a.JobKey != tk.Job.Key || a.Number != r.Candidate.Attempt {
			t.Errorf("job %d: candidate prompt %s attempt %d was not recorded by BeforeSubmit (%+v)", tk.Job.Index, r.Candidate.PromptID, r.Candidate.Attempt, a)
		}
	}
	if ok < len(tasks)*9/10 {
		t.Errorf("only %d of %d jobs succeeded", ok, len(tasks))
	}
	// No generation the fleet did not record: every successful execution
	// on a server is one of our recorded attempts, and none ran twice.
	for pid, n := range stop() {
		if _, known := log.byPID[pid]; !known {
			t.Errorf("server generated prompt %s that no attempt recorded", pid)
		}
		if n > 1 {
			t.Errorf("prompt %s succeeded %d times", pid, n)
		}
	}
	if ev.count(EventInstanceUp) == 0 || ev.count(EventRetry) == 0 {
		t.Errorf("events: %d instance_up, %d retries; want both > 0", ev.count(EventInstanceUp), ev.count(EventRetry))
	}
	t.Logf("%d/%d ok, %d retries, stats %+v", ok, len(tasks), ev.count(EventRetry), f.Stats())
}

// countingTransport counts POST /prompt and GET /view requests, and the
// GET /object_info requests answered 200.
type countingTransport struct {
	posts, views, objectInfo atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/prompt":
		c.posts.Add(1)
	case r.URL.Path == "/view":
		c.views.Add(1)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusOK && r.URL.Path == "/object_info" {
		c.objectInfo.Add(1)
	}
	return resp, err
}

func TestFleetInvalidPromptNotRetried(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
	ct := &countingTransport{}
	f, err := NewFleet(instancesOf(sim), Options{HTTPClient: &http.Client{Transport: ct}, Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tasks := []Task{{Job: testJob(t, 0, 7, "missing.safetensors")}}
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	r := got[tasks[0].Job.Key]
	pe, isPE := errors.AsType[*PromptError](r.Err)
	if !errors.Is(r.Err, comfybatch.ErrInvalid) || !isPE || len(pe.NodeErrors["4"]) == 0 {
		t.Fatalf("Result.Err = %v, want a *PromptError (ErrInvalid) naming node 4", r.Err)
	}
	if r.Candidate.Job.Key != tasks[0].Job.Key || r.Candidate.Instance == "" || r.Candidate.PromptID == "" || r.Candidate.Attempt != 1 {
		t.Errorf("failed Result.Candidate = job %q instance %q prompt %q attempt %d; want the job and its attempt",
			r.Candidate.Job.Key, r.Candidate.Instance, r.Candidate.PromptID, r.Candidate.Attempt)
	}
	if n := ct.posts.Load(); n != 1 || r.Attempts != 1 {
		t.Errorf("POST /prompt sent %d times, %d attempts; want 1 and 1", n, r.Attempts)
	}
}

func TestFleetGivesUpWhenEveryInstanceIsDown(t *testing.T) {
	sim := startSim(t, comfytest.Options{TimeScale: 0.002})
	sim.Servers()[0].SetFaults(comfytest.Faults{Down: true})
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), PollInterval: 20 * time.Millisecond,
		Backoff: 10 * time.Millisecond, GiveUpAfter: 200 * time.Millisecond, MaxAttempts: 100})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 5)
	got, err := runAll(t, t.Context(), f, tasks)
	if !errors.Is(err, comfybatch.ErrTransient) || !errors.Is(err, comfybatch.ErrOutage) {
		t.Errorf("Run = %v, want an ErrOutage (and ErrTransient) giving up", err)
	}
	if len(got) != len(tasks) {
		t.Fatalf("%d results for %d tasks", len(got), len(tasks))
	}
	for key, r := range got {
		if !errors.Is(r.Err, comfybatch.ErrTransient) {
			t.Errorf("job %s: %v, want ErrTransient", key, r.Err)
		}
	}
}

package generate

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// TestTailStealing runs a very slow and a fast instance. The slow one takes
// two jobs at the start (one runs, one waits in its queue); once the fast
// one has nothing left to pick, it takes the queued one over. Every job
// ends once, the stolen ones on the fast instance, and the servers ran each
// job exactly once.
func TestTailStealing(t *testing.T) {
	// About 1.8s for the slow instance's first prompt (it loads the
	// checkpoint), a few ms a prompt on the fast one.
	sim := startSim(t, comfytest.Options{TimeScale: 0.01, Speed: 0.01}, comfytest.Options{TimeScale: 0.01})
	insts := []Instance{{Name: "slow", URL: sim.URLs()[0]}, {Name: "fast", URL: sim.URLs()[1]}}
	ev := newEvents()
	var mu sync.Mutex
	recorded := map[string][]Attempt{} // job key -> attempts BeforeSubmit saw
	f, err := NewFleet(insts, Options{
		Logger: testLogger(t), PollInterval: 100 * time.Millisecond, OnEvent: ev.add,
		BeforeSubmit: func(_ context.Context, a Attempt) error {
			mu.Lock()
			recorded[a.JobKey] = append(recorded[a.JobKey], a)
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	tasks := testTasks(t, n)
	res, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	stolen := map[string]Event{}
	for _, e := range ev.ofKind(EventStolen) {
		stolen[e.JobKey] = e
	}
	if len(stolen) == 0 {
		t.Fatalf("no prompt was stolen from the slow instance; stats %+v", f.Stats())
	}
	for key, e := range stolen {
		r := res[key]
		if e.Instance != "slow" || r.Err != nil || r.Candidate.Instance != "fast" || r.Attempts != 2 || r.Candidate.Attempt != 2 {
			t.Errorf("stolen job %s (from %s): result on %q, attempt %d, Attempts %d, err %v; want fast, 2, 2, nil",
				key, e.Instance, r.Candidate.Instance, r.Candidate.Attempt, r.Attempts, r.Err)
		}
		mu.Lock()
		as := recorded[key]
		mu.Unlock()
		if len(as) != 2 || as[0].Instance != "slow" || as[1].Instance != "fast" || as[1].Number != 2 || as[0].PromptID == as[1].PromptID ||
			as[0].PromptID != e.PromptID {
			t.Errorf("BeforeSubmit for stolen job %s saw %+v, want attempt 1 on slow (prompt %s), then 2 on fast", key, as, e.PromptID)
		}
	}
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("job %s: %v", r.Candidate.Job.Key, r.Err)
			continue
		}
		checkImage(t, r)
	}
	// Server side: every job executed exactly once, and the stolen prompts
	// never ran.
	slow, fast := sim.Servers()[0].Stats(), sim.Servers()[1].Stats()
	if slow.Prompts+fast.Prompts != n || slow.Succeeded+fast.Succeeded != n {
		t.Errorf("servers executed %d+%d prompts (%d+%d succeeded), want %d in all", slow.Prompts, fast.Prompts, slow.Succeeded, fast.Succeeded, n)
	}
	st := f.Stats()
	if st[0].Stolen != len(stolen) || st[1].Stolen != 0 || st[0].Prompts+st[1].Prompts != n+len(stolen) || st[0].Failures+st[1].Failures != 0 {
		t.Errorf("fleet stats %+v, want %d stolen from slow, %d prompts, no failures", st, len(stolen), n+len(stolen))
	}
}

// TestStealOnlyPendingPrompts checks the steal itself against the
// simulator: a running prompt is left alone (the steal is abandoned and
// the prompt finishes), a queued one is deleted and never runs.
func TestStealOnlyPendingPrompts(t *testing.T) {
	sim := startSim(t, comfytest.Options{TimeScale: 0.2}) // ~0.35s a prompt: the steals happen while the first runs
	srv := sim.Servers()[0]
	rs := newTestRun(t, Options{}, Instance{Name: "victim", URL: sim.URLs()[0]}, Instance{Name: "thief", URL: "http://unused"})
	victim, thief := rs.f.insts[0], rs.f.insts[1]
	events, unsubscribe := srv.Subscribe()
	defer unsubscribe()

	submit := func(seed uint64) (*flight, chan Message) {
		t.Helper()
		job := testJob(t, int(seed), seed, "sd_xl_base_1.0.safetensors")
		a := Attempt{JobKey: job.Key, Instance: "victim", PromptID: NewPromptID(), Number: 1}
		ch := victim.register(a.PromptID)
		t.Cleanup(func() { victim.unregister(a.PromptID) })
		if _, err := victim.c.Submit(t.Context(), SubmitRequest{Prompt: job.Workflow, PromptID: a.PromptID, ClientID: "steal-test"}); err != nil {
			t.Fatal(err)
		}
		victim.addFlight(&jobState{task: Task{Job: job}, attempts: 1, last: a}, a)
		victim.mu.Lock()
		fl := victim.flights[a.PromptID]
		fl.stealing = true // as claimStealLocked leaves it
		victim.mu.Unlock()
		return fl, ch
	}
	running, _ := submit(1)
	queued, queuedCh := submit(2)
	// Wait until the first prompt runs (the second then waits behind it).
	deadline := time.After(20 * time.Second)
	for started := false; !started; {
		select {
		case e := <-events:
			started = e.Type == "execution_start" && e.PromptID() == running.a.PromptID
		case <-deadline:
			t.Fatal("the first prompt did not start within 20s")
		}
	}

	if rs.steal(t.Context(), thief, victim, running) {
		t.Errorf("steal of a running prompt succeeded")
	}
	if !rs.steal(t.Context(), thief, victim, queued) {
		t.Errorf("steal of a queued prompt failed")
	}
	victim.mu.Lock()
	if running.stolen || !running.tried || !running.started() || running.stealing {
		t.Errorf("running prompt after the steal: %+v, want tried and started, not stolen", *running)
	}
	if !queued.stolen || !queued.tried || queued.stealing || victim.st.Stolen != 1 {
		t.Errorf("queued prompt after the steal: %+v (stolen count %d), want stolen", *queued, victim.st.Stolen)
	}
	victim.mu.Unlock()

	// The victim's waiter is told, and its await ends with errStolen.
	if _, err := victim.await(t.Context(), queued.a.JobKey, queued.a, queuedCh); err != errStolen {
		t.Errorf("victim's await = %v, want errStolen", err)
	}
	if err := srv.WaitIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	h, err := victim.c.History(t.Context(), queued.a.PromptID)
	if st.Prompts != 1 || st.Succeeded != 1 || h != nil || err != nil {
		t.Errorf("server ran %d prompts (%d succeeded), stolen prompt's history %v (%v); want only the running one", st.Prompts, st.Succeeded, h, err)
	}
}

// TestStolenAttemptsDoNotCountAgainstMaxAttempts: a job whose first attempt
// was taken over still gets its MaxAttempts failed attempts.
func TestStolenAttemptsDoNotCountAgainstMaxAttempts(t *testing.T) {
	f, err := NewFleet([]Instance{{URL: "http://a"}}, Options{MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	js := &jobState{attempts: 2, steals: 1}
	if !f.retryable(js, f.insts[0], transientError{io.EOF}) {
		t.Errorf("retryable after 1 stolen and 1 failed attempt of 2 = false, want true")
	}
	js.steals = 0
	if f.retryable(js, f.insts[0], transientError{io.EOF}) {
		t.Errorf("retryable after 2 failed attempts of 2 = true, want false")
	}
}

// TestTailHandOutPrefersFasterInstance: with only a few jobs left, a slow
// instance leaves a job to a faster one that would finish it sooner, but
// takes it when the faster one is busy enough, and always while many jobs
// are left.
func TestTailHandOutPrefersFasterInstance(t *testing.T) {
	rs := newTestRun(t, Options{}, Instance{Name: "slow", URL: "http://a"}, Instance{Name: "fast", URL: "http://b"})
	slow, fast := rs.f.insts[0], rs.f.insts[1]
	now := time.Now()
	rs.pending = affJobs("A")
	if d := rs.leaveToFasterLocked(slow, now); d != 0 {
		t.Errorf("without execution estimates: leave = %s, want 0 (take)", d)
	}
	slow.exec, fast.exec = 400*time.Millisecond, 100*time.Millisecond
	if d := rs.leaveToFasterLocked(slow, now); d != 100*time.Millisecond {
		t.Errorf("last job, fast instance idle: slow leaves for %s, want 100ms (a quarter of its estimate)", d)
	}
	if d := rs.leaveToFasterLocked(fast, now); d != 0 {
		t.Errorf("last job: fast instance leaves it (%s), want take", d)
	}
	// Four prompts queued on the fast instance: it would finish the job
	// after 500ms, the slow one after 400ms.
	for i := range 4 {
		fast.addFlight(affJobs("A")[0], Attempt{PromptID: string(rune('p' + i))})
	}
	if d := rs.leaveToFasterLocked(slow, now); d != 0 {
		t.Errorf("fast instance busy: slow leaves the job (%s), want take", d)
	}
	fast.flights = map[string]*flight{}
	rs.pending = affJobs("A", "A", "A", "A", "A")
	if d := rs.leaveToFasterLocked(slow, now); d != 0 {
		t.Errorf("5 jobs left (fast would finish them after 100..500ms): slow leaves them (%s), want take", d)
	}
	rs.f.opts.NoSteal = true
	rs.pending = affJobs("A")
	if d := rs.leaveToFasterLocked(slow, now); d != 0 {
		t.Errorf("NoSteal: leave = %s, want 0", d)
	}
}

// TestWeightsStandInForMeasurements: before an instance has run a prompt,
// its Weight relative to measured instances gives its estimate; before any
// has, unequal Weights alone rank the instances and equal ones say nothing.
func TestWeightsStandInForMeasurements(t *testing.T) {
	rs := newTestRun(t, Options{}, Instance{Name: "slow", URL: "http://a"}, Instance{Name: "fast", URL: "http://b", Weight: 4})
	slow, fast := rs.f.insts[0], rs.f.insts[1]
	now := time.Now()
	est := rs.f.execEstimates(now)
	if est[slow] != nominalExec || est[fast] != nominalExec/4 {
		t.Errorf("no samples, weights 1 and 4: estimates %s and %s, want %s and %s", est[slow], est[fast], nominalExec, nominalExec/4)
	}
	rs.pending = affJobs("A")
	if d := rs.leaveToFasterLocked(slow, now); d != nominalExec/4 {
		t.Errorf("last job, weight-4 instance idle: weight-1 instance leaves for %s, want %s", d, nominalExec/4)
	}
	if d := rs.leaveToFasterLocked(fast, now); d != 0 {
		t.Errorf("last job: weight-4 instance leaves it (%s), want take", d)
	}
	fast.exec = 100 * time.Millisecond
	if est := rs.f.execEstimates(now); est[slow] != 400*time.Millisecond || est[fast] != 100*time.Millisecond {
		t.Errorf("fast measured at 100ms: estimates %s and %s, want 400ms (through the weights) and 100ms", est[slow], est[fast])
	}
	slow.exec = 150 * time.Millisecond // measured: the weight no longer matters
	if est := rs.f.execEstimates(now); est[slow] != 150*time.Millisecond {
		t.Errorf("slow measured at 150ms: estimate %s, want 150ms", est[slow])
	}

	even := newTestRun(t, Options{}, Instance{Name: "a", URL: "http://a", Weight: 2}, Instance{Name: "b", URL: "http://b", Weight: 2})
	if est := even.f.execEstimates(now); est != nil {
		t.Errorf("equal weights, no samples: estimates %v, want none", est)
	}
	if _, err := NewFleet([]Instance{{URL: "http://a", Weight: -1}}, Options{}); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("negative weight: err = %v, want ErrInvalid", err)
	}
}

// TestSmallBatchStartsOnHeavierInstance: a fresh fleet with one job and two
// idle instances runs it on the one whose Weight says it is faster, as it
// does every later single job (then by measurement).
func TestSmallBatchStartsOnHeavierInstance(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.001})...)
	inst := instancesOf(sim)
	inst[1].Weight = 3
	f, err := NewFleet(inst, Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tasks := []Task{{Job: testJob(t, 0, uint64(100+i), "sd_xl_base_1.0.safetensors")}}
		got, err := runAll(t, t.Context(), f, tasks)
		if err != nil {
			t.Fatal(err)
		}
		if r := got[tasks[0].Job.Key]; r.Candidate.Instance != inst[1].Name {
			t.Errorf("job %d ran on %q, want the weight-3 instance %q", i, r.Candidate.Instance, inst[1].Name)
		}
	}
}

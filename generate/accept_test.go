package generate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

func ckptOf(j comfybatch.Job) string {
	v, _ := j.Param("ckpt")
	s, _ := v.(string)
	return s
}

// refuse returns an Accept that refuses jobs with these checkpoints.
func refuse(ckpts ...string) func(comfybatch.Job) error {
	return func(j comfybatch.Job) error {
		if slices.Contains(ckpts, ckptOf(j)) {
			return fmt.Errorf("node 4 (CheckpointLoaderSimple) input ckpt_name: %q is not available", ckptOf(j))
		}
		return nil
	}
}

// TestFleetHonoursAccept: a job an instance refuses never goes there, and
// a job every instance refuses fails as bad input before anything is
// submitted for it, naming each instance's reason.
func TestFleetHonoursAccept(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
	ckpts := comfytest.DefaultCheckpoints()[:3]
	insts := instancesOf(sim)
	insts[0].Accept = refuse(ckpts[1], ckpts[2])
	insts[1].Accept = refuse(ckpts[2])
	log := newAttemptLog()
	f, err := NewFleet(insts, Options{Logger: testLogger(t), BeforeSubmit: log.record, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 12, ckpts...)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, tk := range tasks {
		r := got[tk.Job.Key]
		switch ckptOf(tk.Job) {
		case ckpts[2]:
			if !errors.Is(r.Err, comfybatch.ErrInvalid) || !strings.Contains(r.Err.Error(), "instance gpu0: node 4") ||
				!strings.Contains(r.Err.Error(), "instance gpu1: node 4") || len(log.byJob[tk.Job.Key]) != 0 {
				t.Errorf("job %d (refused everywhere): %v after %d submissions, want ErrInvalid naming both refusals, none submitted",
					tk.Job.Index, r.Err, len(log.byJob[tk.Job.Key]))
			}
		case ckpts[1]:
			if r.Err != nil || r.Candidate.Instance != "gpu1" {
				t.Errorf("job %d (refused by gpu0): %v from %q, want a candidate from gpu1", tk.Job.Index, r.Err, r.Candidate.Instance)
			}
		default:
			if r.Err != nil {
				t.Errorf("job %d: %v", tk.Job.Index, r.Err)
			}
		}
	}
}

// ckptCheck is an Options.Check that accepts the jobs whose checkpoint
// the instance's CheckpointLoaderSimple offers.
func ckptCheck(_ string, info json.RawMessage) (func(comfybatch.Job) error, error) {
	var oi map[string]struct {
		Input struct {
			Required map[string][]json.RawMessage `json:"required"`
		} `json:"input"`
	}
	if err := json.Unmarshal(info, &oi); err != nil {
		return nil, err
	}
	var have []string
	if spec := oi["CheckpointLoaderSimple"].Input.Required["ckpt_name"]; len(spec) > 0 {
		_ = json.Unmarshal(spec[0], &have)
	}
	return func(j comfybatch.Job) error {
		if !slices.Contains(have, ckptOf(j)) {
			return fmt.Errorf("checkpoint %q is not installed", ckptOf(j))
		}
		return nil
	}, nil
}

// TestFleetChecksInstancesWhenTheyComeUp: with Options.Check, each
// instance's /object_info is fetched once; an instance that is down at
// the start gets no job until it came up and was checked, and a job that
// no instance offers fails as bad input once both are checked.
func TestFleetChecksInstancesWhenTheyComeUp(t *testing.T) {
	ckpts := comfytest.DefaultCheckpoints()
	sim := startSim(t,
		comfytest.Options{TimeScale: 0.05, Checkpoints: ckpts[:2]},
		comfytest.Options{TimeScale: 0.05, Checkpoints: ckpts[:3]})
	sim.Servers()[1].SetFaults(comfytest.Faults{Down: true})
	ct := &countingTransport{}
	ev := newEvents()
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), HTTPClient: &http.Client{Transport: ct}, Check: ckptCheck,
		OnEvent: ev.add, PollInterval: 50 * time.Millisecond, Backoff: 5 * time.Millisecond, GiveUpAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 40, ckpts[0], ckpts[1], ckpts[2], ckpts[0], ckpts[1], "not-installed.safetensors")
	done := make(chan map[string]Result, 1)
	go func() { // owned here: waited for on done
		got, err := runAll(t, t.Context(), f, tasks)
		if err != nil {
			t.Errorf("Run = %v", err)
		}
		done <- got
	}()
	ev.waitFor(t, func(e Event) bool { return e.Kind == EventInstanceDown && e.Instance == "gpu1" })
	ev.waitFor(t, func(e Event) bool { return e.Kind == EventDone && e.Instance == "gpu0" })
	up := time.Now()
	sim.Servers()[1].SetFaults(comfytest.Faults{})
	got := <-done

	for _, e := range ev.snapshot() {
		if e.Kind == EventSubmitted && e.Instance == "gpu1" && e.Time.Before(up) {
			t.Errorf("gpu1 got prompt %s while it was down and unchecked", e.PromptID)
		}
	}
	for _, tk := range tasks {
		r := got[tk.Job.Key]
		switch ckptOf(tk.Job) {
		case "not-installed.safetensors":
			if !errors.Is(r.Err, comfybatch.ErrInvalid) || !strings.Contains(r.Err.Error(), "instance gpu1: checkpoint") {
				t.Errorf("job %d (no instance has its checkpoint): %v, want ErrInvalid naming gpu1's refusal", tk.Job.Index, r.Err)
			}
		case ckpts[2]:
			if r.Err != nil || r.Candidate.Instance != "gpu1" {
				t.Errorf("job %d (only gpu1 has its checkpoint): %v from %q, want a candidate from gpu1", tk.Job.Index, r.Err, r.Candidate.Instance)
			}
		default:
			if r.Err != nil {
				t.Errorf("job %d: %v", tk.Job.Index, r.Err)
			}
		}
	}
	if n := ct.objectInfo.Load(); n != 2 {
		t.Errorf("/object_info answered %d times, want once per instance", n)
	}
}

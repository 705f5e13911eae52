package generate

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// TestFleetFetchesDamagedDownloadsAgain: /view answers cut in half (a
// valid 200 with a matching Content-Length) are fetched again; no
// candidate carries a damaged image, and an instance whose every download
// is damaged delivers nothing: its jobs are retried elsewhere.
func TestFleetFetchesDamagedDownloadsAgain(t *testing.T) {
	sim := startSim(t, simOptions(3, comfytest.Options{TimeScale: 0.002})...)
	srv := sim.Servers()
	srv[0].SetFaults(comfytest.Faults{ViewTruncateRate: 0.5, Seed: 1})
	srv[1].SetFaults(comfytest.Faults{ViewTruncateRate: 1})
	ev := newEvents()
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), MaxAttempts: 6,
		PollInterval: 50 * time.Millisecond, Backoff: 5 * time.Millisecond, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 30)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, tk := range tasks {
		r := got[tk.Job.Key]
		if r.Err != nil {
			t.Errorf("job %d failed: %v", tk.Job.Index, r.Err)
			continue
		}
		checkImage(t, r)
		if err := VerifyImage(r.Candidate.Image, 0); err != nil {
			t.Errorf("job %d: candidate from %s is damaged: %v", tk.Job.Index, r.Candidate.Instance, err)
		}
		if r.Candidate.Instance == "gpu1" {
			t.Errorf("job %d: candidate from gpu1, whose every download is cut", tk.Job.Index)
		}
	}
	retried := 0
	ev.mu.Lock()
	for _, e := range ev.all {
		if e.Kind == EventRetry && e.Instance == "gpu1" {
			if _, ok := errors.AsType[*ImageError](e.Err); !ok || !errors.Is(e.Err, comfybatch.ErrTransient) {
				t.Errorf("retry on gpu1: %v, want a transient *ImageError", e.Err)
			}
			retried++
		}
	}
	ev.mu.Unlock()
	if retried == 0 {
		t.Error("no job was retried after gpu1's damaged downloads")
	}
}

// TestFleetDamagedDownloadFailsAsTransient: with one instance whose every
// download is cut, the job fails as transient after its attempts, each
// having fetched the image three times, and carries no image.
func TestFleetDamagedDownloadFailsAsTransient(t *testing.T) {
	sim := startSim(t, comfytest.Options{TimeScale: 0.002})
	sim.Servers()[0].SetFaults(comfytest.Faults{ViewTruncateRate: 1})
	ct := &countingTransport{}
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), MaxAttempts: 2, HTTPClient: &http.Client{Transport: ct},
		PollInterval: 50 * time.Millisecond, Backoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 1)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	r := got[tasks[0].Job.Key]
	if _, ok := errors.AsType[*ImageError](r.Err); !ok || !errors.Is(r.Err, comfybatch.ErrTransient) || r.Attempts != 2 {
		t.Errorf("Result = %v after %d attempts, want a transient *ImageError after 2", r.Err, r.Attempts)
	}
	if r.Candidate.Image != nil {
		t.Errorf("failed Result carries %d image bytes, want none", len(r.Candidate.Image))
	}
	if n := ct.views.Load(); n != 2*viewTries {
		t.Errorf("GET /view sent %d times, want %d (%d per attempt)", n, 2*viewTries, viewTries)
	}
}

// TestFleetNodeExceptionNeverTwiceOnOneServer: a node exception is retried
// once, on another instance; a job never raises one twice on the same
// server, and with nowhere else to go it fails with the exception.
func TestFleetNodeExceptionNeverTwiceOnOneServer(t *testing.T) {
	opts := Options{Logger: testLogger(t), MaxAttempts: 5, PollInterval: 50 * time.Millisecond, Backoff: 5 * time.Millisecond}
	run := func(t *testing.T, faults ...comfytest.Faults) (map[string]Result, *attemptLog, []Task) {
		sim := startSim(t, simOptions(len(faults), comfytest.Options{TimeScale: 0.002})...)
		for i, fl := range faults {
			sim.Servers()[i].SetFaults(fl)
		}
		log := newAttemptLog()
		o := opts
		o.BeforeSubmit = log.record
		f, err := NewFleet(instancesOf(sim), o)
		if err != nil {
			t.Fatal(err)
		}
		tasks := testTasks(t, 8)
		got, err := runAll(t, t.Context(), f, tasks)
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		return got, log, tasks
	}
	t.Run("every server raises", func(t *testing.T) {
		got, log, tasks := run(t, comfytest.Faults{ExecErrorRate: 1}, comfytest.Faults{ExecErrorRate: 1}, comfytest.Faults{ExecErrorRate: 1})
		for _, tk := range tasks {
			r := got[tk.Job.Key]
			ee, ok := errors.AsType[*ExecError](r.Err)
			if !ok || !errors.Is(r.Err, comfybatch.ErrExecution) || !strings.Contains(r.Err.Error(), ee.ExceptionMessage[:10]) {
				t.Errorf("job %d: %v, want the node's exception (ErrExecution)", tk.Job.Index, r.Err)
			}
			as := log.byJob[tk.Job.Key]
			if len(as) != 2 || as[0].Instance == as[1].Instance {
				t.Errorf("job %d: attempts %+v, want 2 on different instances", tk.Job.Index, as)
			}
		}
	})
	t.Run("one server raises", func(t *testing.T) {
		got, log, tasks := run(t, comfytest.Faults{ExecErrorRate: 1}, comfytest.Faults{})
		for _, tk := range tasks {
			r := got[tk.Job.Key]
			if r.Err != nil || r.Candidate.Instance != "gpu1" {
				t.Errorf("job %d: %v from %q, want a candidate from gpu1", tk.Job.Index, r.Err, r.Candidate.Instance)
			}
			on0 := 0
			for _, a := range log.byJob[tk.Job.Key] {
				if a.Instance == "gpu0" {
					on0++
				}
			}
			if on0 > 1 {
				t.Errorf("job %d ran %d times on gpu0, where it raised", tk.Job.Index, on0)
			}
		}
	})
	t.Run("single server", func(t *testing.T) {
		got, log, tasks := run(t, comfytest.Faults{ExecErrorRate: 1})
		for _, tk := range tasks {
			if r := got[tk.Job.Key]; !errors.Is(r.Err, comfybatch.ErrExecution) || len(log.byJob[tk.Job.Key]) != 1 {
				t.Errorf("job %d: %v after %d attempts, want ErrExecution after 1", tk.Job.Index, r.Err, len(log.byJob[tk.Job.Key]))
			}
		}
	})
}

// TestExecErrorKinds classifies recorded execution_error data: out of
// memory and device faults are transient, other node exceptions are
// execution errors. The RuntimeError is the recorded transcript's
// (ws_sequence_execution_error.json).
func TestExecErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		typ, msg string
		want     error
	}{
		{"RuntimeError", "SeededNoiseImage: seed 666 is cursed\n", comfybatch.ErrExecution},
		{"ValueError", "height and width must be > 0", comfybatch.ErrExecution},
		{"torch.OutOfMemoryError", "Allocation on device \nThis error means you ran out of memory on your GPU.", comfybatch.ErrTransient},
		{"torch.cuda.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB", comfybatch.ErrTransient},
		{"RuntimeError", "MPS backend out of memory (MPS allocated: 17.5 GB)", comfybatch.ErrTransient},
		{"torch.AcceleratorError", "CUDA error: an illegal memory access was encountered", comfybatch.ErrTransient},
		{"RuntimeError", "CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously reported", comfybatch.ErrTransient},
		{"RuntimeError", "HIP error: invalid device function", comfybatch.ErrTransient},
		{"RuntimeError", "CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx`", comfybatch.ErrTransient},
		{"RuntimeError", "cuDNN error: CUDNN_STATUS_INTERNAL_ERROR", comfybatch.ErrTransient},
	} {
		e := &ExecError{PromptID: "p", NodeID: "3", NodeType: "KSampler", ExceptionType: tc.typ, ExceptionMessage: tc.msg}
		if !errors.Is(e, tc.want) || comfybatch.Class(e) != comfybatch.Class(tc.want) {
			t.Errorf("%s: %q is %s, want %v", tc.typ, tc.msg, comfybatch.Class(e), tc.want)
		}
	}
	if e := (&ExecError{Interrupted: true, ExceptionMessage: "CUDA error"}); !errors.Is(e, comfybatch.ErrInterrupted) {
		t.Errorf("an interrupt is %s, want interrupted", comfybatch.Class(e))
	}
}

// TestFleetLostRepliesRunEachPromptOnce: when POST /prompt's answer is
// lost after the server queued the prompt (some of the time on one
// instance, every time on the other), the client finds the prompt on the
// server instead of submitting it again: every job is done, and the
// servers ran exactly one prompt per job.
func TestFleetLostRepliesRunEachPromptOnce(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
	srv := sim.Servers()
	srv[0].SetFaults(comfytest.Faults{LostReplyRate: 0.5, Seed: 3})
	srv[1].SetFaults(comfytest.Faults{LostReplyRate: 1})
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), MaxAttempts: 3,
		PollInterval: 50 * time.Millisecond, Backoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, 12)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, tk := range tasks {
		r := got[tk.Job.Key]
		if r.Err != nil {
			t.Errorf("job %d failed: %v", tk.Job.Index, r.Err)
			continue
		}
		if r.Attempts != 1 {
			t.Errorf("job %d took %d attempts, want 1: a lost answer is not a failed submission", tk.Job.Index, r.Attempts)
		}
		checkImage(t, r)
	}
	ran := 0
	for _, s := range srv {
		ran += s.Stats().Prompts
	}
	if ran != len(tasks) {
		t.Errorf("the servers ran %d prompts for %d jobs, want one each", ran, len(tasks))
	}
	if srv[1].Stats().Prompts == 0 {
		t.Error("the instance whose every answer is lost ran nothing; the test did not exercise lost answers")
	}
}

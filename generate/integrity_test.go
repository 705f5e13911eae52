package generate

import (
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

// TestFleetFetchesDamagedDownloadsAgain: /view answers cut in half (a
// valid 200 with a matching Content-Length) are fetched again; no
// candidate carries a damaged image, and an instance whose every download
// is damaged delivers nothing: its jobs are retried elsewhere.
func TestFleetFetchesDamagedDownloadsAgain(t *testing.T) {
	ev := newEvents()
	got, tasks, _ := runFaulty(t, 30, Options{MaxAttempts: 6, OnEvent: ev.add},
		comfytest.Faults{ViewTruncateRate: 0.5, Seed: 1}, comfytest.Faults{ViewTruncateRate: 1}, comfytest.Faults{})
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
	for _, e := range ev.ofKind(EventRetry) {
		if e.Instance == "gpu1" {
			if _, ok := errors.AsType[*ImageError](e.Err); !ok || !errors.Is(e.Err, comfybatch.ErrTransient) {
				t.Errorf("retry on gpu1: %v, want a transient *ImageError", e.Err)
			}
			retried++
		}
	}
	if retried == 0 {
		t.Error("no job was retried after gpu1's damaged downloads")
	}
}

// TestFleetDamagedDownloadFailsAsTransient: with one instance whose every
// download is cut, the job fails as transient after its attempts, each
// having fetched the image three times, and carries no image.
func TestFleetDamagedDownloadFailsAsTransient(t *testing.T) {
	ct := &countingTransport{}
	got, tasks, _ := runFaulty(t, 1, Options{MaxAttempts: 2, HTTPClient: &http.Client{Transport: ct}}, comfytest.Faults{ViewTruncateRate: 1})
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
	var ev *events
	run := func(t *testing.T, faults ...comfytest.Faults) (map[string]Result, *attemptLog, []Task) {
		log := newAttemptLog()
		ev = newEvents()
		got, tasks, _ := runFaulty(t, 8, Options{MaxAttempts: 5, BeforeSubmit: log.record, OnEvent: ev.add}, faults...)
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
			// Attempts that ran: a prompt tail stealing took off a queue
			// never did (its job runs elsewhere as a new attempt).
			stolen := map[string]bool{}
			for _, e := range ev.ofKind(EventStolen) {
				stolen[e.PromptID] = true
			}
			as := slices.DeleteFunc(slices.Clone(log.byJob[tk.Job.Key]), func(a Attempt) bool { return stolen[a.PromptID] })
			if len(as) != 2 || as[0].Instance == as[1].Instance {
				var seen []string
				for _, e := range ev.snapshot() {
					if e.JobKey == tk.Job.Key {
						seen = append(seen, fmt.Sprintf("%s %s a%d %v", e.Kind, e.Instance, e.Attempt, e.Err))
					}
				}
				t.Errorf("job %d: attempts %+v, want 2 on different instances; events:\n%s", tk.Job.Index, as, strings.Join(seen, "\n"))
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
	ev := newEvents()
	got, tasks, srv := runFaulty(t, 12, Options{MaxAttempts: 3, OnEvent: ev.add},
		comfytest.Faults{LostReplyRate: 0.5, Seed: 3}, comfytest.Faults{LostReplyRate: 1})
	// A prompt that tail stealing took off a queue before it ran is an
	// attempt of its job too (it runs elsewhere as the next one), but not
	// a resubmission after a lost answer.
	stolen := map[string]int{}
	for _, e := range ev.ofKind(EventStolen) {
		stolen[e.JobKey]++
	}
	for _, tk := range tasks {
		r := got[tk.Job.Key]
		if r.Err != nil {
			t.Errorf("job %d failed: %v", tk.Job.Index, r.Err)
			continue
		}
		if r.Attempts != 1+stolen[tk.Job.Key] {
			t.Errorf("job %d took %d attempts, %d of them taken over by another instance; want 1 more: a lost answer is not a failed submission",
				tk.Job.Index, r.Attempts, stolen[tk.Job.Key])
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

// runFaulty runs n test tasks on a simulated fleet of one instance per
// entry of faults (gpu0, gpu1, ...), each injecting its faults, with the
// fleet options o (test logger, quick polls and backoff unless set), and
// returns the results by job key, the tasks and the servers.
func runFaulty(t *testing.T, n int, o Options, faults ...comfytest.Faults) (map[string]Result, []Task, []*comfytest.Server) {
	t.Helper()
	sim := startSim(t, simOptions(len(faults), comfytest.Options{TimeScale: 0.002})...)
	srv := sim.Servers()
	for i, fl := range faults {
		srv[i].SetFaults(fl)
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.PollInterval == 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.Backoff == 0 {
		o.Backoff = 5 * time.Millisecond
	}
	f, err := NewFleet(instancesOf(sim), o)
	if err != nil {
		t.Fatal(err)
	}
	tasks := testTasks(t, n)
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	return got, tasks, srv
}

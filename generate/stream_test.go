package generate

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// TestRunStreamHoldsAWindow: RunStream takes tasks only as slots need
// them, so however long the stream, it holds at most its window (a few
// tasks per slot) beyond the prompts in flight; every task received gets
// exactly one Result, and Run returns once the stream is closed and
// drained.
func TestRunStreamHoldsAWindow(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.001})...)
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	tasks := make(chan Task)
	results := make(chan Result, 8)
	var sent, got atomic.Int64
	var ahead atomic.Int64 // the most tasks taken but not answered
	done := make(chan error, 1)
	go func() { done <- f.RunStream(t.Context(), tasks, results) }()
	go func() { // owned by the test: it ends when the stream is fed
		defer close(tasks)
		for _, tk := range testTasks(t, n) {
			tasks <- tk
			if d := sent.Add(1) - got.Load(); d > ahead.Load() {
				ahead.Store(d)
			}
		}
	}()
	keys := map[string]bool{}
	for got.Load() < n {
		select {
		case r := <-results:
			got.Add(1)
			if r.Err != nil || len(r.Candidates) != 1 || keys[r.Candidate.Job.Key] {
				t.Fatalf("result %+v (err %v, %d candidates, seen %v)", r.Candidate.Job.Key, r.Err, len(r.Candidates), keys[r.Candidate.Job.Key])
			}
			keys[r.Candidate.Job.Key] = true
		case err := <-done:
			t.Fatalf("RunStream returned %v after %d of %d results", err, got.Load(), n)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("RunStream = %v", err)
	}
	// Window max(64, 4 x 4 slots) = 64, plus 4 prompts in flight and the
	// results channel's 8 and one task in the hand of each side.
	if a := ahead.Load(); a > 64+4+8+2 {
		t.Errorf("the fleet took %d tasks ahead of their results; it must hold only its window", a)
	}
}

// TestOutputImages: a prompt's candidates are every image of its output
// nodes, and a node that saved too few fails the attempt (never a half
// batch).
func TestOutputImages(t *testing.T) {
	h := &HistoryEntry{Outputs: map[string]NodeOutput{
		"9":  {Images: []ImageRef{{Filename: "a_00001_.png", Type: "output"}, {Filename: "a_00002_.png", Type: "output"}}},
		"12": {Images: []ImageRef{{Filename: "b_00001_.png", Type: "output"}, {Filename: "b_00002_.png", Type: "output"}}},
		"13": {Images: []ImageRef{{Filename: "p_00001_.png", Type: "temp"}}},
	}}
	job := comfybatch.Job{Outputs: []string{"9", "12"}, Images: 4}
	imgs, err := outputImages(job, h)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range imgs {
		got = append(got, im.node+"/"+im.ref.Filename)
		if im.ref.Filename[len(im.ref.Filename)-6] != byte('1'+im.index) {
			t.Errorf("image %s has batch index %d", im.ref.Filename, im.index)
		}
	}
	if want := "[9/a_00001_.png 9/a_00002_.png 12/b_00001_.png 12/b_00002_.png]"; fmtList(got) != want {
		t.Errorf("outputImages = %v, want %s", got, want)
	}
	job.Images = 6 // 3 per node, but each saved 2
	if _, err := outputImages(job, h); !errors.Is(err, comfybatch.ErrExecution) {
		t.Errorf("outputImages with missing images = %v, want ErrExecution", err)
	}
	// Without Outputs: the first saved image, never the preview.
	imgs, err = outputImages(comfybatch.Job{}, h)
	if err != nil || len(imgs) != 1 || imgs[0].node != "9" || imgs[0].ref.Filename != "a_00001_.png" {
		t.Errorf("outputImages without Outputs = %+v, %v", imgs, err)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// TestBatchSurvivesFaults: with cut downloads, failing prompts and
// dropped sockets, every batch job still ends with all its images, each
// whole, or fails as a whole: never a half batch.
func TestBatchSurvivesFaults(t *testing.T) {
	sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.001})...)
	for i, s := range sim.Servers() {
		s.SetFaults(comfytest.Faults{ViewTruncateRate: 0.3, ExecErrorRate: 0.1, WSDropEvery: 150 * time.Millisecond, Seed: int64(i + 1)})
	}
	f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), PollInterval: 50 * time.Millisecond,
		Backoff: 10 * time.Millisecond, MaxAttempts: 6})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []Task
	for i := range 12 {
		tasks = append(tasks, Task{Job: batchJob(t, i, uint64(1000+i), 3)})
	}
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for key, r := range got {
		if r.Err != nil {
			if len(r.Candidates) != 0 {
				t.Errorf("job %.8s failed (%v) with %d candidates", key, r.Err, len(r.Candidates))
			}
			continue
		}
		done++
		if len(r.Candidates) != 3 {
			t.Errorf("job %.8s: %d candidates, want its batch of 3", key, len(r.Candidates))
		}
		for i, c := range r.Candidates {
			if c.BatchIndex != i || c.Output != "9" {
				t.Errorf("job %.8s candidate %d: output %q batch index %d", key, i, c.Output, c.BatchIndex)
			}
			if err := VerifyImage(c.Image, 0); err != nil {
				t.Errorf("job %.8s candidate %d: a damaged image got through: %v", key, i, err)
			}
		}
	}
	if done < 10 {
		t.Errorf("only %d of 12 batch jobs done through the faults", done)
	}
}

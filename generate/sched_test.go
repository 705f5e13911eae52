package generate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/comfybatch/comfybatch"
)

func newTestRun(t *testing.T, opts Options, insts ...Instance) *runState {
	t.Helper()
	f, err := NewFleet(insts, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &runState{f: f, changed: make(chan struct{}), busy: map[*instance]int{}, inputDone: true, window: 64}
}

func affJobs(affs ...string) []*jobState {
	var out []*jobState
	for i, a := range affs {
		out = append(out, &jobState{task: Task{Job: comfybatch.Job{Key: a + string(rune('0'+i)), Affinity: a}}})
	}
	return out
}

func TestPickAffinity(t *testing.T) {
	tests := []struct {
		name    string
		ignore  bool
		last    [2]string // last affinity of gpu0 (picking) and gpu1
		pending []string
		want    string // key of the job gpu0 gets
	}{
		{"same affinity first", false, [2]string{"A", ""}, []string{"B", "C", "A"}, "A2"},
		{"unheld affinity before one another instance holds", false, [2]string{"", "A"}, []string{"A", "B"}, "B1"},
		{"never idle: held affinity when nothing else", false, [2]string{"C", "A"}, []string{"A", "A"}, "A0"},
		{"round robin ignores affinity", true, [2]string{"A", ""}, []string{"B", "A"}, "B0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newTestRun(t, Options{IgnoreAffinity: tt.ignore}, Instance{Name: "gpu0", URL: "http://a"}, Instance{Name: "gpu1", URL: "http://b"})
			rs.f.insts[0].last, rs.f.insts[1].last = tt.last[0], tt.last[1]
			rs.pending = affJobs(tt.pending...)
			js := rs.pickLocked(rs.f.insts[0], time.Now())
			if js == nil || js.task.Job.Key != tt.want {
				t.Fatalf("pick = %v, want %s", js, tt.want)
			}
			if len(rs.pending) != len(tt.pending)-1 || rs.f.insts[0].last != js.task.Job.Affinity {
				t.Errorf("after pick: %d pending, last %q", len(rs.pending), rs.f.insts[0].last)
			}
		})
	}
}

func TestPickRespectsBackoffAvoidAndTier(t *testing.T) {
	rs := newTestRun(t, Options{}, Instance{Name: "gpu0", URL: "http://a"}, Instance{Name: "gpu1", URL: "http://b", Tier: 1})
	gpu0, gpu1 := rs.f.insts[0], rs.f.insts[1]
	now := time.Now()
	rs.pending = affJobs("A")
	rs.pending[0].notBefore = now.Add(time.Second)
	if js := rs.pickLocked(gpu0, now); js != nil {
		t.Errorf("picked a job in backoff")
	}
	if d := rs.earliestLocked(now); d != time.Second {
		t.Errorf("earliest = %s, want 1s", d)
	}
	rs.pending[0].notBefore = time.Time{}
	if js := rs.pickLocked(gpu1, now); js != nil {
		t.Errorf("overflow tier took a job while the primary had free slots")
	}
	rs.busy[gpu0] = 2
	if js := rs.pickLocked(gpu1, now); js == nil {
		t.Errorf("overflow tier idle while the primary is saturated")
	}
	rs.busy[gpu0] = 0
	rs.pending = affJobs("A")
	rs.pending[0].avoid = "gpu1"
	if js := rs.pickLocked(gpu1, now); js != nil {
		t.Errorf("gpu1 took a job that failed there although gpu0 could run it")
	}
}

func TestRetryPolicy(t *testing.T) {
	f, err := NewFleet([]Instance{{Name: "a", URL: "http://a"}, {Name: "b", URL: "http://b"}}, Options{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.insts[0], f.insts[1]
	exec := &ExecError{NodeID: "8", ExceptionType: "RuntimeError", ExceptionMessage: "mat1 and mat2 shapes cannot be multiplied"}
	device := &ExecError{NodeID: "3", ExceptionType: "torch.AcceleratorError", ExceptionMessage: "CUDA error: device-side assert triggered"}
	auth := &HTTPError{Method: "POST", Path: "/prompt", Status: 401}
	type step struct {
		on   *instance
		err  error
		want bool
	}
	tests := []struct {
		name     string
		attempts int
		steps    []step
	}{
		{"invalid never", 1, []step{{a, &PromptError{Type: "x"}, false}}},
		{"transient until max", 1, []step{{a, transientError{io.EOF}, true}}},
		{"max attempts", 3, []step{{a, transientError{io.EOF}, false}}},
		{"execution once, elsewhere", 1, []step{{a, exec, true}, {b, exec, false}}},
		{"oom retried", 1, []step{{a, &ExecError{ExceptionType: "torch.OutOfMemoryError"}, true}}},
		{"device fault retried", 1, []step{{a, device, true}, {b, device, true}}},
		{"interrupted retried", 1, []step{{a, &ExecError{Interrupted: true}, true}}},
		{"auth refusal does not spend the budget", 3, []step{{a, auth, true}}},
		{"unknown kind not", 1, []step{{a, errors.New("disk full"), false}}},
	}
	for _, tt := range tests {
		js := &jobState{attempts: tt.attempts}
		for i, st := range tt.steps {
			if got := f.retryable(js, st.on, st.err); got != st.want {
				t.Errorf("%s: retryable(%s, %v) #%d = %v, want %v", tt.name, st.on.cfg.Name, st.err, i, got, st.want)
			}
		}
	}

	// A node exception is retried only where it did not happen: with b
	// down, or refusing the job, a failure on a is final.
	js := &jobState{attempts: 1}
	b.observe(auth) // takes b down
	if f.retryable(js, a, exec) {
		t.Errorf("retryable(node exception on a, b down) = true, want false: it must never run twice on a")
	}
	one, err := NewFleet([]Instance{{Name: "only", URL: "http://only"}}, Options{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if one.retryable(&jobState{attempts: 1}, one.insts[0], exec) {
		t.Errorf("retryable(node exception, single instance) = true, want false")
	}
}

// handlerTransport serves requests in memory, so the client can run
// inside a synctest bubble (loopback sockets cannot).
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// stuckServer accepts a prompt and keeps it running until interrupted.
type stuckServer struct {
	mu          sync.Mutex
	running     string
	interrupted []string
}

func (s *stuckServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/queue":
		run := "[]"
		if s.running != "" {
			run = `[[0,"` + s.running + `",{},{},["9"]]]`
		}
		io.WriteString(w, `{"queue_running":`+run+`,"queue_pending":[]}`)
	case "/interrupt":
		var body struct {
			PromptID string `json:"prompt_id"`
		}
		data, _ := io.ReadAll(r.Body)
		_ = json.NewDecoder(bytes.NewReader(data)).Decode(&body)
		s.interrupted = append(s.interrupted, body.PromptID)
	default:
		io.WriteString(w, "{}")
	}
}

func TestAwaitTimeoutInterruptsThatPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &stuckServer{running: "p-1"}
		f, err := NewFleet([]Instance{{Name: "fake", URL: "http://fake"}}, Options{
			HTTPClient: &http.Client{Transport: handlerTransport{srv}}, JobTimeout: 10 * time.Minute, PollInterval: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		in := f.insts[0]
		ch := in.register("p-1")
		start := time.Now()
		_, err = in.await(t.Context(), "job", Attempt{PromptID: "p-1", Number: 1}, ch)
		if !errors.Is(err, comfybatch.ErrTransient) || len(srv.interrupted) != 1 || srv.interrupted[0] != "p-1" {
			t.Errorf("await = %v, interrupted %q; want ErrTransient and [p-1]", err, srv.interrupted)
		}
		if waited := time.Since(start); waited != 10*time.Minute {
			t.Errorf("timed out after %s, want 10m", waited)
		}
	})
}

func TestAwaitDetectsLostPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &stuckServer{} // knows no prompt: as after a restart
		f, err := NewFleet([]Instance{{Name: "fake", URL: "http://fake"}}, Options{
			HTTPClient: &http.Client{Transport: handlerTransport{srv}}, PollInterval: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		in := f.insts[0]
		in.uploads["abc"] = "old.png"
		_, err = in.await(t.Context(), "job", Attempt{PromptID: "p-1", Number: 1}, in.register("p-1"))
		if !errors.Is(err, comfybatch.ErrTransient) || len(in.uploads) != 0 {
			t.Errorf("await = %v, uploads %v; want ErrTransient and the upload cache cleared", err, in.uploads)
		}
	})
}

func TestRetryBackoffDelaysTheNextPick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs := newTestRun(t, Options{Backoff: time.Second, MaxAttempts: 5}, Instance{Name: "gpu0", URL: "http://a"}, Instance{Name: "gpu1", URL: "http://b"})
		gpu0 := rs.f.insts[0]
		rs.remaining = 1
		js := affJobs("A")[0]
		js.attempts = 3 // third failure: base << 2 = 4s, jittered to [2s, 6s)
		if !rs.requeue(js, gpu0, transientError{io.EOF}) {
			t.Fatal("transient failure not requeued")
		}
		start := time.Now()
		// gpu0 failed it and gpu1 could run it, so gpu0 must not take it...
		rs.mu.Lock()
		if got := rs.pickLocked(gpu0, start.Add(time.Hour)); got != nil {
			t.Errorf("the instance that just failed the job took it back")
		}
		rs.mu.Unlock()
		// ...and gpu1 gets it only when the backoff is over.
		got := rs.next(t.Context(), rs.f.insts[1])
		waited := time.Since(start)
		if got != js || waited < 2*time.Second || waited >= 6*time.Second {
			t.Errorf("next = %v after %s, want the job after 2s..6s", got, waited)
		}
	})
}

// TestPickBreadthFirst: an instance that already has a prompt in flight
// leaves the job to an idle instance that may run it, and takes it when
// no such instance is idle.
func TestPickBreadthFirst(t *testing.T) {
	rs := newTestRun(t, Options{}, Instance{Name: "gpu0", URL: "http://a"}, Instance{Name: "gpu1", URL: "http://b"})
	gpu0, gpu1 := rs.f.insts[0], rs.f.insts[1]
	rs.pending = affJobs("A")
	rs.busy[gpu0] = 1
	if js := rs.pickLocked(gpu0, time.Now()); js != nil {
		t.Fatalf("busy gpu0 took %s while gpu1 is idle, want nothing", js.task.Job.Key)
	}
	if len(rs.pending) != 1 {
		t.Fatalf("%d pending after a declined pick, want 1", len(rs.pending))
	}
	rs.busy[gpu1] = 1
	if js := rs.pickLocked(gpu0, time.Now()); js == nil {
		t.Fatal("gpu0 took nothing with every instance busy, want the job")
	}
}

package generate

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// jobsScenario runs the same prompts on a simulator of the given version:
// a slow one that gets interrupted, two that complete, one that fails. It
// returns the client, the server and the prompt ids, with the slow one
// running and the next two pending; finish runs the rest to the end.
type jobsScenario struct {
	c                      *Client
	sim                    *comfytest.Server
	slow, next, last, fail string
	finish                 func()
}

func startJobsScenario(t *testing.T, version string) *jobsScenario {
	t.Helper()
	fleet := startSim(t, comfytest.Options{Version: version, TimeScale: 0.05})
	sim := fleet.Servers()[0]
	c := NewClient(fleet.URLs()[0], nil, ClientOptions{Logger: testLogger(t)})
	events, stop := sim.Subscribe()
	t.Cleanup(stop)
	s := &jobsScenario{c: c, sim: sim}
	submit := func(seed uint64, extra map[string]any) string {
		t.Helper()
		wf := testWorkflow(t, seed, "sd_xl_base_1.0.safetensors")
		if seed == 1 {
			// 10000 steps, ~20 s at this time scale: it runs until interrupted.
			var g map[string]map[string]any
			if err := json.Unmarshal(wf, &g); err != nil {
				t.Fatal(err)
			}
			g["3"]["inputs"].(map[string]any)["steps"] = 10000
			wf, _ = json.Marshal(g)
		}
		res, err := c.Submit(t.Context(), SubmitRequest{Prompt: wf, ExtraData: extra})
		if err != nil {
			t.Fatal(err)
		}
		return res.PromptID
	}
	s.slow = submit(1, map[string]any{"extra_pnginfo": map[string]any{"workflow": map[string]any{"id": "wf-slow"}}})
	for ev := range events { // without a client id only progress is broadcast
		if ev.Type == "progress_state" && ev.PromptID() == s.slow {
			break
		}
	}
	s.next, s.last = submit(2, nil), submit(3, nil)
	s.finish = func() {
		t.Helper()
		ctx := deadline(t)
		if err := c.Interrupt(ctx, s.slow); err != nil {
			t.Fatal(err)
		}
		if err := sim.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		sim.SetFaults(comfytest.Faults{ExecErrorRate: 1})
		s.fail = submit(4, nil)
		if err := sim.WaitHistory(ctx, s.fail); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestJobsAPI(t *testing.T) {
	s := startJobsScenario(t, comfytest.Version080)
	ctx := t.Context()
	if ok, err := s.c.HasJobs(ctx); !ok || err != nil {
		t.Fatalf("HasJobs on 0.8.0 = %v, %v; want true", ok, err)
	}
	list, err := s.c.Jobs(ctx, JobsQuery{Statuses: []JobStatus{JobInProgress, JobPending}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range list.Jobs {
		got = append(got, string(j.Status)+" "+j.ID)
	}
	want := []string{"pending " + s.last, "pending " + s.next, "in_progress " + s.slow} // newest first
	if !slices.Equal(got, want) || list.Pagination.Total != 3 || list.Pagination.HasMore || list.Pagination.Limit != nil {
		t.Errorf("Jobs(in_progress, pending) = %v %+v, want %v, total 3", got, list.Pagination, want)
	}
	if list.Jobs[2].WorkflowID != "wf-slow" || list.Jobs[2].CreateTime == 0 {
		t.Errorf("running job = %+v, want workflow wf-slow and a create time", list.Jobs[2])
	}
	if page, err := s.c.Jobs(ctx, JobsQuery{Limit: 1, Offset: 1}); err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != s.next || !page.Pagination.HasMore {
		t.Errorf("Jobs(limit 1, offset 1) = %+v, %v; want %s and more", page, err, s.next)
	}
	if j, err := s.c.Job(ctx, s.next); err != nil || j == nil || j.Status != JobPending || j.History() != nil {
		t.Errorf("Job(pending) = %+v, %v", j, err)
	}
	if j, err := s.c.Job(ctx, "00000000-0000-0000-0000-000000000000"); j != nil || err != nil {
		t.Errorf("Job(unknown) = %+v, %v; want nil, nil", j, err)
	}
	_, err = s.c.Jobs(ctx, JobsQuery{Statuses: []JobStatus{"running"}})
	if !errors.Is(err, comfybatch.ErrInvalid) || errors.Is(err, comfybatch.ErrTransient) || !strings.Contains(err.Error(), "Invalid status value(s): running") {
		t.Errorf("Jobs(status running) = %v, want ErrInvalid with the server's reason", err)
	}

	s.finish()
	done, err := s.c.Job(ctx, s.next)
	if err != nil || done == nil || done.Status != JobCompleted || done.OutputsCount != 1 || done.PreviewOutput == nil ||
		done.ExecutionEndTime < done.ExecutionStartTime || done.ExecutionStartTime == 0 {
		t.Fatalf("Job(completed) = %+v, %v", done, err)
	}
	h, err := s.c.History(ctx, s.next)
	if err != nil || h == nil {
		t.Fatal(err)
	}
	if jh := done.History(); jh == nil || !slices.Equal(jh.Images(), h.Images()) || jh.Err() != nil || done.PreviewOutput.ImageRef != h.Images()[0] {
		t.Errorf("completed job's history = %+v, want the images of /history %v", jh, h.Images())
	}
	slow, err := s.c.Job(ctx, s.slow)
	if err != nil || slow.Status != JobFailed || slow.ExecutionError != nil || !errors.Is(slow.History().Err(), comfybatch.ErrInterrupted) {
		t.Errorf("Job(interrupted) = %+v, %v; want failed, no execution_error, an interrupted history", slow, err)
	}
	failed, err := s.c.Job(ctx, s.fail)
	if err != nil || failed.Status != JobFailed || failed.ExecutionError == nil || !errors.Is(failed.History().Err(), comfybatch.ErrExecution) {
		t.Errorf("Job(failed) = %+v, %v; want failed with its execution_error", failed, err)
	}
}

// TestLookupWithAndWithoutJobsAPI runs one scenario on both versions: the
// answers of Lookup must be the same whether it used the jobs API (0.8.0)
// or the queue and history (0.3.64).
func TestLookupWithAndWithoutJobsAPI(t *testing.T) {
	type answer struct {
		status JobStatus
		images []ImageRef
		err    string
	}
	results := map[string][]answer{}
	for _, v := range comfytest.Versions() {
		t.Run(v, func(t *testing.T) {
			s := startJobsScenario(t, v)
			ok, err := s.c.HasJobs(t.Context())
			if err != nil || ok != (v == comfytest.Version080) {
				t.Fatalf("HasJobs = %v, %v", ok, err)
			}
			if v == comfytest.Version0364 {
				if _, err := s.c.Jobs(t.Context(), JobsQuery{}); !errors.Is(err, ErrNoJobsAPI) {
					t.Errorf("Jobs on 0.3.64 = %v, want ErrNoJobsAPI", err)
				}
				if _, err := s.c.Job(t.Context(), s.slow); !errors.Is(err, ErrNoJobsAPI) {
					t.Errorf("Job on 0.3.64 = %v, want ErrNoJobsAPI", err)
				}
			}
			lookup := func(id string) answer {
				t.Helper()
				st, err := s.c.Lookup(t.Context(), id)
				if err != nil {
					t.Fatalf("Lookup(%s) = %v", id, err)
				}
				a := answer{status: st.Status}
				if st.History != nil {
					for _, img := range st.History.Images() {
						img.Filename = "x" // file names differ between runs only by their counters
						a.images = append(a.images, img)
					}
					switch err := st.History.Err(); {
					case errors.Is(err, comfybatch.ErrInterrupted):
						a.err = "interrupted"
					case errors.Is(err, comfybatch.ErrExecution):
						a.err = "execution"
					case err != nil:
						a.err = err.Error()
					}
				}
				return a
			}
			before := []answer{lookup(s.slow), lookup(s.next), lookup("00000000-0000-0000-0000-000000000000")}
			s.finish()
			results[v] = append(before, lookup(s.slow), lookup(s.next), lookup(s.last), lookup(s.fail))
			want := []JobStatus{JobInProgress, JobPending, "", JobFailed, JobCompleted, JobCompleted, JobFailed}
			for i, a := range results[v] {
				if a.status != want[i] {
					t.Errorf("lookup %d: status %q, want %q", i, a.status, want[i])
				}
			}
		})
	}
	if a, b := results[comfytest.Version0364], results[comfytest.Version080]; len(a) == 0 || len(b) == 0 || !slices.EqualFunc(a, b, func(x, y answer) bool {
		return x.status == y.status && slices.Equal(x.images, y.images) && x.err == y.err
	}) {
		t.Errorf("Lookup without the jobs API = %+v\nwith it = %+v", a, b)
	}
}

package generate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// TestRefusalsAreToldApart: a 401, or a 403 with a body, is a refusal of
// our credentials; ComfyUI's own origin check answers 403 with an empty
// body. Neither is retried, and each message says what it means.
func TestRefusalsAreToldApart(t *testing.T) {
	sim := startSim(t, comfytest.Options{TimeScale: 0.002})
	srv, url := sim.Servers()[0], sim.URLs()[0]
	srv.SetFaults(comfytest.Faults{AuthToken: "s3cret"})
	for _, tc := range []struct {
		name         string
		headers      map[string]string
		status       int
		auth, origin bool
		says         string
	}{
		{"no token", nil, 401, true, false, "Authorization header"},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, 403, true, false, "Authorization header"},
		{"origin check", map[string]string{"Authorization": "Bearer s3cret", "Origin": "https://comfy.example.com"}, 403, false, true, "origin check"},
	} {
		c := NewClient(url, nil, ClientOptions{Headers: tc.headers})
		_, err := c.SystemStats(t.Context())
		he, ok := errors.AsType[*HTTPError](err)
		if !ok || he.Status != tc.status || he.Auth() != tc.auth || he.Origin() != tc.origin || IsAuth(err) != tc.auth {
			t.Errorf("%s: %v; want HTTP %d, auth %v, origin %v", tc.name, err, tc.status, tc.auth, tc.origin)
			continue
		}
		if !errors.Is(err, comfybatch.ErrInvalid) || errors.Is(err, comfybatch.ErrTransient) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %q (%s), want a non-transient error saying %q", tc.name, err, comfybatch.Class(err), tc.says)
		}
	}
	c := NewClient(url, nil, ClientOptions{Headers: map[string]string{"Authorization": "Bearer s3cret"}})
	if _, err := c.SystemStats(t.Context()); err != nil {
		t.Errorf("with the token: %v", err)
	}
}

// TestFleetTakesOutAnInstanceThatRefusesCredentials: an instance that
// answers 401 is taken down at its first refusal and its jobs run
// elsewhere without spending their attempts; when every instance refuses,
// the run gives up naming the refusals, and the jobs' failures are
// an outage (a rerun with the right header finishes them), not bad input.
func TestFleetTakesOutAnInstanceThatRefusesCredentials(t *testing.T) {
	t.Run("one refuses", func(t *testing.T) {
		sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
		sim.Servers()[0].SetFaults(comfytest.Faults{AuthToken: "s3cret"})
		ev := newEvents()
		f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), MaxAttempts: 1, OnEvent: ev.add,
			PollInterval: 50 * time.Millisecond, Backoff: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		tasks := testTasks(t, 10)
		got, err := runAll(t, t.Context(), f, tasks)
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
		for _, tk := range tasks {
			if r := got[tk.Job.Key]; r.Err != nil || r.Candidate.Instance != "gpu1" {
				t.Errorf("job %d: %v from %q, want a candidate from gpu1", tk.Job.Index, r.Err, r.Candidate.Instance)
			}
		}
		down := 0
		for _, e := range ev.snapshot() {
			if e.Kind == EventInstanceDown && e.Instance == "gpu0" {
				down++
				if !IsAuth(e.Err) {
					t.Errorf("gpu0 went down with %v, want the credentials refusal", e.Err)
				}
			}
		}
		if down != 1 {
			t.Errorf("gpu0 went down %d times, want once", down)
		}
	})
	t.Run("every one refuses", func(t *testing.T) {
		sim := startSim(t, simOptions(2, comfytest.Options{TimeScale: 0.002})...)
		for _, s := range sim.Servers() {
			s.SetFaults(comfytest.Faults{AuthToken: "s3cret"})
		}
		f, err := NewFleet(instancesOf(sim), Options{Logger: testLogger(t), PollInterval: 20 * time.Millisecond,
			Backoff: 5 * time.Millisecond, GiveUpAfter: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		tasks := testTasks(t, 4)
		got, err := runAll(t, t.Context(), f, tasks)
		if !errors.Is(err, comfybatch.ErrOutage) || !strings.Contains(err.Error(), "instance gpu0: ") || !strings.Contains(err.Error(), "HTTP 401") {
			t.Errorf("Run = %v, want an outage give-up naming each instance's 401", err)
		}
		for _, tk := range tasks {
			if r := got[tk.Job.Key]; comfybatch.Class(r.Err) != comfybatch.ClassOutage {
				t.Errorf("job %d: %v (%s), want an outage", tk.Job.Index, r.Err, comfybatch.Class(r.Err))
			}
		}
	})
}

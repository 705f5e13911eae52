package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch/generate"
)

// eventJSON is one line of `batch run --json` for a fleet event. JSON
// output is an API: keep keys stable.
type eventJSON struct {
	Event    string `json:"event"`
	Time     string `json:"time"`
	Instance string `json:"instance,omitempty"`
	JobKey   string `json:"job_key,omitempty"`
	PromptID string `json:"prompt_id,omitempty"`
	Attempt  int    `json:"attempt,omitempty"`
	Error    string `json:"error,omitempty"`
}

// eventWriter writes fleet events as JSON lines; events arrive from many
// goroutines.
type eventWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newEventWriter(w io.Writer) *eventWriter { return &eventWriter{enc: json.NewEncoder(w)} }

func (w *eventWriter) write(e generate.Event) {
	line := eventJSON{Event: string(e.Kind), Time: e.Time.UTC().Format(time.RFC3339Nano), Instance: e.Instance,
		JobKey: e.JobKey, PromptID: e.PromptID, Attempt: e.Attempt}
	if e.Err != nil {
		line.Error = e.Err.Error()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(line)
}

// instances tracks what each instance is doing, from fleet events, for the
// progress line: prompts queued or running, loading a model, or down.
type instances struct {
	mu    sync.Mutex
	state map[string]*instState
}

type instState struct {
	inFlight int
	loading  bool
	down     bool
}

func newInstances() *instances { return &instances{state: map[string]*instState{}} }

func (t *instances) observe(e generate.Event) {
	if e.Instance == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state[e.Instance]
	if s == nil {
		s = &instState{}
		t.state[e.Instance] = s
	}
	switch e.Kind {
	case generate.EventSubmitted:
		s.inFlight++
		s.down = false
	case generate.EventStarted:
		s.loading = false
	case generate.EventModelLoad:
		s.loading = true
	case generate.EventDone, generate.EventFailed, generate.EventRetry, generate.EventStolen, generate.EventCancelled:
		s.inFlight = max(0, s.inFlight-1)
		s.loading = false
	case generate.EventInstanceDown:
		s.down, s.inFlight, s.loading = true, 0, false
	case generate.EventInstanceUp:
		s.down = false
	}
}

// line renders "name:state" per instance, sorted by name: "2" = prompts
// queued or running, "load" = loading a model, "down", "idle".
func (t *instances) line() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.state))
	for n := range t.state {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		s := t.state[n]
		state := "idle"
		switch {
		case s.down:
			state = "down"
		case s.loading:
			state = "load"
		case s.inFlight > 0:
			state = fmt.Sprint(s.inFlight)
		}
		parts = append(parts, n+":"+state)
	}
	return strings.Join(parts, " ")
}

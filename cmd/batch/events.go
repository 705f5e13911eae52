package main

import (
	"encoding/json"
	"io"
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

// fleetDefaultInFlight is generate.Instance.InFlight's default: the
// slots of an instance that does not set in_flight.
const fleetDefaultInFlight = 2

// fleetView tracks what each instance is doing, from fleet events, for
// the progress line: prompts of ours queued or running, loading a model,
// or down. Events arrive from many goroutines.
type fleetView struct {
	mu    sync.Mutex
	order []string // display order: as configured, then as first seen
	state map[string]*instView
}

// instView is one instance's state as the progress line shows it.
type instView struct {
	name     string
	inFlight int // our prompts queued or running on it
	slots    int // how many it may have (in_flight)
	loading  bool
	down     bool
}

// newFleetView starts with the configured instances, all up and idle.
func newFleetView(insts []generate.Instance) *fleetView {
	v := &fleetView{state: map[string]*instView{}}
	for _, in := range insts {
		slots := in.InFlight
		if slots <= 0 {
			slots = fleetDefaultInFlight
		}
		v.add(in.Name, slots)
	}
	return v
}

func (v *fleetView) add(name string, slots int) *instView {
	s := &instView{name: name, slots: slots}
	v.state[name] = s
	v.order = append(v.order, name)
	return s
}

func (v *fleetView) observe(e generate.Event) {
	if e.Instance == "" {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.state[e.Instance]
	if s == nil {
		s = v.add(e.Instance, fleetDefaultInFlight)
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

// snapshot copies every instance's state, in display order.
func (v *fleetView) snapshot() []instView {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]instView, len(v.order))
	for i, name := range v.order {
		out[i] = *v.state[name]
	}
	return out
}

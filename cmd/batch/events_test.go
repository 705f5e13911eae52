package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/comfybatch/comfybatch/generate"
)

func TestFleetView(t *testing.T) {
	v := newFleetView([]generate.Instance{{Name: "b", InFlight: 3}, {Name: "a"}, {Name: "c"}, {Name: "d"}})
	for _, e := range []generate.Event{
		{Kind: generate.EventSubmitted, Instance: "b"},
		{Kind: generate.EventSubmitted, Instance: "b"},
		{Kind: generate.EventSubmitted, Instance: "a"},
		{Kind: generate.EventModelLoad, Instance: "a"},
		{Kind: generate.EventSubmitted, Instance: "c"},
		{Kind: generate.EventDone, Instance: "c"},
		{Kind: generate.EventSubmitted, Instance: "d"},
		{Kind: generate.EventInstanceDown, Instance: "d", Err: errors.New("refused")},
		{Kind: generate.EventDone, Instance: "b"},
		{Kind: generate.EventSubmitted, Instance: "c"},
		{Kind: generate.EventStolen, Instance: "c"},    // its pending prompt moved elsewhere
		{Kind: generate.EventSubmitted, Instance: "e"}, // not configured: shown after the others
	} {
		v.observe(e)
	}
	want := []instView{
		{name: "b", inFlight: 1, slots: 3},
		{name: "a", inFlight: 1, slots: 2, loading: true},
		{name: "c", inFlight: 0, slots: 2},
		{name: "d", slots: 2, down: true},
		{name: "e", inFlight: 1, slots: 2},
	}
	if got := v.snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("fleet view = %+v\nwant %+v", got, want)
	}
	if got, want := instancesDetail(v.snapshot()), "b 1/3 up, a 1/2 loading, c 0/2 up, d down, e 1/2 up"; got != want {
		t.Errorf("instancesDetail = %q, want %q", got, want)
	}
	if got, want := instancesSummary(v.snapshot(), true), "5 instances: 4 up 3/9, 1 down (d)"; got != want {
		t.Errorf("instancesSummary = %q, want %q", got, want)
	}
}

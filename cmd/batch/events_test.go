package main

import (
	"errors"
	"testing"

	"github.com/comfybatch/comfybatch/generate"
)

func TestInstancesLine(t *testing.T) {
	tr := newInstances()
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
		{Kind: generate.EventStolen, Instance: "c"}, // its pending prompt moved elsewhere
	} {
		tr.observe(e)
	}
	if got, want := tr.line(), "a:load b:1 c:idle d:down"; got != want {
		t.Errorf("instances line = %q, want %q", got, want)
	}
}

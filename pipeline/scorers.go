package pipeline

import (
	"fmt"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/score"
	"github.com/comfybatch/comfybatch/store"
)

// namedScorer is a scorer built from one manifest declaration.
type namedScorer struct {
	name    string
	scorer  Scorer
	network bool // waits on a server, so it runs outside the CPU-bound pool
}

// buildScorers turns the manifest's scorer declarations into scorers. The
// manifest package has already validated types and options; an unknown
// type here is a programming error reported as bad input.
func buildScorers(m *manifests.Manifest, opts Options) ([]namedScorer, error) {
	var out []namedScorer
	for _, s := range m.Scorers {
		sc, network, err := newScorer(s, opts)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: scorer %q: %w", m.Path, s.Pos.Line, s.Name, err)
		}
		out = append(out, namedScorer{name: s.Name, scorer: sc, network: network})
	}
	return out, nil
}

func newScorer(s manifests.ScorerSpec, opts Options) (Scorer, bool, error) {
	o := options(s.Options)
	switch s.Type {
	case "sharpness":
		return &score.Sharpness{Name: s.Name, LongSide: o.int("long_side")}, false, nil
	case "size":
		return &score.Size{Name: s.Name, Width: o.int("width"), Height: o.int("height"), Aspect: o.float("aspect"),
			MinBytes: int64(o.int("min_bytes")), MaxBytes: int64(o.int("max_bytes"))}, false, nil
	}
	return nil, false, fmt.Errorf("unknown scorer type %q: %w", s.Type, comfybatch.ErrInvalid)
}

// options reads validated scorer options.
type options map[string]any

func (o options) int(k string) int {
	switch v := o[k].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case uint64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

func (o options) float(k string) float64 {
	switch v := o[k].(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

func (o options) str(k string) string {
	s, _ := o[k].(string)
	return s
}

func fleetInstances(in []manifests.Instance) []generate.Instance {
	out := make([]generate.Instance, len(in))
	for i, x := range in {
		out[i] = generate.Instance{Name: x.Name, URL: x.URL, Headers: x.Headers, InFlight: x.InFlight,
			Weight: x.Weight, Tags: x.Tags, Tier: x.Tier}
	}
	return out
}

func instanceStats(in []generate.InstanceStats) []store.InstanceStat {
	out := make([]store.InstanceStat, len(in))
	for i, s := range in {
		out[i] = store.InstanceStat{Instance: s.Name, Prompts: s.Prompts, Failures: s.Failures,
			Busy: s.Busy, ModelLoads: s.ModelLoads}
	}
	return out
}

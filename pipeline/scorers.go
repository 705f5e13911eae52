package pipeline

import (
	"fmt"
	"path/filepath"
	"time"

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
		sc, network, err := newScorer(s, filepath.Dir(m.Path), opts)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: scorer %q: %w", m.Path, s.Pos.Line, s.Name, err)
		}
		if opts.wrapScorer != nil {
			sc = opts.wrapScorer(s.Name, sc)
		}
		out = append(out, namedScorer{name: s.Name, scorer: sc, network: network})
	}
	return out, nil
}

func newScorer(s manifests.ScorerSpec, dir string, opts Options) (Scorer, bool, error) {
	o := options(s.Options)
	switch s.Type {
	case "sharpness":
		return &score.Sharpness{Name: s.Name, LongSide: o.int("long_side")}, false, nil
	case "size":
		return &score.Size{Name: s.Name, Width: o.int("width"), Height: o.int("height"), Aspect: o.float("aspect"),
			MinBytes: int64(o.int("min_bytes")), MaxBytes: int64(o.int("max_bytes"))}, false, nil
	case "blank":
		return &score.Blank{Name: s.Name, MinStd: o.float("min_std"), MinColors: o.int("min_colors")}, false, nil
	case "phash":
		return &score.Phash{Name: s.Name}, false, nil
	case "clip", "aesthetic":
		token, err := token(o, opts)
		if err != nil {
			return nil, false, err
		}
		timeout, err := o.duration("timeout")
		if err != nil {
			return nil, false, err
		}
		co := score.CLIPOptions{Name: s.Name, URL: o.str("url"), Model: o.str("model"), Protocol: o.str("protocol"),
			Template: o.str("template"), Token: token, MaxBatch: o.int("max_batch"), Timeout: timeout,
			Retries: o.int("retries"), HTTPClient: opts.HTTPClient, Logger: opts.Logger}
		if s.Type == "aesthetic" {
			co.AestheticHead = resolve(dir, o.str("head"))
		}
		c, err := score.NewCLIP(co)
		return c, true, err
	case "http":
		token, err := token(o, opts)
		if err != nil {
			return nil, false, err
		}
		timeout, err := o.duration("timeout")
		if err != nil {
			return nil, false, err
		}
		return &score.HTTP{Name: s.Name, URL: o.str("url"), Mode: o.str("format"), Path: o.str("json_path"),
			Token: token, Timeout: timeout, HTTPClient: opts.HTTPClient, Logger: opts.Logger}, true, nil
	case "exec":
		timeout, err := o.duration("timeout")
		if err != nil {
			return nil, false, err
		}
		cmd, _ := o["command"].([]string)
		return &score.Exec{Name: s.Name, Command: cmd, Timeout: timeout, Dir: dir}, true, nil
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

func (o options) duration(k string) (time.Duration, error) {
	v := o.str(k)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %w", k, err, comfybatch.ErrInvalid)
	}
	return d, nil
}

// token reads the bearer token named by the token_env option.
func token(o options, opts Options) (string, error) {
	name := o.str("token_env")
	if name == "" {
		return "", nil
	}
	if opts.Env != nil {
		if v, ok := opts.Env(name); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("token_env: environment variable %s is not set: %w", name, comfybatch.ErrInvalid)
}

// resolve makes a path from the manifest relative to its folder.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func (o options) str(k string) string {
	s, _ := o[k].(string)
	return s
}

// FleetInstances turns a manifest's instance declarations into the
// fleet's.
func FleetInstances(in []manifests.Instance) []generate.Instance {
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
			Busy: s.Busy, ModelLoads: s.ModelLoads, Down: s.Down}
	}
	return out
}

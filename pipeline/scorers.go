package pipeline

import (
	"fmt"
	"path/filepath"

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
// manifest package has already decoded and validated every option, so a
// failure here is the environment (a token_env that is not set) or a file
// that changed since (the aesthetic head).
func buildScorers(m *manifests.Manifest, opts Options) ([]namedScorer, error) {
	var out []namedScorer
	for _, s := range m.Scorers {
		ns, err := newScorer(s, filepath.Dir(m.Path), opts)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: scorer %q: %w", m.Path, s.Pos.Line, s.Name, err)
		}
		if opts.wrapScorer != nil {
			ns.scorer = opts.wrapScorer(s.Name, ns.scorer)
		}
		out = append(out, ns)
	}
	return out, nil
}

// newScorer is the constructor half of the scorer types' specification:
// manifests.ScorerTypes lists each type with its typed options and
// metrics, and this switch builds the score type from those options, so
// no option is read back by name. TestNewScorerCoversEveryType walks the
// table, so a type added there without a case here fails.
func newScorer(s manifests.ScorerSpec, dir string, opts Options) (namedScorer, error) {
	ns := namedScorer{name: s.Name}
	var err error
	switch o := s.Options.(type) {
	case *manifests.SharpnessOptions:
		ns.scorer = &score.Sharpness{Name: s.Name, LongSide: o.LongSide}
	case *manifests.SizeOptions:
		ns.scorer = &score.Size{Name: s.Name, Width: o.Width, Height: o.Height, Aspect: o.Aspect, MinBytes: o.MinBytes, MaxBytes: o.MaxBytes}
	case *manifests.BlankOptions:
		ns.scorer = &score.Blank{Name: s.Name, MinStd: o.MinStd, MinColors: o.MinColors}
	case *manifests.PhashOptions:
		ns.scorer = &score.Phash{Name: s.Name}
	case *manifests.CLIPOptions:
		ns.network = true
		ns.scorer, err = newCLIP(s.Name, o.CLIPServer, opts, func(co *score.CLIPOptions) { co.Template = o.Template })
	case *manifests.AestheticOptions:
		ns.network = true
		ns.scorer, err = newCLIP(s.Name, o.CLIPServer, opts, func(co *score.CLIPOptions) {
			co.ImageOnly, co.AestheticHead = true, o.Head
		})
	case *manifests.HTTPOptions:
		ns.network = true
		var token string
		if token, err = lookupToken(o.TokenEnv, opts); err == nil {
			ns.scorer = &score.HTTP{Name: s.Name, URL: o.URL, Mode: o.Format, Path: o.JSONPath, Token: token, TokenEnv: o.TokenEnv,
				Timeout: o.Timeout, HTTPClient: opts.HTTPClient, Logger: opts.Logger}
		}
	case *manifests.ExecOptions:
		ns.network = true
		ns.scorer = &score.Exec{Name: s.Name, Command: o.Command, Timeout: o.Timeout, Dir: dir}
	default:
		err = fmt.Errorf("scorer type %q has no constructor (options %T): %w", s.Type, s.Options, comfybatch.ErrInvalid)
	}
	return ns, err
}

// newCLIP builds a CLIP scorer from the server options the clip and
// aesthetic types share; more sets what differs.
func newCLIP(name string, o manifests.CLIPServer, opts Options, more func(*score.CLIPOptions)) (Scorer, error) {
	token, err := lookupToken(o.TokenEnv, opts)
	if err != nil {
		return nil, err
	}
	co := score.CLIPOptions{Name: name, URL: o.URL, Model: o.Model, Protocol: o.Protocol, Token: token, TokenEnv: o.TokenEnv,
		MaxBatch: o.MaxBatch, Timeout: o.Timeout, HTTPClient: opts.HTTPClient, Logger: opts.Logger}
	if o.Retries != nil {
		co.Retries = *o.Retries
		if co.Retries == 0 {
			co.Retries = -1 // score's zero value means its default; the manifest's 0 means none
		}
	}
	more(&co)
	c, err := score.NewCLIP(co)
	if err != nil {
		return nil, err // a nil *CLIP must not become a non-nil Scorer
	}
	return c, nil
}

// lookupToken reads the bearer token named by a token_env option.
func lookupToken(name string, opts Options) (string, error) {
	if name == "" {
		return "", nil
	}
	if opts.Env != nil {
		if v, ok := opts.Env(name); ok && v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("token_env: environment variable %s is not set; export it with the scorer's token: %w", name, comfybatch.ErrInvalid)
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

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
)

// preflight checks the instances before a run submits anything. Each is
// asked for /system_stats, then for /object_info, from which the
// manifest builds the instance's per-job check (Instance.Accept, see
// manifests.Manifest.InstanceCheck): a job an instance cannot run (a node
// class, input or value it lacks) never goes there, and a job that no
// instance can run is bad input, reported here with the node, input,
// value and instances before anything is sent. An instance that does not
// answer is only a warning while another one does: the fleet checks it
// when it comes up (Options.Check) and gives it no job before. When none
// answers, the run cannot start and the error says, per instance, what to
// fix: the URL, or the credentials header for a 401/403.
//
// Jobs are looked at one by one (jobs streams those still to generate)
// only when some instance refuses something or lacks some group's tags:
// otherwise every job can run everywhere, and a million-job plan is not
// read twice.
func preflight(ctx context.Context, m *manifests.Manifest, jobs iter.Seq2[comfybatch.Job, error], instances []generate.Instance, hc *http.Client, log *slog.Logger) ([]generate.Instance, error) {
	if hc == nil {
		hc = &http.Client{}
	}
	out := slices.Clone(instances)
	errs := make([]error, len(out))   // goroutine i writes errs[i], refused[i] and out[i] only
	refused := make([]bool, len(out)) // the instance's check may refuse a job
	var wg sync.WaitGroup
	for i, in := range out {
		wg.Go(func() {
			c := generate.NewClient(in.URL, hc, generate.ClientOptions{Headers: in.Headers, Logger: log})
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.SystemStats(sctx)
			cancel()
			if err != nil {
				errs[i] = instanceProblem(in, m.Path, err)
				return
			}
			octx, cancel := context.WithTimeout(ctx, time.Minute) // a real catalogue is megabytes
			info, err := c.ObjectInfo(octx)
			cancel()
			if err != nil {
				// Reachable but not checkable now: the fleet tries again.
				log.Warn("instance's node catalogue not read at start; checked when it answers", "instance", in.Name, "err", err)
				return
			}
			accept, refuses, err := m.InstanceChecker(in.Name, info)
			if err != nil {
				refusal := fmt.Errorf("its /object_info could not be read: %w", err)
				accept, refuses = func(comfybatch.Job) error { return refusal }, true
				log.Warn("instance gets no jobs", "instance", in.Name, "err", err)
			}
			out[i].Accept = accept
			refused[i] = refuses
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	up := 0
	for i, err := range errs {
		if err == nil {
			up++
			continue
		}
		log.Warn("instance not usable at start", "instance", instances[i].Name, "err", err)
	}
	if up == 0 {
		// Servers that answer "unavailable" are an outage (rerun later);
		// anything else (refused connections, credentials) wants a fix.
		kind := comfybatch.ErrOutage
		for _, err := range errs {
			if !errors.Is(err, comfybatch.ErrOutage) {
				kind = comfybatch.ErrInvalid
			}
		}
		return nil, fmt.Errorf("no instance answered: %w: %w", errors.Join(errs...), kind)
	}
	if !slices.Contains(refused, true) && tagsEverywhere(m, out) {
		return out, nil
	}
	if err := unrunnable(jobs, out); err != nil {
		return nil, err
	}
	return out, nil
}

// tagsEverywhere reports whether every instance carries every group's
// tags, so that tags alone keep no job from any instance.
func tagsEverywhere(m *manifests.Manifest, instances []generate.Instance) bool {
	for _, g := range m.Groups {
		for _, in := range instances {
			if !carries(in.Tags, g.Tags) {
				return false
			}
		}
	}
	return true
}

// instanceProblem says what is wrong with an instance that did not answer
// and what to do about it.
func instanceProblem(in generate.Instance, manifest string, err error) error {
	he, _ := errors.AsType[*generate.HTTPError](err)
	switch {
	case he != nil && he.Auth():
		return fmt.Errorf(`instance %s (%s) refused our credentials; set its header, e.g. headers: {Authorization: "Bearer ${COMFY_TOKEN}"} under the instance in %s, or pass --header 'Authorization: Bearer ...': %w`,
			in.Name, in.URL, manifest, err)
	case he != nil && he.Origin():
		return fmt.Errorf("instance %s (%s) was refused by ComfyUI's origin check (HTTP 403, empty body); remove the Origin header from its headers, have the proxy in front of it forward the public Host, or start ComfyUI with --enable-cors-header: %w",
			in.Name, in.URL, err)
	case he != nil && he.Status >= 500:
		return fmt.Errorf("instance %s (%s) answers but is unavailable (HTTP %d): ComfyUI may be starting or overloaded, or a proxy's backend is down; see its log (try: curl %s/system_stats): %w",
			in.Name, in.URL, he.Status, strings.TrimRight(in.URL, "/"), fmt.Errorf("%w: %w", err, comfybatch.ErrOutage))
	}
	return fmt.Errorf("instance %s (%s) is unreachable; check the URLs and that ComfyUI is running (try: curl %s/system_stats): %w",
		in.Name, in.URL, strings.TrimRight(in.URL, "/"), err)
}

// unrunnable reports the jobs that no instance can run: it lacks their
// tags, or its check refuses them. An instance not checked yet (it did not
// answer) might run any job carrying its tags, so such jobs are not
// reported. Jobs refused for the same reasons are reported together.
func unrunnable(jobs iter.Seq2[comfybatch.Job, error], instances []generate.Instance) error {
	type group struct {
		jobs  int
		first comfybatch.Job
	}
	groups := map[string]*group{}
	var order []string
	for job, err := range jobs {
		if err != nil {
			return err
		}
		t := generate.Task{Job: job}
		var why []string
		ok := false
		for _, in := range instances {
			var err error
			switch {
			case !carries(in.Tags, t.Job.Tags):
				err = fmt.Errorf("instance %s lacks tags %v", in.Name, t.Job.Tags)
			case in.Accept == nil:
				ok = true // not checked yet: it may
			default:
				err = in.Accept(t.Job)
			}
			if err == nil || ok {
				ok = true
				break
			}
			why = append(why, err.Error())
		}
		if ok {
			continue
		}
		key := strings.Join(why, "\n")
		g := groups[key]
		if g == nil {
			g = &group{first: t.Job}
			groups[key] = g
			order = append(order, key)
		}
		g.jobs++
	}
	if len(order) == 0 {
		return nil
	}
	errs := make([]error, 0, len(order))
	for _, key := range order {
		g := groups[key]
		errs = append(errs, fmt.Errorf("%d jobs (the first: #%d of group %q) cannot run on any instance:\n  %s",
			g.jobs, g.first.Index, g.first.Group, strings.ReplaceAll(key, "\n", "\n  ")))
	}
	return fmt.Errorf("%w; nothing was submitted: %w", errors.Join(errs...), comfybatch.ErrInvalid)
}

// carries reports whether an instance's tags include every tag a job needs.
func carries(have, need []string) bool {
	for _, t := range need {
		if !slices.Contains(have, t) {
			return false
		}
	}
	return true
}

// checker is a scorer that can tell before a run whether it will work
// (score.CLIP asks its embeddings server for one text embedding, score.HTTP
// whether its server answers, score.Exec whether its program exists).
type checker interface {
	Check(ctx context.Context) error
}

// preflightScorers checks every scorer that can be checked, so that an
// unreachable or misconfigured scorer stops the run before it generates
// anything instead of leaving every candidate unscored. The Check methods
// class their failures: a scorer that is down, overloaded or too slow is
// an outage (comfybatch.ErrOutage, exit 4: start it and run again); one
// that refuses the request, speaks another protocol or whose program is
// missing is configuration (comfybatch.ErrInvalid, exit 2: fix it). When
// both kinds occur the run reports them all as ErrInvalid, since it cannot
// start until the configuration is fixed anyway.
func preflightScorers(ctx context.Context, scorers []namedScorer, manifest string) error {
	const limit = 30 * time.Second
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	errs := make([]error, len(scorers)) // goroutine i writes errs[i] only
	var wg sync.WaitGroup
	for i, s := range scorers {
		c, ok := s.scorer.(checker)
		if !ok {
			continue
		}
		wg.Go(func() { errs[i] = c.Check(cctx) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	var invalid, outage []error
	for i, err := range errs {
		name := scorers[i].name
		switch {
		case err == nil:
		case errors.Is(err, comfybatch.ErrOutage):
			outage = append(outage, fmt.Errorf("%s: scorer %q is unavailable: %w", manifest, name, err))
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			outage = append(outage, fmt.Errorf("%s: scorer %q did not answer its check within %v: %w", manifest, name, limit, comfybatch.ErrOutage))
		default:
			invalid = append(invalid, fmt.Errorf("%s: scorer %q does not work: %v", manifest, name, err))
		}
	}
	switch {
	case len(invalid) > 0:
		for _, err := range outage {
			invalid = append(invalid, fmt.Errorf("%v", err)) // reported too, but the run is bad input until fixed
		}
		return fmt.Errorf("%w\nfix the scorer's url, protocol, token_env or command, or remove it: %w", errors.Join(invalid...), comfybatch.ErrInvalid)
	case len(outage) > 0:
		return fmt.Errorf("%w\nnothing was generated or changed; start the scorer's server (or wait for it) and run the same command again", errors.Join(outage...))
	}
	return nil
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
)

// preflight asks every instance for /system_stats before a run starts. An
// unreachable instance is only a warning while another one answers (the
// fleet probes it again later); when none answers, the run cannot start and
// the error names each URL.
func preflight(ctx context.Context, instances []generate.Instance, hc *http.Client, log *slog.Logger) error {
	if hc == nil {
		hc = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errs := make([]error, len(instances)) // goroutine i writes errs[i] only
	var wg sync.WaitGroup
	for i, in := range instances {
		wg.Go(func() {
			c := generate.NewClient(in.URL, hc, generate.ClientOptions{Headers: in.Headers, Logger: log})
			if _, err := c.SystemStats(ctx); err != nil {
				errs[i] = fmt.Errorf("instance %s (%s) is unreachable: %w", in.Name, in.URL, err)
			}
		})
	}
	wg.Wait()
	up := 0
	for i, err := range errs {
		if err == nil {
			up++
			continue
		}
		log.Warn("instance unreachable at start", "instance", instances[i].Name, "err", err)
	}
	if up == 0 {
		return fmt.Errorf("%w; check the URLs and that ComfyUI is running (try: curl URL/system_stats): %w",
			errors.Join(errs...), comfybatch.ErrInvalid)
	}
	return nil
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
		return fmt.Errorf("%w\nnothing was generated; start the scorer's server (or wait for it) and run the same command again", errors.Join(outage...))
	}
	return nil
}

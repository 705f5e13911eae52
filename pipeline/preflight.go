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
// unreachable or misconfigured scoring server stops the run before it
// generates anything instead of rejecting every candidate.
func preflightScorers(ctx context.Context, scorers []namedScorer, manifest string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errs := make([]error, len(scorers)) // goroutine i writes errs[i] only
	var wg sync.WaitGroup
	for i, s := range scorers {
		c, ok := s.scorer.(checker)
		if !ok {
			continue
		}
		wg.Go(func() {
			if err := c.Check(ctx); err != nil {
				errs[i] = fmt.Errorf("%s: scorer %q does not work: %w; start its server or install its command, fix url/protocol/token_env/command, or remove the scorer",
					manifest, s.name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", err, comfybatch.ErrInvalid)
	}
	return nil
}

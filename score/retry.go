package score

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/comfybatch/comfybatch"
)

// retry calls fn until it succeeds, fails with an error that is not
// comfybatch.ErrTransient, or has been retried retries times, waiting
// backoff before the first retry and twice as long before each next one.
func retry[T any](ctx context.Context, retries int, backoff time.Duration, log *slog.Logger, what string, fn func() (T, error)) (T, error) {
	wait := backoff
	for attempt := 0; ; attempt++ {
		v, err := fn()
		if err == nil || !errors.Is(err, comfybatch.ErrTransient) || attempt >= retries || ctx.Err() != nil {
			return v, err
		}
		log.Warn("scoring request failed, retrying", "request", what, "attempt", attempt+1, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			var zero T
			return zero, ctx.Err()
		}
		wait *= 2
	}
}

package score

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/comfybatch/comfybatch"
)

// maxRetryAfter is the longest Retry-After a scorer waits out itself. A
// server asking for longer is in an outage the caller handles (the
// candidate waits for the scorer), not a hiccup to sit through per call.
const maxRetryAfter = 30 * time.Second

// retry calls fn until it succeeds, fails with an error that is not
// comfybatch.ErrTransient, or has been retried retries times, waiting
// backoff before the first retry and twice as long before each next one,
// or longer when the server's Retry-After asks for it.
func retry[T any](ctx context.Context, retries int, backoff time.Duration, log *slog.Logger, what string, fn func() (T, error)) (T, error) {
	wait := backoff
	for attempt := 0; ; attempt++ {
		v, err := fn()
		if err == nil || !errors.Is(err, comfybatch.ErrTransient) || attempt >= retries || ctx.Err() != nil {
			return v, err
		}
		d := wait
		if se, ok := errors.AsType[*StatusError](err); ok && se.RetryAfter > 0 {
			if se.RetryAfter > maxRetryAfter {
				return v, err
			}
			d = max(d, se.RetryAfter)
		}
		log.Warn("scoring request failed, retrying", "request", what, "attempt", attempt+1, "wait", d, "err", err)
		t := time.NewTimer(d)
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

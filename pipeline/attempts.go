package pipeline

import (
	"context"
	"errors"
	"log/slog"

	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/store"
)

// attemptEvents returns the fleet's event hook. It records what an event
// says about an attempt (tail stealing moved it, it failed and the job was
// retried, a shutdown cancelled it), puts a job a shutdown left without a
// Result back to pending, then passes the event on to next (nil: none).
// Each record is committed before the event goes on, so it lands ahead of
// the job's final RecordCandidate or RecordFailure, which keep it.
//
// They are written on ctx without its cancellation: they matter most
// after Ctrl-C, so that `batch show` lists no job as submitted when
// nothing is queued anywhere, and a rerun generates those jobs.
func attemptEvents(ctx context.Context, st *store.Store, runID int64, log *slog.Logger, next func(generate.Event)) func(generate.Event) {
	ctx = context.WithoutCancel(ctx)
	return func(e generate.Event) {
		outcome := ""
		switch e.Kind {
		case generate.EventStolen:
			outcome = store.OutcomeMoved
		case generate.EventRetry:
			outcome = store.OutcomeFailed
		case generate.EventCancelled:
			outcome = store.OutcomeCancelled // and the job is pending again
		}
		var err error
		if outcome != "" && e.PromptID != "" { // a failure before submission has no prompt
			err = st.SetAttemptOutcome(ctx, runID, e.JobKey, e.PromptID, outcome)
		}
		// The attempt was never recorded when BeforeSubmit itself failed.
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("attempt outcome not recorded", "job", e.JobKey, "prompt_id", e.PromptID, "event", e.Kind, "err", err)
		}
		if next != nil {
			next(e)
		}
	}
}

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
// retried, a shutdown cancelled it before it ran or stopped waiting for
// it), puts a job a shutdown left without a Result back to pending, then
// passes the event on to next (nil: none).
// Each record is committed before the event goes on, so it lands ahead of
// the job's final RecordCandidate or RecordFailure, which keep it.
//
// They are written on ctx without its cancellation: they matter most
// after Ctrl-C, so that `batch show` lists no job as submitted when
// nothing is queued anywhere, and a rerun generates those jobs.
func attemptEvents(ctx context.Context, st *store.Store, runID int64, log *slog.Logger, next func(generate.Event)) func(generate.Event) {
	ctx = context.WithoutCancel(ctx)
	return func(e generate.Event) {
		record, outcome := true, ""
		switch {
		case e.Kind == generate.EventStolen:
			outcome = store.OutcomeMoved
		case e.Kind == generate.EventRetry:
			outcome = store.OutcomeFailed
		case e.Kind == generate.EventCancelled && e.Err == nil:
			outcome = store.OutcomeCancelled // it never ran; the job is pending again
		case e.Kind == generate.EventCancelled:
			// It may have run: left in flight for the rerun to look up
			// (and adopt its image); the job is pending again.
		default:
			record = false
		}
		var err error
		if record && e.PromptID != "" { // a failure before submission has no prompt
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

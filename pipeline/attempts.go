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
// The records go through the store's writer in event order, ahead of the
// job's final RecordCandidate or RecordFailure, which keep them.
//
// They are written on ctx without its cancellation: they matter most
// after Ctrl-C, so that `batch show` lists no job as submitted when
// nothing is queued anywhere, and a rerun generates those jobs.
func attemptEvents(ctx context.Context, st *store.Store, runID int64, log *slog.Logger, next func(generate.Event)) func(generate.Event) {
	ctx = context.WithoutCancel(ctx)
	return func(e generate.Event) {
		var err error
		switch e.Kind {
		case generate.EventStolen:
			err = st.SetAttemptOutcome(ctx, runID, e.JobKey, e.PromptID, store.OutcomeMoved)
		case generate.EventRetry:
			if e.PromptID != "" { // a failure before submission has no prompt
				err = st.SetAttemptOutcome(ctx, runID, e.JobKey, e.PromptID, store.OutcomeFailed)
			}
		case generate.EventCancelled:
			err = errors.Join(
				st.SetAttemptOutcome(ctx, runID, e.JobKey, e.PromptID, store.OutcomeCancelled),
				st.RequeueCancelled(ctx, runID, e.JobKey, e.PromptID))
		}
		if err != nil {
			log.Warn("attempt outcome not recorded", "job", e.JobKey, "prompt_id", e.PromptID, "event", e.Kind, "err", err)
		}
		if next != nil {
			next(e)
		}
	}
}

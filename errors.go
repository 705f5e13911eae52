package comfybatch

import (
	"context"
	"errors"
)

// Error kinds. Errors returned by every package wrap one of these (or
// implement Is for them) so that retry decisions and exit codes are made by
// kind, never by matching message text.
var (
	// ErrInvalid marks bad input: a manifest or workflow mistake, or a
	// ComfyUI 400 with node_errors. Never retried; exit code 2.
	ErrInvalid = errors.New("invalid input")
	// ErrTransient marks failures that may succeed elsewhere or later:
	// network errors, 5xx, a dropped WebSocket, a prompt lost in a restart,
	// out-of-memory during execution.
	ErrTransient = errors.New("transient failure")
	// ErrExecution marks a runtime error raised by a node while the prompt
	// executed (not out-of-memory). Retried a bounded number of times.
	ErrExecution = errors.New("execution error")
	// ErrInterrupted marks a prompt that was interrupted on the server.
	ErrInterrupted = errors.New("interrupted")
	// ErrOutage marks a run stopped because something it depends on
	// (every ComfyUI instance, or a scorer) stayed unavailable past its
	// deadline. Nothing finished is lost; rerunning the same command when
	// the service is back finishes the work. Exit code 4.
	ErrOutage = errors.New("outage")
	// ErrIncomplete marks a run that did all it could but did not deliver
	// everything: jobs failed, candidates still wait for a scorer, or a
	// group selected fewer than its top_k. The summary says what and how
	// to retry. Exit code 3.
	ErrIncomplete = errors.New("incomplete")
)

// Error classes as stored and shown to people.
const (
	ClassInvalid     = "invalid"
	ClassTransient   = "transient"
	ClassExecution   = "execution"
	ClassInterrupted = "interrupted"
	ClassCanceled    = "canceled"
	ClassOutage      = "outage"
	ClassOther       = "other"
)

// Class names the kind of err for storage and display.
func Class(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrInvalid):
		return ClassInvalid
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ClassCanceled
	case errors.Is(err, ErrOutage):
		return ClassOutage
	case errors.Is(err, ErrTransient):
		return ClassTransient
	case errors.Is(err, ErrExecution):
		return ClassExecution
	case errors.Is(err, ErrInterrupted):
		return ClassInterrupted
	}
	return ClassOther
}

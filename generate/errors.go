package generate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// PromptError is a 400 from POST /prompt: the workflow failed validation.
// It is never retried: errors.Is(err, comfybatch.ErrInvalid) is true.
type PromptError struct {
	Type, Message, Details string
	// NodeErrors maps node ids to their validation messages.
	NodeErrors map[string][]string
}

// Error lists the node errors in node id order.
func (e *PromptError) Error() string {
	var b strings.Builder
	b.WriteString("POST /prompt rejected: ")
	b.WriteString(e.Type)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	ids := make([]string, 0, len(e.NodeErrors))
	for id := range e.NodeErrors {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return nodeIDLess(ids[i], ids[j]) })
	for _, id := range ids {
		fmt.Fprintf(&b, "; node %s: %s", id, strings.Join(e.NodeErrors[id], ", "))
	}
	if len(ids) == 0 && e.Details != "" {
		b.WriteString(" (" + e.Details + ")")
	}
	return b.String()
}

// Is reports that a PromptError is comfybatch.ErrInvalid.
func (e *PromptError) Is(target error) bool { return target == comfybatch.ErrInvalid }

// HTTPError is an unexpected HTTP status from a ComfyUI server. 5xx, 404,
// 408 and 429 are transient; other statuses are ErrInvalid (a 403 from the
// origin check or a 413 never succeeds by retrying).
type HTTPError struct {
	Method, Path string
	Status       int
	Body         string
}

// Error names the request and the status.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Is classifies the status.
func (e *HTTPError) Is(target error) bool {
	transient := e.Status >= 500 || e.Status == 404 || e.Status == 408 || e.Status == 429
	switch target {
	case comfybatch.ErrTransient:
		return transient
	case comfybatch.ErrInvalid:
		return !transient
	}
	return false
}

// transientError marks a network failure (connection refused, reset, a
// dropped socket) as comfybatch.ErrTransient while keeping the cause.
type transientError struct{ err error }

func (e transientError) Error() string        { return e.err.Error() }
func (e transientError) Unwrap() error        { return e.err }
func (e transientError) Is(target error) bool { return target == comfybatch.ErrTransient }

// ExecError is a prompt that failed while it executed: an execution_error
// or execution_interrupted recorded in its history.
type ExecError struct {
	PromptID         string
	NodeID, NodeType string
	ExceptionType    string
	ExceptionMessage string
	// Interrupted is true for execution_interrupted.
	Interrupted bool
}

// Error names the node and the exception.
func (e *ExecError) Error() string {
	if e.Interrupted {
		return fmt.Sprintf("prompt %s interrupted at node %s (%s)", e.PromptID, e.NodeID, e.NodeType)
	}
	return fmt.Sprintf("prompt %s failed at node %s (%s): %s: %s", e.PromptID, e.NodeID, e.NodeType,
		e.ExceptionType, strings.TrimSpace(e.ExceptionMessage))
}

// OOM reports whether the error is an out-of-memory on the GPU, which is
// worth retrying after POST /free (comfyui-protocol.md §8).
func (e *ExecError) OOM() bool {
	return !e.Interrupted && (e.ExceptionType == "torch.OutOfMemoryError" ||
		strings.Contains(strings.ToLower(e.ExceptionMessage), "out of memory"))
}

// Is classifies: interrupted -> ErrInterrupted, out of memory ->
// ErrTransient, anything else -> ErrExecution.
func (e *ExecError) Is(target error) bool {
	switch {
	case e.Interrupted:
		return target == comfybatch.ErrInterrupted
	case e.OOM():
		return target == comfybatch.ErrTransient
	}
	return target == comfybatch.ErrExecution
}

// isOOM reports whether err carries an out-of-memory ExecError.
func isOOM(err error) bool {
	var e *ExecError
	return errors.As(err, &e) && e.OOM()
}

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
// origin check or a 413 never succeeds by retrying). Auth and Origin tell
// the two kinds of refusal apart.
type HTTPError struct {
	Method, Path string
	Status       int
	Body         string
}

// Error names the request and the status, and for a refusal what it
// means.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	switch {
	case e.Auth():
		msg += " (credentials missing or refused: set the instance's Authorization header)"
	case e.Origin():
		msg += " (ComfyUI's origin check: the request's Origin header does not match its loopback Host)"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Auth reports a refusal of our credentials: 401, or 403 with a body.
// ComfyUI has no authentication of its own (comfyui-protocol.md §1); such
// answers come from a proxy or gateway in front of it, which answer with
// some text. Retrying with the same headers cannot help.
func (e *HTTPError) Auth() bool {
	return e.Status == 401 || e.Status == 403 && strings.TrimSpace(e.Body) != ""
}

// Origin reports ComfyUI's own origin-check refusal: 403 with an empty
// body (§1.1). It happens only when a request carries an Origin header
// (ours never do unless the instance's headers add one) while the Host
// is a loopback address, typically behind a proxy that forwards a
// browser's Origin.
func (e *HTTPError) Origin() bool {
	return e.Status == 403 && strings.TrimSpace(e.Body) == ""
}

// IsAuth reports whether err carries an *HTTPError that refused our
// credentials (see HTTPError.Auth).
func IsAuth(err error) bool {
	he, ok := errors.AsType[*HTTPError](err)
	return ok && he.Auth()
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
// worth retrying after POST /free (comfyui-protocol.md §8). ComfyUI
// records the exception's full type name (module and class, plain class
// for builtins) and its message, to which it appends a tip that also says
// "out of memory" (execution.py, for comfy.model_management.OOM_EXCEPTION).
func (e *ExecError) OOM() bool {
	if e.Interrupted {
		return false
	}
	switch e.ExceptionType {
	case "torch.OutOfMemoryError", "torch.cuda.OutOfMemoryError":
		return true
	}
	return strings.Contains(strings.ToLower(e.ExceptionMessage), "out of memory")
}

// deviceTypes are exception types raised for a fault of the accelerator
// rather than of the job: torch >= 2.8 raises AcceleratorError for CUDA
// and HIP errors, older versions a RuntimeError whose message starts with
// "CUDA error:" or "HIP error:".
var deviceTypes = map[string]bool{
	"torch.AcceleratorError":           true,
	"torch.cuda.CudaError":             true,
	"torch.cuda.DeferredCudaCallError": true,
}

// deviceMarks are message fragments (lower case) of device faults: CUDA
// and HIP runtime errors (a device-side assert, an illegal memory access,
// a launch failure), cuBLAS and cuDNN status failures, and MPS and XPU
// backend errors.
var deviceMarks = []string{
	"cuda error", "device-side assert", "hip error", "hiperror", "illegal memory access",
	"cublas_status_", "cudnn_status_", "cudnn error", "cuda driver", "nccl error",
	"mps backend", "xpu error", "ur_result_error",
}

// Device reports a fault of the server's GPU or accelerator (a CUDA or HIP
// error, a device-side assert, an MPS or XPU backend error), judged from
// the recorded exception type and message. The same job may well succeed
// on another instance, or on this one after its process restarted.
func (e *ExecError) Device() bool {
	if e.Interrupted {
		return false
	}
	if deviceTypes[e.ExceptionType] {
		return true
	}
	msg := strings.ToLower(e.ExceptionMessage)
	for _, m := range deviceMarks {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// Is classifies: interrupted -> ErrInterrupted; out of memory or a device
// fault -> ErrTransient (retried, preferably elsewhere); any other node
// exception -> ErrExecution (retried at most once, on another instance).
func (e *ExecError) Is(target error) bool {
	switch {
	case e.Interrupted:
		return target == comfybatch.ErrInterrupted
	case e.OOM(), e.Device():
		return target == comfybatch.ErrTransient
	}
	return target == comfybatch.ErrExecution
}

// isOOM reports whether err carries an out-of-memory ExecError.
func isOOM(err error) bool {
	var e *ExecError
	return errors.As(err, &e) && e.OOM()
}

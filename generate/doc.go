// Package generate is the production ComfyUI client and the Fleet that fans
// jobs out over several ComfyUI instances. It knows nothing about stores or
// scorers: jobs go in, candidates (downloaded image bytes) or classified
// errors come out.
//
// Entry points:
//
//   - NewClient returns a Client for one server: Submit (POST /prompt with a
//     client-chosen prompt id), History, Queue, DeleteQueued, Interrupt, Free,
//     View, Upload, ObjectInfo, SystemStats and Connect (the WebSocket, as a
//     Watch whose one read goroutine feeds a channel).
//   - NewFleet returns a Fleet; Fleet.Run generates a batch of Tasks and sends
//     exactly one Result per task; Fleet.Shutdown drains after Ctrl-C.
//
// Errors are classified once, here, by kind: a 400 from POST /prompt is a
// *PromptError (comfybatch.ErrInvalid); network failures and 5xx are
// comfybatch.ErrTransient; execution failures are *ExecError, which is
// ErrTransient for out-of-memory, ErrInterrupted for an interrupt and
// ErrExecution otherwise.
//
// Client, Watch and Fleet are safe for concurrent use. Workflows are never
// decoded through float64, so seeds above 2^53 survive.
package generate

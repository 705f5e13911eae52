// Package generate is the production ComfyUI client and the Fleet that fans
// jobs out over several ComfyUI instances. It knows nothing about stores or
// scorers: jobs go in, candidates (downloaded image bytes) or classified
// errors come out.
//
// # Entry points
//
//   - NewClient returns a Client for one server: Submit (POST /prompt with a
//     client-chosen prompt id), History, Queue, DeleteQueued, Interrupt, Free,
//     View, Upload, ObjectInfo, SystemStats and Connect (the WebSocket, as a
//     Watch whose one read goroutine feeds a channel).
//   - NewFleet returns a Fleet; Fleet.Run generates a batch of Tasks and sends
//     exactly one Result per task; Fleet.Shutdown drains after Ctrl-C;
//     Fleet.Stats reports prompts, failures, model loads, busy and down time.
//
// # How the fleet works
//
// Run is pull based: every instance has InFlight worker slots, each taking
// the next job it may run, submitting it and waiting for it, so the server
// always has queued work and faster instances do more. The hand-out
// prefers a job with the instance's last Affinity (checkpoint), then one no
// other instance holds, and never leaves a slot idle when there is work it
// may do; an instance with nothing in flight gets a job before another
// queues a second one. Tags restrict jobs to instances; a higher Tier is
// overflow, used only while no lower-tier instance that could run the job
// has a free slot.
//
// The end of a run is balanced by a tail policy with two halves. While only
// a few unassigned jobs are left (at most two per instance), a slot takes
// one only if its instance is among those expected to finish them first,
// from each instance's moving average execution time and the prompts it
// already has; otherwise it looks again a little later. Once no unassigned
// job is left, a free slot takes over one of our prompts that still waits
// (pending, not running) in another instance's queue and is expected to
// finish later there than here, the one expected to finish last first. It
// deletes the prompt (POST /queue delete), confirms with /queue and
// /history that it is gone and never ran (otherwise it leaves it alone),
// and submits the job as a new attempt, BeforeSubmit included. A job is
// stolen at most once; stolen attempts count in Result.Attempts but not
// against MaxAttempts. Options.NoSteal turns both halves off.
//
// Each prompt id is a fresh UUIDv4 chosen before POST /prompt and registered
// first (events can precede the answer). One WebSocket per instance, with a
// fresh client id on every reconnect, brings completion early; every
// in-flight prompt is also reconciled with /queue then /history every
// PollInterval and after each reconnect. A prompt found in neither twice in
// a row was lost (a restart) and is resubmitted as a new attempt. After a
// terminal event /history is polled until the entry appears. The first
// output image is downloaded with /view.
//
// Retries are decided in one place: ErrInvalid never; ErrTransient
// (network, 5xx, lost prompts, timeouts, out-of-memory after POST /free) and
// ErrInterrupted again, elsewhere when possible, after a jittered backoff;
// ErrExecution once more elsewhere; MaxAttempts bounds all. Three transient
// failures in a row take an instance down; GET /system_stats probes bring it
// back, and prompts given up while it was unreachable are then deleted or
// interrupted.
//
// # Errors
//
// Errors are classified once, here, by kind: a 400 from POST /prompt is a
// *PromptError (comfybatch.ErrInvalid); network failures and 5xx are
// comfybatch.ErrTransient (*HTTPError carries the status); execution
// failures are *ExecError, which is ErrTransient for out-of-memory,
// ErrInterrupted for an interrupt and ErrExecution otherwise.
//
// Client, Watch and Fleet are safe for concurrent use (one Run at a time
// per Fleet). Workflows are never decoded through float64, so seeds above
// 2^53 survive.
package generate

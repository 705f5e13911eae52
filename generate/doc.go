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
//   - VerifyImage checks downloaded bytes are a whole image without
//     decoding them.
//   - NewFleet returns a Fleet; Fleet.Run generates a batch of Tasks and sends
//     exactly one Result per task (except tasks left unfinished when its
//     context ends or Shutdown stops it); Fleet.Shutdown drains after Ctrl-C;
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
// a row (the second look comes soon after the first) was lost (a restart)
// and is resubmitted as a new attempt. After a
// terminal event /history is polled until the entry appears. The first
// output image is downloaded with /view.
//
// Every downloaded image is checked before the attempt counts as done
// (VerifyImage: PNG chunk CRCs up to IEND and a sane declared size, JPEG,
// WebP and GIF structure); a damaged download is fetched again, up to three
// times, and one that stays damaged fails the attempt as transient. It never
// becomes a Candidate.
//
// Retries are decided in one place (retryable): ErrInvalid never;
// ErrTransient (network, 5xx, lost prompts, timeouts, damaged downloads,
// out-of-memory after POST /free, GPU and other device faults) and
// ErrInterrupted again, elsewhere when possible, after a jittered backoff;
// ErrExecution (any other node exception) at most once, on another
// instance, never twice on one server, and not at all when no other
// instance may run the job; MaxAttempts bounds all. Three transient
// failures in a row take an instance down, and so does one refusal of our
// credentials (401, or 403 with a body; its jobs go elsewhere without
// spending attempts). GET /system_stats probes, every PollInterval, bring a
// down instance back, so a recovered server gets work within about a
// second; prompts given up while it was unreachable are then deleted or
// interrupted.
//
// Instance.Accept (or Options.Check, which builds it from the instance's
// /object_info, fetched once when the instance is first reachable) says
// which jobs an instance can run; like Tags, a job goes only where it is
// accepted, and a job no instance accepts fails as ErrInvalid.
//
// Shutdown deletes our queued prompts and reports every attempt it leaves
// without an image with an EventCancelled (those jobs get no Result);
// EventStolen marks an attempt that tail stealing moved, not failed.
//
// # Errors
//
// Errors are classified once, here, by kind: a 400 from POST /prompt is a
// *PromptError (comfybatch.ErrInvalid); network failures and 5xx are
// comfybatch.ErrTransient (*HTTPError carries the status); execution
// failures are *ExecError, which is ErrTransient for out-of-memory and
// device faults, ErrInterrupted for an interrupt and ErrExecution
// otherwise. HTTPError.Auth and HTTPError.Origin tell a refusal of our
// credentials from ComfyUI's own origin check; both are ErrInvalid.
//
// Client, Watch and Fleet are safe for concurrent use (one Run at a time
// per Fleet). Workflows are never decoded through float64, so seeds above
// 2^53 survive.
package generate

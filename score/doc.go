// Package score rates decoded candidates. Each scorer is a concrete type with
// a Score method returning a comfybatch.Score named by the scorer's Name field
// (defaulting to the type name, lower case), so two scorers of one type can
// coexist in a run.
//
// Entry points:
//
//   - Decode turns downloaded bytes into pixels once, rejecting decompression
//     bombs and oversized files from the header alone.
//   - Sharpness (variance of the Laplacian), Size (dimensions, aspect, bytes),
//     Blank (flat or near-empty images) and Phash (64-bit DCT perceptual
//     hash) look only at the candidate itself.
//   - CLIP asks an embeddings server how well the image matches the job's
//     prompt, batching concurrent calls into one request; HTTP posts the image
//     to any scoring service; Exec runs a local command. Each has a Check
//     method that tries the service before a run.
//   - HammingHex compares two Phash values; LinearHead is the aesthetic
//     head CLIP can apply.
//
// # Outages and verdicts
//
// A Score error is one of two things, and callers tell them apart with
// errors.Is(err, comfybatch.ErrOutage):
//
//   - An outage: the scorer could not give a usable answer, which says
//     nothing about the image. The candidate should wait for the scorer, not
//     be rejected. Outages are: a server that cannot be reached (connection
//     refused or reset, DNS), no answer within the timeout, HTTP 429 and 5xx,
//     401 and 403 (the credentials; the message names the token_env variable
//     to fix), any other 4xx that is not a verdict below (404, 405: the
//     scorer's url is wrong), and a 2xx answer that cannot be read in the
//     protocol (not JSON, the wrong number of embeddings, embeddings whose
//     sizes disagree with each other or with the aesthetic head). An
//     unreadable answer is the scorer's problem, not the image's: it comes
//     from a proxy's error page, a body cut short or a protocol mismatch, and
//     calling it a verdict would silently reject good candidates. For Exec,
//     a program that cannot be started, exits 126 or 127 (the shell's "cannot
//     execute" and "not found"), is killed by a signal or outlives its
//     timeout is an outage. Outages that may clear by themselves (network,
//     timeout, 408, 429, 5xx, unreadable answers, killed programs) are also
//     comfybatch.ErrTransient, and CLIP and HTTP retry those a few times
//     before returning them, honouring Retry-After up to 30s.
//   - A verdict: the scorer answered about this image. HTTP 400, 413, 415
//     and 422 (also comfybatch.ErrInvalid); for HTTP, a JSON answer with no
//     number at the configured path (a service saying "no face found"); for
//     Exec, a program that ran and exited non-zero, or printed no number;
//     a job that lacks a param the CLIP template names. A verdict rejects the
//     candidate. CLIP sends images in batches, so a verdict on a request of
//     several images is split in halves until it falls on the images it
//     concerns.
//
// The caller's own cancellation comes back as ctx.Err(), neither of the two.
//
// Check, run before anything is generated, classes its failures the other
// way round for configuration: a server that is down, overloaded or too
// slow is comfybatch.ErrOutage (start it and run again); one that answers
// but refuses the request (404, 401, 403, a 4xx about the check's own
// input), answers in another protocol, or a program that is not installed
// is comfybatch.ErrInvalid (fix the manifest or the environment).
//
// The package does not know where pixels come from: it imports only the root
// package and image libraries.
//
// Every scorer is safe for concurrent use once constructed; do not change its
// fields while Score calls are running.
package score

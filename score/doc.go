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
//     to any scoring service; Exec runs a local command. Their HTTP
//     failures are *StatusError, classed transient (429, 5xx) or invalid
//     (other 4xx); network failures and timeouts wrap ErrTransient.
//   - HammingHex compares two Phash values; LinearHead is the aesthetic
//     head CLIP can apply.
//
// The package does not know where pixels come from: it imports only the root
// package and image libraries. A returned error means "this candidate could
// not be scored", never "stop the run".
//
// Every scorer is safe for concurrent use once constructed; do not change its
// fields while Score calls are running.
package score

// Package cliptest is a fake CLIP embeddings server for tests and demos. It
// speaks the three dialects the score.CLIP scorer does (Infinity's
// OpenAI-compatible /v1/embeddings with a "modality" field, vLLM's
// /v1/embeddings with chat-style messages, and clip-as-service's /post) and
// returns deterministic embeddings: a text's from its words and a hash of
// it, an image's from its pixel statistics (mean colour, brightness,
// saturation, edge energy, luma histogram), projected into the same space,
// so "a red fox" aligns better with a red image than with a blue one.
//
// Faults are scoretest.Faults, set in Options and changed while it serves
// with SetFaults: down for a window (503 or connections reset, optionally
// only after some images were answered), 429 with Retry-After, a bearer
// token (401 without it), a per-image rejection (400), a per-request delay
// (for timeouts), malformed JSON and failing the next requests with 503.
// Options.MaxBatch answers 413 to larger requests.
//
// Entry points: New returns a Server, an http.Handler; Server.Start serves
// it on a loopback httptest server. A Server is safe for concurrent use. It
// imports nothing from package score, so a mistake shared by the client and
// the fake cannot hide.
package cliptest

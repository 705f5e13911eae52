// Package scoretest holds what tests need to fake a scoring service: Faults,
// the failures a fake injects (down for a window, rate limiting with
// Retry-After, a required token, per-image rejections, malformed answers,
// delays), an Injector that applies them to any handler, and Server, a fake
// of the generic HTTP scoring service score.HTTP posts to. The CLIP
// embeddings fake, score/cliptest, uses the same Faults.
//
// Faults can be changed while a fake serves (SetFaults), so a test can let a
// run start and then take the scorer down, and bring it back later.
//
// It imports nothing from package score, so a mistake shared by a scorer
// and its fake cannot hide. Everything here is safe for concurrent use.
package scoretest

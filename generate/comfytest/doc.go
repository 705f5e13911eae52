// Package comfytest is a simulated ComfyUI server for tests, `batch sim` and
// `batch demo`. It speaks the HTTP and WebSocket protocol described in
// comfyui-protocol.md (validation errors, queue, history, caching, websocket
// transcripts, uploads, /view) and produces real, deterministic PNG images whose
// sharpness varies with the inputs, so scorers have signal.
//
// It is not a ComfyUI: there is no model, the node catalogue is a small fixed
// set (CheckpointLoaderSimple, EmptyLatentImage, CLIPTextEncode, KSampler,
// KSamplerAdvanced, VAEDecode, VAEEncode, VAELoader, LoraLoader, SaveImage,
// PreviewImage, LoadImage and the V3-style ImageFlip), and durations are
// simulated with Options.TimeScale.
//
// Entry points: New returns a Server, which is an http.Handler; StartFleet,
// StartFleetEach and ListenFleet serve several servers on loopback ports
// (ListenFleet on consecutive ports, for `batch sim`). Server.SetFaults injects
// failures, Server.Restart simulates a process restart, and Server.Subscribe,
// Server.WaitIdle and Server.WaitHistory let tests wait for events without
// sleeping. Render draws the deterministic image for a hash; it is what the
// simulated VAEDecode uses.
//
// Behaviour follows the B (0.3.64) column of the protocol reference, with
// switches for the differences tests need: Options.StrictPromptID (newer
// servers' UUID check), Options.CacheNone (--cache-none),
// Options.SameSIDQuirk (a re-used clientId can silently lose its events),
// Options.MissingNodeType (newer servers' error for unknown classes).
// Not simulated: /upload/mask, the jobs API, ExecutionBlocked.
//
// Time: every simulated duration (sampler steps, other nodes, checkpoint
// loads, Options.HistoryDelay) is multiplied by Options.TimeScale and divided
// by Options.Speed. A txt2img prompt at 20 steps costs 20×StepTime plus 6
// node times, plus ModelLoad when the checkpoint changes. Faults.WSDropEvery
// is real time.
//
// A Server and a Fleet are safe for concurrent use. Each Server owns one worker
// goroutine (ComfyUI executes one prompt at a time) and two goroutines per
// websocket; Close waits for all of them.
//
// The package imports nothing from package generate on purpose: the client is
// checked against this simulator and the simulator against the recorded
// transcripts in testdata, so a mistake shared by both cannot pass unnoticed.
package comfytest

// Package comfytest is a simulated ComfyUI server for tests, `batch sim` and
// `batch demo`. It speaks the HTTP and WebSocket protocol described in
// comfyui-protocol.md (validation errors, queue, history, caching, websocket
// transcripts, uploads, /view) and produces real, deterministic PNG images whose
// sharpness varies with the inputs, so scorers have signal.
//
// It is not a ComfyUI: there is no model, the node catalogue is a small fixed
// set (CheckpointLoaderSimple, EmptyLatentImage, CLIPTextEncode, KSampler,
// KSamplerAdvanced, VAEDecode, VAEEncode, VAELoader, LoraLoader, SaveImage,
// PreviewImage, LoadImage, the V3-style ImageFlip, and the model-free
// EmptyImage and SeededNoiseImage that real servers were recorded with),
// and durations are simulated with Options.TimeScale.
//
// Entry points: New returns a Server, which is an http.Handler; StartFleet,
// StartFleetEach and ListenFleet serve several servers on loopback ports
// (ListenFleet on consecutive ports, for `batch sim`). Server.SetFaults injects
// failures, Server.Restart simulates a process restart, and Server.Subscribe,
// Server.WaitIdle and Server.WaitHistory let tests wait for events without
// sleeping. Render draws the deterministic image for a hash; it is what the
// simulated VAEDecode uses. EncodePNG writes an image as ComfyUI's SaveImage
// does (Pillow's row filters and compression), for benchmarks.
//
// Fidelity: testdata/transcripts holds recordings of real ComfyUI 0.3.64 and
// 0.8.0 servers, and TestReplayTranscripts replays every one of them against
// a Server behaving as that version (Options.Version, default the newer):
// status codes, JSON shapes and value kinds, WebSocket event order per
// prompt, error texts, history and the 0.8.0 jobs API. What the simulator
// does differently on purpose is listed in that test with the reason.
// Further switches: Options.StrictPromptID (newer servers' UUID check),
// Options.CacheNone (--cache-none), Options.SameSIDQuirk (a re-used clientId
// can silently lose its events), Options.MissingNodeType (newer servers'
// error for unknown classes), Options.PromptGap (the worker's pause between
// prompts) and Options.ReplyOrder (POST /prompt answering before or after
// the prompt's first events). Not simulated: /upload/mask, ExecutionBlocked,
// the jobs API's cancel routes (newer than 0.8.0).
//
// Time: every simulated duration (sampler steps, other nodes, checkpoint
// loads, Options.HistoryDelay) is multiplied by Options.TimeScale and divided
// by Options.Speed. A txt2img prompt at 20 steps costs 20×StepTime plus 6
// node times, plus ModelLoad when the checkpoint changes; a SeededNoiseImage
// step costs StepTime too. Options.PromptGap is scaled the same way. Faults.WSDropEvery
// is real time.
//
// A Server and a Fleet are safe for concurrent use. Each Server owns one worker
// goroutine (ComfyUI executes one prompt at a time) and two goroutines per
// websocket; Close waits for all of them.
//
// The package imports nothing from package generate on purpose: the client is
// checked against this simulator and the simulator against the recorded
// transcripts in testdata, so a mistake shared by both cannot pass unnoticed.
// See docs/comfyui.md for the versions verified and how.
package comfytest

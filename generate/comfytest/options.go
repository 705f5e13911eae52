package comfytest

import (
	"log/slog"
	"time"
)

// The ComfyUI versions a Server can behave as (Options.Version). Both were
// recorded (testdata/transcripts); docs/comfyui.md lists how they differ.
const (
	// Version0364 is ComfyUI 0.3.64 (October 2025): no jobs API, auth
	// tokens visible in /queue, system.os "posix", 42 samplers.
	Version0364 = "0.3.64"
	// Version080 is ComfyUI 0.8.0 (January 2026): the jobs API,
	// extra_data.create_time, tokens hidden from /queue, a nested
	// "extension" feature flag, system.os "linux", 44 samplers.
	Version080 = "0.8.0"
	// DefaultVersion is the version of the zero Options: the newest.
	DefaultVersion = Version080
)

// Versions returns the versions a Server can behave as, oldest first.
func Versions() []string { return []string{Version0364, Version080} }

// ReplyOrder says when POST /prompt answers relative to the prompt's first
// WebSocket events. Real servers do both (comfyui-protocol.md §0.1 item 6).
type ReplyOrder int

const (
	// ReplyAnyOrder answers as soon as the prompt is queued; the queue's
	// status broadcast and the worker's first events race with the answer.
	ReplyAnyOrder ReplyOrder = iota
	// ReplyBeforeEvents writes the 200 before the prompt's status
	// broadcast is queued to any socket and before the worker may take it.
	ReplyBeforeEvents
	// ReplyAfterEvents writes the 200 only after the worker has started
	// the prompt and its execution_start has gone out on the sockets.
	ReplyAfterEvents
)

// Options configures a Server. The zero value is usable: every zero field takes
// the default named in its comment.
type Options struct {
	// Version is the ComfyUI version to behave as: Version0364 or
	// Version080; "" means DefaultVersion. New refuses others.
	Version string
	// TimeScale multiplies every simulated duration; 0 means 1. Tests use ~0.001.
	TimeScale float64
	// StepTime is the time of one sampler step at Speed 1 (default 40ms).
	StepTime time.Duration
	// BatchCost is what each extra latent of a batch adds to a sampler
	// step, as a fraction of StepTime (default 0.4): as on a GPU, a batch
	// of 4 takes 2.2 times one image, not 4 times. Negative means 0.
	BatchCost float64
	// NodeTime is the time of every other executed node (default 5ms).
	NodeTime time.Duration
	// ModelLoad is the time to load a checkpoint other than the loaded one (default 1.5s).
	ModelLoad time.Duration
	// Speed is the relative speed of the instance; 0 means 1, 2 is twice as fast.
	Speed float64
	// HistoryDelay is the delay between the terminal event and the history write
	// (default 0), to expose clients that fetch history too early.
	HistoryDelay time.Duration
	// Checkpoints are the ckpt_name options. nil means DefaultCheckpoints();
	// a non-nil empty slice means none, like a model-free server.
	Checkpoints []string
	// CacheNone reproduces --cache-none: nothing is ever cached.
	CacheNone bool
	// StrictPromptID reproduces newer servers ("L"): a prompt_id that is not a
	// canonical lowercase UUID is answered 400 invalid_prompt_id.
	StrictPromptID bool
	// MissingNodeType reproduces newer servers ("L"): a node without a known
	// class_type is reported as missing_node_type with node_id, class_type and
	// node_title in extra_info, instead of B's invalid_prompt.
	MissingNodeType bool
	// SameSIDQuirk reproduces ComfyUI's same-sid replacement bug: when an old
	// socket with a re-used clientId closes, it unregisters the new one.
	SameSIDQuirk bool
	// PreviewMethod is --preview-method: "" or "none" sends no previews;
	// "auto", "latent2rgb" or "taesd" send a binary preview frame per sampler
	// step (type 4 to clients that sent supports_preview_metadata, else type
	// 1). A prompt's extra_data.preview_method overrides it, as in newer servers.
	PreviewMethod string
	// MaxUploadSize is --max-upload-size in bytes: the limit of every request
	// body (default 100 MB); larger bodies are answered 413.
	MaxUploadSize int64
	// OutputDir and InputDir are the output and input folders. Empty means a
	// temporary folder owned by the Server and removed by Close.
	OutputDir, InputDir string
	// Logger receives protocol chatter at Debug; nil discards.
	Logger *slog.Logger
	// PromptGap is a pause between the end of one prompt and the start of
	// the next (scaled like every simulated duration). Real workers pause
	// there for garbage collection, from about 2 ms to hundreds of
	// milliseconds (comfyui-protocol.md §0.1 item 7); 0 means none.
	PromptGap time.Duration
	// ReplyOrder orders POST /prompt's answer against the prompt's first
	// WebSocket events; the zero value lets them race, as real servers do.
	ReplyOrder ReplyOrder
	// RenderCache keeps this many rendered images (pixels and compressed
	// PNG data, about 0.6 MB each at 512²) so a prompt that renders the same
	// image again skips drawing and compressing it. 0 keeps none. Files,
	// names, metadata and timing are unchanged; only the simulator's own
	// CPU time is saved, which benchmarks of the client side use to keep the
	// simulator out of their measurement.
	RenderCache int
}

// Faults are failures a Server injects. Set them with Server.SetFaults at any
// time; decisions come from a PRNG seeded with Seed, so a run is repeatable.
type Faults struct {
	// HTTP500Rate is the fraction of HTTP requests answered 500 with a plain-text body.
	HTTP500Rate float64
	// WSDropEvery closes every websocket this often (real time, not scaled); 0 never.
	WSDropEvery time.Duration
	// Down simulates an unreachable box: every request is answered 503, every
	// socket is closed and refused, and the worker takes no new prompt until
	// Down is cleared (a prompt already running finishes). To simulate a box
	// that died and came back empty, set Down, then call Restart and clear Down.
	Down bool
	// ExecErrorRate is the fraction of prompts that fail with a RuntimeError execution_error.
	ExecErrorRate float64
	// OOMRate is the fraction of prompts that fail with torch.OutOfMemoryError.
	OOMRate float64
	// ViewTruncateRate is the fraction of GET /view answers cut short: a 200
	// carrying the first half of the file, with a Content-Length that
	// matches the cut body, so HTTP cannot tell.
	ViewTruncateRate float64
	// LostReplyRate is the fraction of POST /prompt requests whose answer
	// is lost: the server handles the request in full (the prompt is
	// queued) and the connection is then closed without a response, as
	// when a proxy times out or the network drops. A client that submits
	// again without looking first runs the prompt twice.
	LostReplyRate float64
	// AuthToken, when set, puts an authenticating proxy in front of the
	// server: every request (the WebSocket upgrade too) must carry
	// "Authorization: Bearer <AuthToken>". Without an Authorization header
	// it is answered 401, with another value 403 with a text body.
	AuthToken string
	// Seed seeds the fault PRNG.
	Seed int64
}

// Stats counts what a Server did since New (Restart does not reset it).
type Stats struct {
	Prompts     int           // prompts that reached a terminal event
	Succeeded   int           // prompts that ended in execution_success
	Errors      int           // prompts that ended in execution_error
	Interrupted int           // prompts that ended in execution_interrupted
	ModelLoads  int           // checkpoint loads that changed the loaded checkpoint
	Images      int           // image files written
	Busy        time.Duration // simulated busy time, after TimeScale and Speed
}

// DefaultCheckpoints returns the ckpt_name options used when Options.Checkpoints is empty.
func DefaultCheckpoints() []string {
	return []string{
		"sd_xl_base_1.0.safetensors",
		"sd_xl_refiner_1.0.safetensors",
		"v1-5-pruned-emaonly.safetensors",
		"dreamshaper_8.safetensors",
	}
}

func (o Options) withDefaults() Options {
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
	if o.BatchCost == 0 {
		o.BatchCost = 0.4
	} else if o.BatchCost < 0 {
		o.BatchCost = 0
	}
	if o.StepTime == 0 {
		o.StepTime = 40 * time.Millisecond
	}
	if o.NodeTime == 0 {
		o.NodeTime = 5 * time.Millisecond
	}
	if o.ModelLoad == 0 {
		o.ModelLoad = 1500 * time.Millisecond
	}
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Checkpoints == nil {
		o.Checkpoints = DefaultCheckpoints()
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.MaxUploadSize <= 0 {
		o.MaxUploadSize = 100 * 1024 * 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// scaled turns a simulated duration into wall time.
func (o Options) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * o.TimeScale / o.Speed)
}

package comfytest

import (
	"log/slog"
	"time"
)

// Options configures a Server. The zero value is usable: every zero field takes
// the default named in its comment.
type Options struct {
	// TimeScale multiplies every simulated duration; 0 means 1. Tests use ~0.001.
	TimeScale float64
	// StepTime is the time of one sampler step at Speed 1 (default 40ms).
	StepTime time.Duration
	// NodeTime is the time of every other executed node (default 5ms).
	NodeTime time.Duration
	// ModelLoad is the time to load a checkpoint other than the loaded one (default 1.5s).
	ModelLoad time.Duration
	// Speed is the relative speed of the instance; 0 means 1, 2 is twice as fast.
	Speed float64
	// HistoryDelay is the delay between the terminal event and the history write
	// (default 0), to expose clients that fetch history too early.
	HistoryDelay time.Duration
	// Checkpoints are the ckpt_name options (default a small realistic list that
	// includes "sd_xl_base_1.0.safetensors").
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
	if len(o.Checkpoints) == 0 {
		o.Checkpoints = DefaultCheckpoints()
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

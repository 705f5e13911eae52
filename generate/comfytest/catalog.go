package comfytest

import (
	"cmp"
	"slices"
)

// inputSpec is one declared input of a node class.
type inputSpec struct {
	name     string
	typ      string                   // INT, FLOAT, STRING, BOOLEAN, COMBO, or a link type such as MODEL
	combo    func(s *Server) []string // option list for COMBO inputs
	opts     map[string]any           // min, max, default, tooltip, ...
	optional bool
}

// nodeDef is one class of the node catalogue: what /object_info serves and
// what validation and execution use.
type nodeDef struct {
	name, display, category, description string
	inputs                               []inputSpec
	hidden                               [][2]string // name, type
	outputs                              []string
	outputNode                           bool
	v3                                   bool
	// pythonModule is object_info's python_module; "" means "nodes".
	pythonModule string
	// outputTooltips is object_info's output_tooltips, served only when set.
	outputTooltips []string
	// validateArgs are the inputs a custom validate function takes; min/max
	// and combo checks are skipped for them (comfyui-protocol.md §2.3).
	validateArgs []string
	validate     func(s *Server, vals map[string]any) (ok bool, msg string)
	run          runFunc
}

func (d *nodeDef) input(name string) (inputSpec, bool) {
	for _, in := range d.inputs {
		if in.name == name {
			return in, true
		}
	}
	return inputSpec{}, false
}

func fixed(opts ...string) func(*Server) []string {
	return func(*Server) []string { return opts }
}

func schedulers() []string {
	return []string{"simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
		"linear_quadratic", "kl_optimal"}
}

// catalogue returns the node classes of a Server, in /object_info order.
// Classes that real servers were recorded serving (KSampler, SaveImage,
// CheckpointLoaderSimple, EmptyImage, SeededNoiseImage) carry the recorded
// texts; the replay test compares them.
func catalogue(p profile) []*nodeDef {
	model := inputSpec{name: "model", typ: "MODEL", opts: map[string]any{"tooltip": "The model used for denoising the input latent."}}
	clip := inputSpec{name: "clip", typ: "CLIP", opts: map[string]any{"tooltip": "The CLIP model used for encoding the text."}}
	seedMax := uint64(18446744073709551615)
	samplerInputs := func(seedName string) []inputSpec {
		return []inputSpec{
			model,
			{name: seedName, typ: "INT", opts: map[string]any{"default": 0, "min": 0, "max": seedMax, "control_after_generate": true, "tooltip": "The random seed used for creating the noise."}},
			{name: "steps", typ: "INT", opts: map[string]any{"default": 20, "min": 1, "max": 10000, "tooltip": "The number of steps used in the denoising process."}},
			{name: "cfg", typ: "FLOAT", opts: map[string]any{"default": pyFloat(8), "min": pyFloat(0), "max": pyFloat(100), "step": pyFloat(0.1), "round": pyFloat(0.01),
				"tooltip": "The Classifier-Free Guidance scale balances creativity and adherence to the prompt. Higher values result in images more closely matching the prompt however too high values will negatively impact quality."}},
			{name: "sampler_name", typ: "COMBO", combo: fixed(p.samplers...), opts: map[string]any{"tooltip": "The algorithm used when sampling, this can affect the quality, speed, and style of the generated output."}},
			{name: "scheduler", typ: "COMBO", combo: fixed(schedulers()...), opts: map[string]any{"tooltip": "The scheduler controls how noise is gradually removed to form the image."}},
			{name: "positive", typ: "CONDITIONING", opts: map[string]any{"tooltip": "The conditioning describing the attributes you want to include in the image."}},
			{name: "negative", typ: "CONDITIONING", opts: map[string]any{"tooltip": "The conditioning describing the attributes you want to exclude from the image."}},
			{name: "latent_image", typ: "LATENT", opts: map[string]any{"tooltip": "The latent image to denoise."}},
		}
	}
	ks := samplerInputs("seed")
	ks = append(ks, inputSpec{name: "denoise", typ: "FLOAT", opts: map[string]any{"default": pyFloat(1), "min": pyFloat(0), "max": pyFloat(1), "step": pyFloat(0.01),
		"tooltip": "The amount of denoising applied, lower values will maintain the structure of the initial image allowing for image to image sampling."}})
	ksa := []inputSpec{
		model,
		{name: "add_noise", typ: "COMBO", combo: fixed("enable", "disable")},
	}
	ksa = append(ksa, samplerInputs("noise_seed")[1:]...)
	ksa = append(ksa,
		inputSpec{name: "start_at_step", typ: "INT", opts: map[string]any{"default": 0, "min": 0, "max": 10000}},
		inputSpec{name: "end_at_step", typ: "INT", opts: map[string]any{"default": 10000, "min": 0, "max": 10000}},
		inputSpec{name: "return_with_leftover_noise", typ: "COMBO", combo: fixed("disable", "enable")},
	)
	return []*nodeDef{
		{
			name: "KSampler", category: "sampling", outputs: []string{"LATENT"},
			description:    "Uses the provided model, positive and negative conditioning to denoise the latent image.",
			outputTooltips: []string{"The denoised latent."},
			inputs:         ks, run: runKSampler,
		},
		{
			name: "KSamplerAdvanced", display: "KSampler (Advanced)", category: "sampling", outputs: []string{"LATENT"},
			inputs: ksa, run: runKSampler,
		},
		{
			name: "CheckpointLoaderSimple", display: "Load Checkpoint", category: "loaders",
			description: "Loads a diffusion model checkpoint, diffusion models are used to denoise latents.",
			outputs:     []string{"MODEL", "CLIP", "VAE"},
			outputTooltips: []string{"The model used for denoising latents.", "The CLIP model used for encoding text prompts.",
				"The VAE model used for encoding and decoding images to and from latent space."},
			inputs: []inputSpec{{name: "ckpt_name", typ: "COMBO", opts: map[string]any{"tooltip": "The name of the checkpoint (model) to load."},
				combo: func(s *Server) []string { return s.opts.Checkpoints }}},
			run: runCheckpointLoader,
		},
		{
			name: "VAELoader", display: "Load VAE", category: "loaders", outputs: []string{"VAE"},
			inputs: []inputSpec{{name: "vae_name", typ: "COMBO", combo: fixed("sdxl_vae.safetensors", "vae-ft-mse-840000-ema-pruned.safetensors", "taesd", "taesdxl")}},
			run:    runVAELoader,
		},
		{
			name: "LoraLoader", display: "Load LoRA", category: "loaders", outputs: []string{"MODEL", "CLIP"},
			inputs: []inputSpec{
				model, clip,
				{name: "lora_name", typ: "COMBO", combo: fixed("add_detail.safetensors", "film_grain.safetensors", "pixel_art_xl.safetensors")},
				{name: "strength_model", typ: "FLOAT", opts: map[string]any{"default": pyFloat(1), "min": pyFloat(-100), "max": pyFloat(100), "step": pyFloat(0.01)}},
				{name: "strength_clip", typ: "FLOAT", opts: map[string]any{"default": pyFloat(1), "min": pyFloat(-100), "max": pyFloat(100), "step": pyFloat(0.01)}},
			},
			run: runLoraLoader,
		},
		{
			name: "CLIPTextEncode", display: "CLIP Text Encode (Prompt)", category: "conditioning", outputs: []string{"CONDITIONING"},
			inputs: []inputSpec{
				{name: "text", typ: "STRING", opts: map[string]any{"multiline": true, "dynamicPrompts": true, "tooltip": "The text to be encoded."}},
				clip,
			},
			run: runCLIPTextEncode,
		},
		{
			name: "EmptyLatentImage", display: "Empty Latent Image", category: "latent", outputs: []string{"LATENT"},
			inputs: []inputSpec{
				{name: "width", typ: "INT", opts: map[string]any{"default": 512, "min": 16, "max": 16384, "step": 8}},
				{name: "height", typ: "INT", opts: map[string]any{"default": 512, "min": 16, "max": 16384, "step": 8}},
				{name: "batch_size", typ: "INT", opts: map[string]any{"default": 1, "min": 1, "max": 4096}},
			},
			run: runEmptyLatent,
		},
		{
			name: "EmptyImage", category: "image", outputs: []string{"IMAGE"},
			inputs: []inputSpec{
				{name: "width", typ: "INT", opts: map[string]any{"default": 512, "min": 1, "max": 16384, "step": 1}},
				{name: "height", typ: "INT", opts: map[string]any{"default": 512, "min": 1, "max": 16384, "step": 1}},
				{name: "batch_size", typ: "INT", opts: map[string]any{"default": 1, "min": 1, "max": 4096}},
				{name: "color", typ: "INT", opts: map[string]any{"default": 0, "min": 0, "max": 16777215, "step": 1, "display": "color"}},
			},
			run: runEmptyImage,
		},
		{
			// The model-free custom node the real servers were recorded with
			// (testdata/transcripts/seeded_noise.py): a sampler stand-in.
			name: "SeededNoiseImage", display: "Seeded Noise Image (test)", category: "testing", outputs: []string{"IMAGE"},
			pythonModule: "custom_nodes.seeded_noise",
			inputs: []inputSpec{
				{name: "seed", typ: "INT", opts: map[string]any{"default": 0, "min": 0, "max": seedMax}},
				{name: "width", typ: "INT", opts: map[string]any{"default": 64, "min": 8, "max": 4096, "step": 8}},
				{name: "height", typ: "INT", opts: map[string]any{"default": 64, "min": 8, "max": 4096, "step": 8}},
				{name: "steps", typ: "INT", opts: map[string]any{"default": 4, "min": 1, "max": 1000}},
				{name: "sampler_name", typ: "COMBO", combo: fixed(p.samplers...)},
			},
			run: runSeededNoise,
		},
		{
			name: "VAEDecode", display: "VAE Decode", category: "latent", outputs: []string{"IMAGE"},
			inputs: []inputSpec{{name: "samples", typ: "LATENT"}, {name: "vae", typ: "VAE"}},
			run:    runVAEDecode,
		},
		{
			name: "VAEEncode", display: "VAE Encode", category: "latent", outputs: []string{"LATENT"},
			inputs: []inputSpec{{name: "pixels", typ: "IMAGE"}, {name: "vae", typ: "VAE"}},
			run:    runVAEEncode,
		},
		{
			name: "SaveImage", display: "Save Image", category: "image", outputNode: true,
			description: "Saves the input images to your ComfyUI output directory.",
			inputs: []inputSpec{
				{name: "images", typ: "IMAGE", opts: map[string]any{"tooltip": "The images to save."}},
				{name: "filename_prefix", typ: "STRING", opts: map[string]any{"default": "ComfyUI",
					"tooltip": "The prefix for the file to save. This may include formatting information such as %date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."}},
			},
			hidden: [][2]string{{"prompt", "PROMPT"}, {"extra_pnginfo", "EXTRA_PNGINFO"}},
			run:    runSaveImage,
		},
		{
			name: "PreviewImage", display: "Preview Image", category: "image", outputNode: true,
			description: "Saves the input images to your ComfyUI temp directory.",
			inputs:      []inputSpec{{name: "images", typ: "IMAGE"}},
			hidden:      [][2]string{{"prompt", "PROMPT"}, {"extra_pnginfo", "EXTRA_PNGINFO"}},
			run:         runPreviewImage,
		},
		{
			name: "LoadImage", display: "Load Image", category: "image", outputs: []string{"IMAGE", "MASK"},
			inputs: []inputSpec{{name: "image", typ: "COMBO", opts: map[string]any{"image_upload": true},
				combo: func(s *Server) []string { return s.inputFiles() }}},
			validateArgs: []string{"image"},
			validate:     validateLoadImage,
			run:          runLoadImage,
		},
		{
			name: "ImageFlip", display: "Image Flip", category: "image/transform", outputs: []string{"IMAGE"}, v3: true,
			pythonModule: "comfy_extras.nodes_images",
			inputs: []inputSpec{
				{name: "image", typ: "IMAGE"},
				{name: "flip_method", typ: "COMBO", combo: fixed("x-axis: vertically", "y-axis: horizontally")},
			},
			run: runImageFlip,
		},
	}
}

// objectInfo renders one class the way GET /object_info does (§7.1): V1
// entries carry combos as option lists, V3 entries as ["COMBO", {"options"}]
// and always carry every key.
func (s *Server) objectInfo(d *nodeDef) map[string]any {
	required, optional := map[string]any{}, map[string]any{}
	var reqOrder, optOrder []string
	for _, in := range d.inputs {
		opts := map[string]any{}
		for k, v := range in.opts {
			opts[k] = v
		}
		var spec []any
		switch {
		case in.typ == "COMBO" && d.v3:
			opts["options"] = in.combo(s)
			opts["multiselect"] = false
			spec = []any{"COMBO", opts}
		case in.typ == "COMBO":
			spec = []any{slices.Clone(in.combo(s))}
			if len(opts) > 0 {
				spec = append(spec, opts)
			}
		default:
			spec = []any{in.typ}
			if len(opts) > 0 || d.v3 {
				spec = append(spec, opts)
			}
		}
		if in.optional {
			optional[in.name] = spec
			optOrder = append(optOrder, in.name)
		} else {
			required[in.name] = spec
			reqOrder = append(reqOrder, in.name)
		}
	}
	input := map[string]any{"required": required}
	order := map[string]any{"required": nonNil(reqOrder)}
	if len(optional) > 0 {
		input["optional"] = optional
		order["optional"] = optOrder
	}
	if len(d.hidden) > 0 {
		hidden := map[string]any{}
		var names []string
		for _, h := range d.hidden {
			if d.v3 {
				hidden[h[0]] = []string{h[1]}
			} else {
				hidden[h[0]] = h[1]
			}
			names = append(names, h[0])
		}
		input["hidden"] = hidden
		order["hidden"] = names
	}
	display := d.display
	if display == "" {
		display = d.name
	}
	outs := nonNil(d.outputs)
	info := map[string]any{
		"input":          input,
		"input_order":    order,
		"output":         outs,
		"output_is_list": make([]bool, len(outs)),
		"output_name":    outs,
		"name":           d.name,
		"display_name":   display,
		"description":    d.description,
		"python_module":  cmp.Or(d.pythonModule, "nodes"),
		"category":       d.category,
		"output_node":    d.outputNode,
	}
	if d.outputTooltips != nil {
		info["output_tooltips"] = d.outputTooltips
	}
	if d.v3 {
		info["output_tooltips"] = make([]any, len(outs))
		info["deprecated"] = false
		info["experimental"] = false
		info["api_node"] = false
	}
	return info
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

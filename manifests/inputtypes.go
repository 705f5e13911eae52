package manifests

// An input's type comes from what its node declares, not from how the
// workflow file happens to spell its value: ComfyUI's frontend writes an
// integral float as a JSON integer, so its default workflow has "cfg": 8
// and "denoise": 1, and a sweep of cfg: [5.5, 7.5] must still be a sweep
// of numbers. Online, ValidateOnline checks every value against the
// /object_info declaration of each instance. Offline there is no
// declaration to read, so coreInputs holds the declared type of the
// numeric, text and boolean inputs of ComfyUI's own nodes (nodes.py and
// comfy_extras, as served by /object_info); an input it does not list
// takes its type from its literal, where a JSON integer accepts any number
// (kindNumber), since the node may declare FLOAT.

// Declared input types, as /object_info names them.
const (
	typeInt     = "INT"
	typeFloat   = "FLOAT"
	typeString  = "STRING"
	typeBoolean = "BOOLEAN"
)

// coreInputs maps a core node class to the declared type of its literal
// inputs. Combo inputs (sampler_name, ckpt_name, ...) are not listed:
// their literal is a string either way.
var coreInputs = map[string]map[string]string{
	// Sampling.
	"KSampler": {"seed": typeInt, "steps": typeInt, "cfg": typeFloat, "denoise": typeFloat},
	"KSamplerAdvanced": {"noise_seed": typeInt, "steps": typeInt, "cfg": typeFloat,
		"start_at_step": typeInt, "end_at_step": typeInt},
	"SamplerCustom":  {"add_noise": typeBoolean, "noise_seed": typeInt, "cfg": typeFloat},
	"RandomNoise":    {"noise_seed": typeInt},
	"CFGGuider":      {"cfg": typeFloat},
	"DualCFGGuider":  {"cfg_conds": typeFloat, "cfg_cond2_negative": typeFloat},
	"PerpNegGuider":  {"cfg": typeFloat, "neg_scale": typeFloat},
	"BasicScheduler": {"steps": typeInt, "denoise": typeFloat},
	"KarrasScheduler": {"steps": typeInt, "sigma_max": typeFloat, "sigma_min": typeFloat,
		"rho": typeFloat},
	"ExponentialScheduler": {"steps": typeInt, "sigma_max": typeFloat, "sigma_min": typeFloat},
	"PolyexponentialScheduler": {"steps": typeInt, "sigma_max": typeFloat, "sigma_min": typeFloat,
		"rho": typeFloat},
	"SDTurboScheduler":        {"steps": typeInt, "denoise": typeFloat},
	"AlignYourStepsScheduler": {"steps": typeInt, "denoise": typeFloat},
	"BetaSamplingScheduler":   {"steps": typeInt, "alpha": typeFloat, "beta": typeFloat},
	"FluxGuidance":            {"guidance": typeFloat},
	"ModelSamplingSD3":        {"shift": typeFloat},
	"ModelSamplingAuraFlow":   {"shift": typeFloat},
	"ModelSamplingFlux": {"max_shift": typeFloat, "base_shift": typeFloat, "width": typeInt,
		"height": typeInt},
	"RescaleCFG":            {"multiplier": typeFloat},
	"SelfAttentionGuidance": {"scale": typeFloat, "blur_sigma": typeFloat},
	"FreeU":                 {"b1": typeFloat, "b2": typeFloat, "s1": typeFloat, "s2": typeFloat},
	"FreeU_V2":              {"b1": typeFloat, "b2": typeFloat, "s1": typeFloat, "s2": typeFloat},
	"PatchModelAddDownscale": {"block_number": typeInt, "downscale_factor": typeFloat,
		"start_percent": typeFloat, "end_percent": typeFloat, "downscale_after_skip": typeBoolean},

	// Loaders and their strengths.
	"LoraLoader":          {"strength_model": typeFloat, "strength_clip": typeFloat},
	"LoraLoaderModelOnly": {"strength_model": typeFloat},
	"CLIPSetLastLayer":    {"stop_at_clip_layer": typeInt},

	// Conditioning.
	"CLIPTextEncode": {"text": typeString},
	"CLIPTextEncodeSDXL": {"width": typeInt, "height": typeInt, "crop_w": typeInt, "crop_h": typeInt,
		"target_width": typeInt, "target_height": typeInt, "text_g": typeString, "text_l": typeString},
	"CLIPTextEncodeSDXLRefiner": {"ascore": typeFloat, "width": typeInt, "height": typeInt,
		"text": typeString},
	"CLIPTextEncodeFlux":  {"clip_l": typeString, "t5xxl": typeString, "guidance": typeFloat},
	"ConditioningAverage": {"conditioning_to_strength": typeFloat},
	"ConditioningSetArea": {"width": typeInt, "height": typeInt, "x": typeInt, "y": typeInt,
		"strength": typeFloat},
	"ConditioningSetAreaPercentage": {"width": typeFloat, "height": typeFloat, "x": typeFloat,
		"y": typeFloat, "strength": typeFloat},
	"ConditioningSetAreaStrength":  {"strength": typeFloat},
	"ConditioningSetMask":          {"strength": typeFloat},
	"ConditioningSetTimestepRange": {"start": typeFloat, "end": typeFloat},
	"ControlNetApply":              {"strength": typeFloat},
	"ControlNetApplyAdvanced": {"strength": typeFloat, "start_percent": typeFloat,
		"end_percent": typeFloat},
	"unCLIPConditioning": {"strength": typeFloat, "noise_augmentation": typeFloat},
	"GLIGENTextBoxApply": {"text": typeString, "width": typeInt, "height": typeInt, "x": typeInt,
		"y": typeInt},

	// Latents.
	"EmptyLatentImage":    {"width": typeInt, "height": typeInt, "batch_size": typeInt},
	"EmptySD3LatentImage": {"width": typeInt, "height": typeInt, "batch_size": typeInt},
	"LatentUpscale":       {"width": typeInt, "height": typeInt},
	"LatentUpscaleBy":     {"scale_by": typeFloat},
	"LatentFromBatch":     {"batch_index": typeInt, "length": typeInt},
	"RepeatLatentBatch":   {"amount": typeInt},
	"LatentComposite":     {"x": typeInt, "y": typeInt, "feather": typeInt},
	"LatentBlend":         {"blend_factor": typeFloat},
	"LatentCrop":          {"width": typeInt, "height": typeInt, "x": typeInt, "y": typeInt},
	"VAEDecodeTiled": {"tile_size": typeInt, "overlap": typeInt, "temporal_size": typeInt,
		"temporal_overlap": typeInt},
	"VAEEncodeTiled":      {"tile_size": typeInt, "overlap": typeInt},
	"VAEEncodeForInpaint": {"grow_mask_by": typeInt},

	// Images.
	"SaveImage":               {"filename_prefix": typeString},
	"ImageScale":              {"width": typeInt, "height": typeInt},
	"ImageScaleBy":            {"scale_by": typeFloat},
	"ImageScaleToTotalPixels": {"megapixels": typeFloat},
	"ImagePadForOutpaint": {"left": typeInt, "top": typeInt, "right": typeInt, "bottom": typeInt,
		"feathering": typeInt},
	"EmptyImage":   {"width": typeInt, "height": typeInt, "batch_size": typeInt, "color": typeInt},
	"ImageBlur":    {"blur_radius": typeInt, "sigma": typeFloat},
	"ImageSharpen": {"sharpen_radius": typeInt, "sigma": typeFloat, "alpha": typeFloat},
}

// declaredKind returns the kind of value the core node class declares for
// input, and false when the table does not know the class or the input.
func declaredKind(class, input string) (kind, bool) {
	switch coreInputs[class][input] {
	case typeInt:
		return kindInt, true
	case typeFloat:
		return kindFloat, true
	case typeString:
		return kindString, true
	case typeBoolean:
		return kindBool, true
	}
	return kindOther, false
}

// inputKind is the kind of value a literal input of node n takes: what
// its class declares when coreInputs knows it, else what its literal is,
// where an integer literal accepts any number. Links and values comfybatch
// cannot set keep their literal kind, so they are still refused.
func inputKind(n *node, input string) kind {
	lit := literalKind(n.inputs[input])
	switch lit {
	case kindLink, kindOther:
		return lit
	}
	if k, ok := declaredKind(n.class, input); ok {
		return k
	}
	if lit == kindInt {
		return kindNumber
	}
	return lit
}

package comfytest

import (
	_ "embed"
	"slices"
)

//go:embed testdata/txt2img_api.json
var txt2imgAPI []byte

// Txt2ImgWorkflow returns the standard txt2img API-format graph the demo and
// the tests use: "4" CheckpointLoaderSimple (sd_xl_base_1.0.safetensors), "5"
// EmptyLatentImage 512×512, "6"/"7" CLIPTextEncode titled Positive/Negative,
// "3" KSampler (20 steps, cfg 7, euler, normal), "8" VAEDecode, "9" SaveImage
// with filename_prefix "ComfyUI". The caller owns the returned bytes.
func Txt2ImgWorkflow() []byte { return slices.Clone(txt2imgAPI) }

package comfytest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"os"
	"strconv"
	"time"

	"github.com/disintegration/imaging"
)

// runFunc executes one node with its inputs resolved (links replaced by the
// upstream values) and returns its outputs and its UI dict (nil for none).
type runFunc func(r *run, id string, in map[string]any) ([]any, map[string]any, error)

// Values that flow between simulated nodes.
type (
	modelVal  struct{ id string }
	clipVal   struct{ id string }
	vaeVal    struct{ id string }
	condVal   struct{ text, clip string }
	maskVal   struct{}
	latentVal struct {
		w, h, batch int
		sig         string // what the latent was made from; "" for an empty latent
		steps       int
	}
	imageVal struct {
		imgs []*image.NRGBA
		sig  string
	}
)

func intIn(in map[string]any, name string) int {
	n, _ := in[name].(json.Number)
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0
	}
	return int(i)
}

func strIn(in map[string]any, name string) string {
	s, _ := in[name].(string)
	return s
}

func runCheckpointLoader(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	ckpt := strIn(in, "ckpt_name")
	s := r.s
	s.mu.Lock()
	load := s.loadedCkpt != ckpt
	if load && s.gen == r.gen {
		s.loadedCkpt = ckpt
		s.stats.ModelLoads++
	}
	s.mu.Unlock()
	d := s.opts.NodeTime
	if load {
		d = s.opts.ModelLoad
	}
	if err := r.sleep(d); err != nil {
		return nil, nil, err
	}
	return []any{modelVal{ckpt}, clipVal{ckpt}, vaeVal{ckpt}}, nil, nil
}

func runVAELoader(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	return []any{vaeVal{strIn(in, "vae_name")}}, nil, nil
}

func runLoraLoader(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	m, _ := in["model"].(modelVal)
	c, _ := in["clip"].(clipVal)
	tag := fmt.Sprintf("+%s:%v:%v", strIn(in, "lora_name"), in["strength_model"], in["strength_clip"])
	return []any{modelVal{m.id + tag}, clipVal{c.id + tag}}, nil, nil
}

func runCLIPTextEncode(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	c, _ := in["clip"].(clipVal)
	return []any{condVal{text: strIn(in, "text"), clip: c.id}}, nil, nil
}

func runEmptyLatent(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	return []any{latentVal{w: intIn(in, "width"), h: intIn(in, "height"), batch: max(1, intIn(in, "batch_size"))}}, nil, nil
}

// runKSampler serves KSampler and KSamplerAdvanced: steps × StepTime, a
// progress message per step, the interrupt checked per step.
func runKSampler(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	steps := intIn(in, "steps")
	lat, _ := in["latent_image"].(latentVal)
	m, _ := in["model"].(modelVal)
	pos, _ := in["positive"].(condVal)
	neg, _ := in["negative"].(condVal)
	seed := in["seed"]
	if seed == nil {
		seed = in["noise_seed"]
	}
	h := sha256.New()
	fmt.Fprintf(h, "model=%s\x00pos=%s\x00neg=%s\x00seed=%v\x00steps=%d\x00cfg=%v\x00sampler=%s\x00scheduler=%s\x00denoise=%v\x00latent=%dx%d:%s",
		m.id, pos.text, neg.text, seed, steps, in["cfg"], strIn(in, "sampler_name"), strIn(in, "scheduler"), in["denoise"], lat.w, lat.h, lat.sig)
	var preview func(k int) []byte
	if r.previewsOn() {
		preview = func(k int) []byte {
			key := sha256.Sum256(fmt.Appendf(nil, "preview|%s|%v|%d", pos.text, seed, k))
			png, _ := EncodePNG(Render(key, 64, 64, k, false), nil)
			return png
		}
	}
	if err := r.sample(id, steps, max(lat.batch, 1), preview); err != nil {
		return nil, nil, err
	}
	out := lat
	out.sig = hex.EncodeToString(h.Sum(nil))
	out.steps = steps
	return []any{out}, nil, nil
}

// sample spends steps × StepTime (more for a batch, see
// Options.BatchCost) in node id and reports every step as a
// comfy.utils.ProgressBar does: progress_state with integer value and max,
// [a type 4 preview,] progress, [a type 1 preview]. The interrupt is
// checked at every step.
func (r *run) sample(id string, steps, batch int, preview func(k int) []byte) error {
	// A batch shares each step: every extra latent adds BatchCost of it.
	step := time.Duration(float64(r.s.opts.StepTime) * (1 + r.s.opts.BatchCost*float64(batch-1)))
	for k := 1; k <= steps; k++ {
		if err := r.sleep(step); err != nil {
			return err
		}
		if !r.progressState(id, "running", json.Number(strconv.Itoa(k)), json.Number(strconv.Itoa(steps))) {
			return errAbandoned
		}
		var png []byte
		if preview != nil {
			png = preview(k)
			r.preview(id, png, true) // type 4 goes before progress (§4.4 A)
		}
		if !r.emit("progress", map[string]any{"value": k, "max": steps, "prompt_id": r.t.id, "node": id}, r.progressTarget()) {
			return errAbandoned
		}
		if preview != nil {
			r.preview(id, png, false) // type 1 after it
		}
	}
	return nil
}

// runEmptyImage is EmptyImage: batch_size images of one colour (0xRRGGBB).
func runEmptyImage(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	w, h, color := max(1, intIn(in, "width")), max(1, intIn(in, "height")), intIn(in, "color")
	out := imageVal{sig: fmt.Sprintf("empty:%dx%d:%06x", w, h, color)}
	for range max(1, intIn(in, "batch_size")) {
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		px := [4]byte{byte(color >> 16), byte(color >> 8), byte(color), 255}
		for i := 0; i < len(img.Pix); i += 4 {
			copy(img.Pix[i:i+4], px[:])
		}
		out.imgs = append(out.imgs, img)
	}
	return []any{out}, nil, nil
}

// magicFailSeed is the seed on which SeededNoiseImage raises, as the
// recorded custom node does (testdata/transcripts/seeded_noise.py).
const magicFailSeed = "666"

// runSeededNoiseImage is the recorded SeededNoiseImage custom node: a
// model-free sampler stand-in that reports steps × StepTime of progress,
// raises a RuntimeError after its steps on seed 666, and returns one
// image drawn from seed, sampler and size.
func runSeededNoise(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	steps := max(1, intIn(in, "steps"))
	if err := r.sample(id, steps, 1, nil); err != nil {
		return nil, nil, err
	}
	seed, _ := in["seed"].(json.Number)
	if string(seed) == magicFailSeed {
		return nil, nil, &execError{typ: "RuntimeError", msg: "SeededNoiseImage: magic failure seed " + magicFailSeed, traceback: []string{
			"  File \"/srv/ComfyUI/execution.py\", line 496, in execute\n",
			"  File \"/srv/ComfyUI/execution.py\", line 315, in get_output_data\n",
			"  File \"/srv/ComfyUI/execution.py\", line 289, in _async_map_node_over_list\n",
			"  File \"/srv/ComfyUI/execution.py\", line 277, in process_inputs\n",
			"  File \"/srv/ComfyUI/custom_nodes/seeded_noise.py\", line 47, in generate\n",
		}}
	}
	w, h := max(8, intIn(in, "width")), max(8, intIn(in, "height"))
	key := sha256.Sum256(fmt.Appendf(nil, "seeded-noise|%s|%s|%dx%d", seed, strIn(in, "sampler_name"), w, h))
	img := r.s.renders.render(key, w, h, steps, false)
	return []any{imageVal{imgs: []*image.NRGBA{img}, sig: hex.EncodeToString(key[:])}}, nil, nil
}

// previewsOn reports whether this prompt gets preview frames.
func (r *run) previewsOn() bool {
	m := r.s.opts.PreviewMethod
	if pm, ok := r.t.extra["preview_method"].(string); ok && pm != "default" {
		m = pm
	}
	return m != "" && m != "none"
}

// preview sends the frames of one step: metadata frames (type 4) to sockets
// that negotiated them when withMeta, plain ones (type 1) otherwise.
func (r *run) preview(node string, png []byte, withMeta bool) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != r.gen {
		return
	}
	s.sendPreviewLocked(r.t.clientID, func(meta bool) []byte {
		if meta != withMeta {
			return nil
		}
		if !meta {
			b := binary.BigEndian.AppendUint32(nil, 1)
			b = binary.BigEndian.AppendUint32(b, 2) // 2 = PNG
			return append(b, png...)
		}
		j, _ := json.Marshal(map[string]any{"node_id": node, "prompt_id": r.t.id, "display_node_id": node,
			"parent_node_id": nil, "real_node_id": node, "image_type": "image/png"})
		b := binary.BigEndian.AppendUint32(nil, 4)
		b = binary.BigEndian.AppendUint32(b, uint32(len(j)))
		return append(append(b, j...), png...)
	})
}

func runVAEDecode(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	lat, _ := in["samples"].(latentVal)
	v, _ := in["vae"].(vaeVal)
	w, h := max(lat.w, 16), max(lat.h, 16)
	out := imageVal{sig: lat.sig + "|vae=" + v.id}
	for i := range max(lat.batch, 1) {
		key := sha256.Sum256([]byte(fmt.Sprintf("%s|%d", out.sig, i)))
		out.imgs = append(out.imgs, r.s.renders.render(key, w, h, max(lat.steps, 1), lat.sig == ""))
	}
	return []any{out}, nil, nil
}

func runVAEEncode(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	img, _ := in["pixels"].(imageVal)
	lat := latentVal{w: 512, h: 512, batch: max(len(img.imgs), 1), sig: "pixels:" + img.sig}
	if len(img.imgs) > 0 {
		b := img.imgs[0].Bounds()
		lat.w, lat.h = b.Dx(), b.Dy()
	}
	return []any{lat}, nil, nil
}

func runLoadImage(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	name := strIn(in, "image")
	path, ok := r.s.annotatedPath(name, "input")
	if !ok {
		return nil, nil, &execError{typ: "FileNotFoundError", msg: "[Errno 2] No such file or directory: '" + name + "'"}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &execError{typ: "FileNotFoundError", msg: "[Errno 2] No such file or directory: '" + name + "'"}
	}
	sum := sha256.Sum256(b)
	img, err := imaging.Decode(bytesReader(b))
	if err != nil {
		return nil, nil, &execError{typ: "PIL.UnidentifiedImageError", msg: "cannot identify image file '" + path + "'"}
	}
	nrgba := image.NewNRGBA(img.Bounds())
	draw.Draw(nrgba, nrgba.Bounds(), img, img.Bounds().Min, draw.Src)
	return []any{imageVal{imgs: []*image.NRGBA{nrgba}, sig: hex.EncodeToString(sum[:])}, maskVal{}}, nil, nil
}

func validateLoadImage(s *Server, vals map[string]any) (bool, string) {
	name, _ := vals["image"].(string)
	if _, ok := s.annotatedPath(name, "input"); !ok {
		return false, "Invalid image file: " + name
	}
	return true, ""
}

func runImageFlip(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	img, _ := in["image"].(imageVal)
	method := strIn(in, "flip_method")
	out := imageVal{sig: img.sig + "|flip=" + method}
	for _, m := range img.imgs {
		if method == "x-axis: vertically" {
			out.imgs = append(out.imgs, imaging.FlipV(m))
		} else {
			out.imgs = append(out.imgs, imaging.FlipH(m))
		}
	}
	return []any{out}, nil, nil
}

func runSaveImage(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	return r.saveImages(in, "output", strIn(in, "filename_prefix"))
}

func runPreviewImage(r *run, id string, in map[string]any) ([]any, map[string]any, error) {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var suffix [5]byte
	r.s.mu.Lock()
	for i := range suffix {
		suffix[i] = letters[r.s.rng.IntN(len(letters))]
	}
	r.s.mu.Unlock()
	return r.saveImages(in, "temp", "ComfyUI_temp_"+string(suffix[:]))
}

func (r *run) saveImages(in map[string]any, typ, prefix string) ([]any, map[string]any, error) {
	if err := r.sleep(r.s.opts.NodeTime); err != nil {
		return nil, nil, err
	}
	img, _ := in["images"].(imageVal)
	if prefix == "" {
		prefix = "ComfyUI"
	}
	promptJSON, _ := json.Marshal(r.t.promptJSON())
	chunks := [][2]string{{"prompt", string(promptJSON)}}
	if pnginfo, ok := r.t.extra["extra_pnginfo"].(map[string]any); ok {
		for k, v := range pnginfo {
			b, _ := json.Marshal(v)
			chunks = append(chunks, [2]string{k, string(b)})
		}
	}
	files, err := r.s.writeImages(typ, prefix, img.imgs, chunks)
	if err != nil {
		return nil, nil, err
	}
	r.s.mu.Lock()
	r.s.stats.Images += len(files)
	r.s.mu.Unlock()
	return []any{}, map[string]any{"images": files}, nil
}

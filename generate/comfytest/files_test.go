package comfytest

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func upload(t *testing.T, base, name string, content []byte, fields map[string]string) httpResult {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("image", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.Close()
	req := buf.Bytes()
	return doMultipart(t, base+"/upload/image", mw.FormDataContentType(), req)
}

func doMultipart(t *testing.T, url, ctype string, body []byte) httpResult {
	t.Helper()
	r, err := httpPost(t, url, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUploadDedupeNaming(t *testing.T) {
	sim, base := newSim(t, Options{})
	a, b, c := []byte("content A"), []byte("content B"), []byte("content C")
	for i, tc := range []struct {
		content []byte
		fields  map[string]string
		want    string
	}{
		{a, nil, "x.png"},
		{a, nil, "x.png"}, // same hash: reused, nothing written
		{b, nil, "x (1).png"},
		{b, nil, "x (1).png"}, // dedupe against the suffixed copy
		{c, nil, "x (2).png"},
		{c, map[string]string{"overwrite": "true"}, "x.png"},
	} {
		r := upload(t, base, "x.png", tc.content, tc.fields)
		got := r.json(t).(map[string]any)
		if r.status != 200 || got["name"] != tc.want || got["type"] != "input" || got["subfolder"] != "" {
			t.Errorf("upload %d = %d %v, want name %q", i, r.status, got, tc.want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(sim.InputDir(), "x.png")); !bytes.Equal(got, c) {
		t.Errorf("overwrite did not replace x.png: %q", got)
	}
	r := upload(t, base, "y.png", a, map[string]string{"subfolder": "sub", "type": "temp"})
	if got := r.json(t).(map[string]any); got["name"] != "y.png" || got["subfolder"] != "sub" || got["type"] != "temp" {
		t.Errorf("upload to temp/sub = %v", got)
	}
	if r := upload(t, base, "z.png", a, map[string]string{"subfolder": "../../etc"}); r.status != 400 {
		t.Errorf("escaping subfolder = %d, want 400", r.status)
	}
	if r := upload(t, base, "z.png", a, map[string]string{"type": "bogus"}); r.status != 500 {
		t.Errorf("unknown type = %d, want 500", r.status)
	}
}

func TestLoadImageUsesUpload(t *testing.T) {
	sim, base := newSim(t, Options{})
	var buf bytes.Buffer
	png.Encode(&buf, Render(sha256.Sum256([]byte("src")), 64, 64, 20, false))
	name := upload(t, base, "src.png", buf.Bytes(), nil).json(t).(map[string]any)["name"].(string)
	g := txt2img(t)
	setPath(g, "10", map[string]any{"class_type": "LoadImage", "inputs": map[string]any{"image": name + " [input]"}}, false)
	setPath(g, "11", map[string]any{"class_type": "VAEEncode", "inputs": map[string]any{"pixels": []any{"10", 0}, "vae": []any{"4", 2}}}, false)
	setPath(g, "3.inputs.latent_image", []any{"11", 0}, false)
	setPath(g, "3.inputs.steps", 1, false)
	id, r := submit(t, base, g, "")
	if r.status != 200 || len(r.json(t).(map[string]any)["node_errors"].(map[string]any)) != 0 {
		t.Fatalf("img2img prompt = %d %s", r.status, r.body)
	}
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(sim.OutputDir(), "ComfyUI_00001_.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 64 || cfg.Height != 64 {
		t.Errorf("img2img output %dx%d (%v), want the 64x64 size of the input", cfg.Width, cfg.Height, err)
	}
}

func TestOutputNaming(t *testing.T) {
	sim, base := newSim(t, Options{})
	os.WriteFile(filepath.Join(sim.OutputDir(), "ComfyUI_00041_.png"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(sim.OutputDir(), "ComfyUIx_00090_.png"), []byte("x"), 0o644) // another prefix
	run := func(g map[string]any) map[string]any {
		t.Helper()
		id, r := submit(t, base, g, "")
		if r.status != 200 {
			t.Fatalf("POST /prompt = %d %s", r.status, r.body)
		}
		if err := sim.WaitHistory(deadline(t), id); err != nil {
			t.Fatal(err)
		}
		return do(t, "GET", base+"/history/"+id, nil).json(t).(map[string]any)[id].(map[string]any)["outputs"].(map[string]any)
	}
	images := func(out map[string]any, node string) []string {
		var names []string
		for _, im := range out[node].(map[string]any)["images"].([]any) {
			m := im.(map[string]any)
			names = append(names, fmt.Sprintf("%s|%s|%s", m["type"], m["subfolder"], m["filename"]))
		}
		return names
	}
	g := withSteps(t, 1, 1)
	setPath(g, "5.inputs.batch_size", 2, false)
	if got := images(run(g), "9"); fmt.Sprint(got) != "[output||ComfyUI_00042_.png output||ComfyUI_00043_.png]" {
		t.Errorf("batch after _00041_ = %v", got)
	}
	g = withSteps(t, 1, 2)
	setPath(g, "9.inputs.filename_prefix", "runs/a/img_%width%", false)
	if got := images(run(g), "9"); fmt.Sprint(got) != "[output|runs/a|img_64_00001_.png]" {
		t.Errorf("prefix with folder = %v", got)
	}
	if _, err := os.Stat(filepath.Join(sim.OutputDir(), "runs", "a", "img_64_00001_.png")); err != nil {
		t.Error(err)
	}
	g = withSteps(t, 1, 3)
	setPath(g, "9.class_type", "PreviewImage", false)
	setPath(g, "9.inputs", map[string]any{"images": []any{"8", 0}}, false)
	got := images(run(g), "9")
	if len(got) != 1 || !regexp.MustCompile(`^temp\|\|ComfyUI_temp_[a-z]{5}_00001_\.png$`).MatchString(got[0]) {
		t.Errorf("PreviewImage = %v", got)
	}
}

func TestView(t *testing.T) {
	sim, base := newSim(t, Options{})
	id, _ := submit(t, base, withSteps(t, 1, 1), "")
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(sim.OutputDir(), "sub"), 0o755)
	os.WriteFile(filepath.Join(sim.OutputDir(), "sub", "s.png"), []byte("sub"), 0o644)
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 404},
		{"?filename=", 400},
		{"?filename=../x.png", 400},
		{"?filename=/etc/passwd", 400},
		{"?filename=ComfyUI_00001_.png&type=bogus", 400},
		{"?filename=ComfyUI_00001_.png&subfolder=../..", 403},
		{"?filename=missing.png", 404},
		{"?filename=ComfyUI_00001_.png&type=input", 404},
		{"?filename=ComfyUI_00001_.png%20[output]&type=input", 200},
		{"?filename=s.png&subfolder=sub", 200},
	} {
		if r := do(t, "GET", base+"/view"+tc.query, nil); r.status != tc.want {
			t.Errorf("GET /view%s = %d, want %d", tc.query, r.status, tc.want)
		}
	}
	r := do(t, "GET", base+"/api/view?filename=ComfyUI_00001_.png&type=output&subfolder=", nil)
	if r.header.Get("Content-Type") != "image/png" || r.header.Get("Content-Disposition") != `filename="ComfyUI_00001_.png"` {
		t.Errorf("headers = %v", r.header)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil || img.Bounds().Dx() != 64 {
		t.Fatalf("decode served PNG: %v", err)
	}
	if chunk := pngText(r.body, "prompt"); !bytes.Contains([]byte(chunk), []byte(`"KSampler"`)) {
		t.Errorf("prompt text chunk = %.80q, want the API prompt", chunk)
	}
}

// pngText returns the text of the tEXt chunk with keyword key.
func pngText(b []byte, key string) string {
	for i := 8; i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if i+12+n > len(b) {
			break
		}
		data := b[i+8 : i+8+n]
		if typ == "tEXt" && bytes.HasPrefix(data, []byte(key+"\x00")) {
			return string(data[len(key)+1:])
		}
		i += 12 + n
	}
	return ""
}

// outputOf runs the 2-step txt2img workflow with seed on instance i of f
// and returns the bytes of its saved image.
func outputOf(t *testing.T, f *Fleet, i int, seed int) []byte {
	t.Helper()
	u := f.URLs()[i]
	id, _ := submit(t, u, withSteps(t, 2, seed), "")
	if err := f.Servers()[i].WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	h := do(t, "GET", u+"/history/"+id, nil).json(t).(map[string]any)[id].(map[string]any)
	name := h["outputs"].(map[string]any)["9"].(map[string]any)["images"].([]any)[0].(map[string]any)["filename"].(string)
	return do(t, "GET", u+"/view?filename="+name, nil).body
}

func TestImagesAreDeterministic(t *testing.T) {
	f, err := StartFleet(2, Options{TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := func(i int, seed int) []byte { return outputOf(t, f, i, seed) }
	a0, a1 := out(0, 5), out(1, 5)
	if !bytes.Equal(a0, a1) {
		t.Error("same inputs on two servers gave different bytes")
	}
	if b := out(0, 6); bytes.Equal(a0, b) {
		t.Error("different seeds gave the same bytes")
	}
}

// laplacianVar is the variance of the 4-neighbour Laplacian of the grey image.
func laplacianVar(img *image.NRGBA) float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	grey := make([]float64, w*h)
	for i := range grey {
		p := img.Pix[i*4:]
		grey[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	}
	var sum, sq float64
	n := 0
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			l := 4*grey[y*w+x] - grey[y*w+x-1] - grey[y*w+x+1] - grey[(y-1)*w+x] - grey[(y+1)*w+x]
			sum += l
			sq += l * l
			n++
		}
	}
	m := sum / float64(n)
	return sq/float64(n) - m*m
}

// stddev is the standard deviation of the grey image: near 0 for a
// near-uniform picture.
func stddev(img *image.NRGBA) float64 {
	var sum, sq float64
	n := float64(len(img.Pix) / 4)
	for i := 0; i < len(img.Pix); i += 4 {
		v := 0.299*float64(img.Pix[i]) + 0.587*float64(img.Pix[i+1]) + 0.114*float64(img.Pix[i+2])
		sum += v
		sq += v * v
	}
	m := sum / n
	return math.Sqrt(max(0, sq/n-m*m))
}

func TestImageVariety(t *testing.T) {
	const n = 150
	classify := func(steps int) (sharp, blurry, blank int) {
		for seed := range n {
			key := sha256.Sum256(fmt.Appendf(nil, "seed=%d steps=%d", seed, steps))
			img := Render(key, 64, 64, steps, false)
			switch {
			case stddev(img) < 3:
				blank++
			case laplacianVar(img) < 40:
				blurry++
			default:
				sharp++
			}
		}
		return
	}
	sharp, blurry, blank := classify(20)
	t.Logf("steps 20: %d sharp, %d blurry, %d blank of %d", sharp, blurry, blank, n)
	if blank < 2 || blank > 15 {
		t.Errorf("%d nearly blank of %d, want a few (~4%%)", blank, n)
	}
	if blurry < n/10 || blurry > n/2 {
		t.Errorf("%d blurry of %d, want a good share", blurry, n)
	}
	if sharp < n/2 {
		t.Errorf("%d sharp of %d, want most", sharp, n)
	}
	_, blurry5, _ := classify(5)
	_, blurry50, _ := classify(50)
	if !(blurry5 > blurry && blurry > blurry50) {
		t.Errorf("blurry counts at 5/20/50 steps = %d/%d/%d, want fewer with more steps", blurry5, blurry, blurry50)
	}
	if !bytes.Equal(Render([32]byte{1}, 64, 64, 20, false).Pix, Render([32]byte{1}, 64, 64, 20, false).Pix) {
		t.Error("Render is not deterministic")
	}
	if img := Render([32]byte{2}, 64, 64, 20, true); stddev(img) >= 3 {
		t.Error("an empty latent must decode to a near-blank image")
	}
}

func BenchmarkRender512(b *testing.B) {
	i := 0
	for b.Loop() {
		key := sha256.Sum256(fmt.Appendf(nil, "%d", i))
		i++
		if _, err := EncodePNG(Render(key, 512, 512, 20, false), [][2]string{{"prompt", "{}"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadImageChangedFileReruns covers IS_CHANGED: overwriting the input
// file makes LoadImage and its descendants run again.
func TestLoadImageChangedFileReruns(t *testing.T) {
	_, base := newSim(t, Options{})
	ws := dialWS(t, base, "c1")
	encode := func(s string) []byte {
		var buf bytes.Buffer
		png.Encode(&buf, Render(sha256.Sum256([]byte(s)), 32, 32, 20, false))
		return buf.Bytes()
	}
	upload(t, base, "in.png", encode("one"), nil)
	g := withSteps(t, 1, 1)
	setPath(g, "10", map[string]any{"class_type": "LoadImage", "inputs": map[string]any{"image": "in.png"}}, false)
	setPath(g, "11", map[string]any{"class_type": "PreviewImage", "inputs": map[string]any{"images": []any{"10", 0}}}, false)
	cachedOf := func() []any {
		id, _ := submit(t, base, g, "c1")
		msgs := ws.until(t, finished(id))
		for _, m := range msgs {
			if m.Type == "execution_cached" {
				return m.Data["nodes"].([]any)
			}
		}
		t.Fatal("no execution_cached")
		return nil
	}
	cachedOf()
	if got := cachedOf(); len(got) != 9 {
		t.Errorf("unchanged file: cached %v, want all 9 nodes", got)
	}
	upload(t, base, "in.png", encode("two"), map[string]string{"overwrite": "true"})
	if got := cachedOf(); len(got) != 7 {
		t.Errorf("changed file: cached %v, want 7 (LoadImage and PreviewImage re-run)", got)
	}
}

func TestPartialExecutionTargetsAndDateTokens(t *testing.T) {
	sim, base := newSim(t, Options{})
	g := withSteps(t, 1, 1)
	setPath(g, "9.inputs.filename_prefix", "%year%/img", false)
	setPath(g, "10", map[string]any{"class_type": "PreviewImage", "inputs": map[string]any{"images": []any{"8", 0}}}, false)
	id := newUUID()
	r := do(t, "POST", base+"/prompt", map[string]any{"prompt": g, "prompt_id": id, "partial_execution_targets": []string{"9"}})
	if r.status != 200 {
		t.Fatalf("POST /prompt = %d %s", r.status, r.body)
	}
	if err := sim.WaitHistory(deadline(t), id); err != nil {
		t.Fatal(err)
	}
	h := do(t, "GET", base+"/history/"+id, nil).json(t).(map[string]any)[id].(map[string]any)
	if outs := h["prompt"].([]any)[4].([]any); len(outs) != 1 || outs[0] != "9" {
		t.Errorf("outputs_to_execute = %v, want [9]", outs)
	}
	outputs := h["outputs"].(map[string]any)
	if _, ran := outputs["10"]; ran {
		t.Error("PreviewImage ran although it was not a target")
	}
	img := outputs["9"].(map[string]any)["images"].([]any)[0].(map[string]any)
	if sub := img["subfolder"].(string); !regexp.MustCompile(`^20\d\d$`).MatchString(sub) {
		t.Errorf("subfolder = %q, want the year", sub)
	}
}

func TestTxt2ImgWorkflowIsTheTestdataFile(t *testing.T) {
	want, err := os.ReadFile("testdata/txt2img_api.json")
	if err != nil {
		t.Fatal(err)
	}
	got := Txt2ImgWorkflow()
	if !bytes.Equal(got, want) {
		t.Fatal("Txt2ImgWorkflow differs from testdata/txt2img_api.json")
	}
	got[0] = 'x'
	if Txt2ImgWorkflow()[0] == 'x' {
		t.Error("Txt2ImgWorkflow returned shared bytes")
	}
}

// BenchmarkPrompt512 is one txt2img prompt at 512×512, end to end through
// HTTP, with simulated time scaled to almost nothing: the simulator's own cost.
func BenchmarkPrompt512(b *testing.B) {
	sim, err := New(Options{TimeScale: 1e-6})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	ts := httptest.NewServer(sim)
	defer ts.Close()
	wf := Txt2ImgWorkflow()
	seed := 0
	for b.Loop() {
		seed++
		body := fmt.Appendf(nil, `{"prompt": %s, "prompt_id": "p%d"}`,
			bytes.Replace(wf, []byte(`"seed": 156680208700286`), fmt.Appendf(nil, `"seed": %d`, seed), 1), seed)
		resp, err := http.Post(ts.URL+"/prompt", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if err := sim.WaitHistory(b.Context(), fmt.Sprintf("p%d", seed)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "prompts/s")
}

// TestRenderCacheChangesNothingButCPU: with Options.RenderCache, files are
// byte-identical to an uncached server's, repeated renders come from the
// cache, and the cache stays within its size.
func TestRenderCacheChangesNothingButCPU(t *testing.T) {
	f, err := StartFleetEach(Options{TimeScale: 0.001, CacheNone: true}, Options{TimeScale: 0.001, CacheNone: true, RenderCache: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := func(i int, seed int) []byte { return outputOf(t, f, i, seed) }
	cached := f.Servers()[1].renders
	for _, seed := range []int{5, 5, 6, 7, 5} {
		want, got := out(0, seed), out(1, seed)
		if !bytes.Equal(want, got) {
			t.Fatalf("seed %d: cached server's file differs from the uncached one's", seed)
		}
	}
	cached.mu.Lock()
	defer cached.mu.Unlock()
	if cached.hits != 1 {
		t.Errorf("cache hits = %d, want 1 (the second seed 5; the third was evicted by 6 and 7)", cached.hits)
	}
	if len(cached.byKey) != 2 || len(cached.byImage) != 2 || len(cached.order) != 2 {
		t.Errorf("cache holds %d images by key, %d by image, %d in order; want 2 each", len(cached.byKey), len(cached.byImage), len(cached.order))
	}
}

// TestEncodePNGLikePillow checks the encoder against the rule Pillow's PNG
// encoder follows (ComfyUI's SaveImage, compress_level=4): each row carries
// the filter among None, Up, Sub and Paeth, tried in that order, whose
// bytes have the smallest sum of absolute values read as signed; never
// Average. It also checks that the file decodes to the image and weighs
// what a photograph does (8–16 bits per pixel; a 512² photograph through
// Pillow at level 4 weighs about 13).
func TestEncodePNGLikePillow(t *testing.T) {
	img := Render(sha256.Sum256([]byte("encoder")), 512, 512, 20, false)
	data, err := EncodePNG(img, [][2]string{{"prompt", "{}"}})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for y := range 512 {
		for x := range 512 {
			r, g, b, _ := dec.At(x, y).RGBA()
			o := img.PixOffset(x, y)
			if byte(r>>8) != img.Pix[o] || byte(g>>8) != img.Pix[o+1] || byte(b>>8) != img.Pix[o+2] {
				t.Fatalf("pixel (%d,%d) decodes to %d,%d,%d, want %v", x, y, r>>8, g>>8, b>>8, img.Pix[o:o+3])
			}
		}
	}
	if bpp := float64(8*len(data)) / (512 * 512); bpp < 8 || bpp > 16 {
		t.Errorf("a sharp 512² scene weighs %d bytes (%.1f bits per pixel), want a photograph's 8–16", len(data), bpp)
	}
	// Inflate the IDAT and check every row's filter.
	var idat []byte
	for p := 8; p < len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if string(data[p+4:p+8]) == "IDAT" {
			idat = append(idat, data[p+8:p+8+n]...)
		}
		p += 12 + n
	}
	zr, err := zlib.NewReader(bytes.NewReader(idat))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	const stride = 1 + 3*512
	cost := func(f byte, cur, prev []byte) int {
		sum := 0
		for i := range cur {
			var a, b, c int
			if i >= 3 {
				a, c = int(cur[i-3]), int(prev[i-3])
			}
			b = int(prev[i])
			pred := 0
			switch f {
			case 1:
				pred = a
			case 2:
				pred = b
			case 4:
				p := a + b - c
				pa, pb, pc := max(p-a, a-p), max(p-b, b-p), max(p-c, c-p)
				switch {
				case pa <= pb && pa <= pc:
					pred = a
				case pb <= pc:
					pred = b
				default:
					pred = c
				}
			}
			v := int(int8(cur[i] - byte(pred)))
			sum += max(v, -v)
		}
		return sum
	}
	used := map[byte]int{}
	prev := make([]byte, 3*512)
	for y := range 512 {
		cur := make([]byte, 3*512)
		for x := range 512 {
			copy(cur[3*x:], img.Pix[img.PixOffset(x, y):][:3])
		}
		want, best := byte(0), -1
		for _, f := range []byte{0, 2, 1, 4} {
			if c := cost(f, cur, prev); best < 0 || c < best {
				want, best = f, c
			}
		}
		if got := raw[y*stride]; got != want {
			t.Fatalf("row %d has filter %d, want %d (the smallest sum of absolute values)", y, got, want)
		}
		used[want]++
		prev = cur
	}
	t.Logf("%d bytes, rows by filter %v", len(data), used)
}

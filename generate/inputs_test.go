package generate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate/comfytest"
)

// uploadCounter counts POST /upload/image requests.
type uploadCounter struct{ n atomic.Int64 }

func (u *uploadCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/upload/image" {
		u.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestFleetUploadsInputsOncePerInstance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "face.png")
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := range 16 {
		img.Set(i, i, color.NRGBA{R: 255, A: 255})
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, img); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	in := comfybatch.Input{Node: "1", Input: "image", Path: path, SHA256: hex.EncodeToString(sum[:])}

	var tasks []Task
	for i, method := range []string{"x-axis: vertically", "y-axis: horizontally", "x-axis: vertically", "y-axis: horizontally"} {
		wf := map[string]any{
			"1": map[string]any{"class_type": "LoadImage", "inputs": map[string]any{"image": "placeholder.png"}},
			"2": map[string]any{"class_type": "ImageFlip", "inputs": map[string]any{"image": []any{"1", 0}, "flip_method": method}},
			"9": map[string]any{"class_type": "SaveImage", "inputs": map[string]any{"images": []any{"2", 0}, "filename_prefix": "flip" + string(rune('a'+i))}},
		}
		raw, _ := json.Marshal(wf)
		key, err := comfybatch.KeyOf(raw, []comfybatch.Input{in})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, Task{Job: comfybatch.Job{Key: key, Index: i, Workflow: raw, Inputs: []comfybatch.Input{in}}})
	}
	sim := startSim(t, comfytest.Options{TimeScale: 0.002})
	uc := &uploadCounter{}
	f, err := NewFleet(instancesOf(sim), Options{HTTPClient: &http.Client{Transport: uc}, Logger: testLogger(t), PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got, err := runAll(t, t.Context(), f, tasks)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for _, tk := range tasks {
		if r := got[tk.Job.Key]; r.Err != nil {
			t.Errorf("job %d: %v", tk.Job.Index, r.Err)
		} else {
			checkImage(t, r)
		}
	}
	// Two slots may race to upload the same file once; never once per job.
	if n := uc.n.Load(); n < 1 || n > 2 {
		t.Errorf("%d uploads for 4 jobs sharing one input on one instance, want 1 (2 if both slots raced)", n)
	}
}

func TestSetInputKeepsBigNumbers(t *testing.T) {
	wf := map[string]json.RawMessage{"1": json.RawMessage(`{"class_type":"LoadImage","inputs":{"image":"x.png","seed":18446744073709551615}}`)}
	if err := setInput(wf, "1", "image", "server name.png"); err != nil {
		t.Fatal(err)
	}
	want := `{"class_type":"LoadImage","inputs":{"image":"server name.png","seed":18446744073709551615}}`
	if string(wf["1"]) != want {
		t.Errorf("setInput = %s, want %s", wf["1"], want)
	}
	if err := setInput(wf, "7", "image", "a.png"); err == nil {
		t.Errorf("setInput on a missing node succeeded")
	}
}

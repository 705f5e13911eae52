package manifests

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestScorerOptionsDecode: every option of every scorer type lands in its
// typed field.
func TestScorerOptionsDecode(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "head.json"), []byte(`{"weights": [1, 2], "bias": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, err := os.ReadFile("examples/txt2img.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wf.json"), wf, 0o644); err != nil {
		t.Fatal(err)
	}
	text := `workflow: wf.json
params:
  prompt: {title: Positive, input: text}
sweep:
  prompt: [a fox, a cat]
scorers:
  - {type: sharpness, long_side: 256}
  - {type: size, width: 512, height: 768, aspect: 0.75, min_bytes: 10, max_bytes: 2000000}
  - {type: blank, min_std: 2.5, min_colors: 9}
  - {type: phash}
  - {type: clip, url: "http://c:7997", model: m, protocol: vllm, template: "{prompt}!", token_env: T, max_batch: 4, timeout: 5s, retries: 0}
  - {type: aesthetic, url: "http://c:7997", head: head.json, protocol: clip-as-service}
  - {type: http, url: "http://h/score", format: json, json_path: a.b, timeout: 2m, token_env: H}
  - {type: exec, command: [score.sh, "{path}"], timeout: 1s}
`
	m, err := Parse("m.yaml", []byte(text), dir)
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := []ScorerOptions{
		&SharpnessOptions{LongSide: 256},
		&SizeOptions{Width: 512, Height: 768, Aspect: 0.75, MinBytes: 10, MaxBytes: 2000000},
		&BlankOptions{MinStd: 2.5, MinColors: 9},
		&PhashOptions{},
		&CLIPOptions{CLIPServer: CLIPServer{URL: "http://c:7997", Model: "m", Protocol: "vllm", TokenEnv: "T", MaxBatch: 4,
			Timeout: 5 * time.Second, Retries: &zero}, Template: "{prompt}!"},
		&AestheticOptions{CLIPServer: CLIPServer{URL: "http://c:7997", Protocol: "clip-as-service"}, Head: filepath.Join(dir, "head.json")},
		&HTTPOptions{URL: "http://h/score", Format: "json", JSONPath: "a.b", Timeout: 2 * time.Minute, TokenEnv: "H"},
		&ExecOptions{Command: []string{"score.sh", "{path}"}, Timeout: time.Second},
	}
	if len(m.Scorers) != len(want) {
		t.Fatalf("%d scorers, want %d", len(m.Scorers), len(want))
	}
	for i, s := range m.Scorers {
		if !reflect.DeepEqual(s.Options, want[i]) {
			t.Errorf("scorer %s options = %+v, want %+v", s.Type, s.Options, want[i])
		}
		st, _ := scorerType(s.Type)
		if reflect.TypeOf(st.NewOptions()) != reflect.TypeOf(s.Options) {
			t.Errorf("scorer %s options are %T, its table entry makes %T", s.Type, s.Options, st.NewOptions())
		}
	}
}

// TestScorerTypesTable: every type's options are decodable (decodeOption
// panics on a field type it does not know) and its primary metric is one
// of its metrics.
func TestScorerTypesTable(t *testing.T) {
	seen := map[string]bool{}
	for _, st := range ScorerTypes() {
		if seen[st.Name] {
			t.Errorf("type %s listed twice", st.Name)
		}
		seen[st.Name] = true
		if st.Primary != "" && !contains(st.Metrics, st.Primary) {
			t.Errorf("type %s: primary metric %q is not among its metrics %v", st.Name, st.Primary, st.Metrics)
		}
		keys := map[string]bool{}
		for _, o := range st.NewOptions().options() {
			if keys[o.key] || contains(scorerKeys, o.key) {
				t.Errorf("type %s: option %q is repeated or shadows a common key", st.Name, o.key)
			}
			keys[o.key] = true
			switch o.dst.(type) {
			case *int, **int, *int64, *float64, *string, *[]string, *time.Duration:
			default:
				t.Errorf("type %s: option %q has a field of type %T that decodeOption cannot fill", st.Name, o.key, o.dst)
			}
		}
	}
}

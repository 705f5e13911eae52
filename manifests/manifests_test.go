package manifests_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// TestExamples loads every example both from the embedded FS and from
// disk, offline, and checks what each one promises.
func TestExamples(t *testing.T) {
	want := map[string]struct {
		jobs, groups, topK int
	}{
		"demo.yaml":            {48, 2, 6},
		"headshots.yaml":       {480, 2, 60},
		"nightly.yaml":         {64, 4, 4},
		"sampler-cfg.yaml":     {16, 1, 16},
		"seed-vs-sampler.yaml": {72, 1, 72},
	}
	names, err := fs.Glob(examples.FS, "*.yaml")
	if err != nil || len(names) != len(want) {
		t.Fatalf("examples = %v, %v; want %d manifests", names, err, len(want))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectations for %s", name)
			}
			fromFS, err := manifests.LoadFS(examples.FS, name)
			if err != nil {
				t.Fatalf("LoadFS: %v", err)
			}
			fromDisk, err := manifests.Load(filepath.Join("examples", name))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !filepath.IsAbs(fromDisk.Path) || !filepath.IsAbs(fromDisk.Output.Dir) || !filepath.IsAbs(fromDisk.Output.Database) {
				t.Errorf("Load paths not absolute: %q %+v", fromDisk.Path, fromDisk.Output)
			}
			if fromFS.Hash != fromDisk.Hash {
				t.Errorf("hash from FS %s != from disk %s", fromFS.Hash, fromDisk.Hash)
			}
			for _, m := range []*manifests.Manifest{fromFS, fromDisk} {
				if m.MasterSeedChosen {
					m.MasterSeed = 99 // the same for both loads
				}
				plan, err := m.Plan()
				if err != nil {
					t.Fatalf("Plan: %v", err)
				}
				if len(plan.Jobs) != w.jobs || len(m.Groups) != w.groups {
					t.Errorf("%d jobs in %d groups, want %d in %d", len(plan.Jobs), len(m.Groups), w.jobs, w.groups)
				}
				for _, g := range m.Groups {
					if k := m.TopKFor(g.Name); k != w.topK {
						t.Errorf("TopKFor(%q) = %d, want %d", g.Name, k, w.topK)
					}
				}
			}
			p1, _ := fromFS.Plan()
			p2, _ := fromDisk.Plan()
			for i := range p1.Jobs {
				a, b := p1.Jobs[i], p2.Jobs[i]
				if a.Key != b.Key {
					t.Fatalf("job %d: key from FS %s != from disk %s", i, a.Key, b.Key)
				}
			}
		})
	}
}

func TestHeadshotsUploads(t *testing.T) {
	m, err := manifests.Load(filepath.Join("examples", "headshots.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan()
	if err != nil {
		t.Fatal(err)
	}
	alice, err := os.ReadFile(filepath.Join("examples", "refs", "alice.png"))
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[uint64]bool{}
	for _, j := range plan.Jobs {
		if len(j.Inputs) != 1 {
			t.Fatalf("job %d inputs %v, want one upload", j.Index, j.Inputs)
		}
		in := j.Inputs[0]
		if in.Node != "10" || in.Input != "image" || !filepath.IsAbs(in.Path) || filepath.Base(in.Path) != j.Group+".png" {
			t.Errorf("job %d input %+v", j.Index, in)
		}
		if j.Group == "alice" && in.SHA256 != sha(alice) {
			t.Errorf("alice upload hash %s, want %s", in.SHA256, sha(alice))
		}
		if !strings.Contains(string(j.Workflow), `"image":"`+j.Group+`.png"`) {
			t.Errorf("job %d workflow lacks the placeholder %s.png", j.Index, j.Group)
		}
		if j.Affinity != "sd_xl_base_1.0.safetensors" {
			t.Errorf("job %d affinity %q", j.Index, j.Affinity)
		}
		s, ok := j.Seed()
		if !ok {
			t.Fatalf("job %d has no seed", j.Index)
		}
		seeds[s] = true
	}
	// 240 per group over two denoise values: 120 seeds per group.
	if len(seeds) != 240 {
		t.Errorf("%d distinct seeds, want 240", len(seeds))
	}
	if plan.PerGroup["alice"] != 240 || plan.PerGroup["bob"] != 240 {
		t.Errorf("PerGroup = %v", plan.PerGroup)
	}
}

func TestPlanDeterministic(t *testing.T) {
	m, err := manifests.LoadFS(examples.FS, "nightly.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !m.MasterSeedChosen {
		t.Fatal("nightly has no master_seed: one should be chosen")
	}
	a, _ := m.Plan()
	b, _ := m.Plan()
	if !reflect.DeepEqual(a, b) {
		t.Error("two plans of one manifest differ")
	}
	m.MasterSeed++
	c, _ := m.Plan()
	if a.Jobs[0].Key == c.Jobs[0].Key {
		t.Error("changing the master seed did not change the seeds")
	}
}

func TestRandomSeedsExtend(t *testing.T) {
	load := func(count int) []uint64 {
		dir := t.TempDir()
		wf, _ := examples.FS.ReadFile("txt2img.json")
		os.WriteFile(filepath.Join(dir, "wf.json"), wf, 0o644)
		text := "workflow: wf.json\nmaster_seed: 5\ngroups: [{name: g, count: " + strconv.Itoa(count) + "}]\nsweep: {seed: random}\n"
		m, err := manifests.Parse("m.yaml", []byte(text), dir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Plan()
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, j := range p.Jobs {
			s, _ := j.Seed()
			out = append(out, s)
		}
		return out
	}
	short, long := load(3), load(10)
	if len(short) != 3 || len(long) != 10 || !reflect.DeepEqual(short, long[:3]) {
		t.Errorf("seeds for count 3 %v are not the start of those for count 10 %v", short, long)
	}
}

func TestEnvInHeaders(t *testing.T) {
	t.Setenv("COMFYBATCH_TEST_TOKEN", "s3cret")
	dir := t.TempDir()
	wf, _ := examples.FS.ReadFile("txt2img.json")
	os.WriteFile(filepath.Join(dir, "wf.json"), wf, 0o644)
	text := `workflow: wf.json
instances:
  - url: http://gpu1:8188/
    headers: {Authorization: "Bearer ${COMFYBATCH_TEST_TOKEN}"}
  - url: https://gpu2.example
    name: two
    in_flight: 4
    weight: 2.5
    tags: [sdxl]
    tier: 1
`
	m, err := manifests.Parse("m.yaml", []byte(text), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []manifests.Instance{
		{Name: "gpu1:8188", URL: "http://gpu1:8188", Headers: map[string]string{"Authorization": "Bearer s3cret"}, InFlight: 2, Weight: 1},
		{Name: "two", URL: "https://gpu2.example", InFlight: 4, Weight: 2.5, Tags: []string{"sdxl"}, Tier: 1},
	}
	if !reflect.DeepEqual(m.Instances, want) {
		t.Errorf("Instances = %+v, want %+v", m.Instances, want)
	}
}

func TestScorerSpecs(t *testing.T) {
	m, err := manifests.LoadFS(examples.FS, "demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Scorers) != 3 {
		t.Fatalf("scorers %+v", m.Scorers)
	}
	sharp, size, clip := m.Scorers[0], m.Scorers[1], m.Scorers[2]
	if o, ok := clip.Options.(*manifests.CLIPOptions); clip.Type != "clip" || clip.Metrics["similarity"].Weight != 1 || !ok ||
		o.Template != "{prompt}" || o.URL != "http://127.0.0.1:7997" || o.Protocol != "infinity" {
		t.Errorf("clip spec %+v, options %+v", clip, clip.Options)
	}
	if o, ok := sharp.Options.(*manifests.SharpnessOptions); sharp.Name != "sharpness" || sharp.Normalize != "rank" ||
		sharp.Metrics["laplacian_var"].Weight != 1 || !ok || o.LongSide != 512 {
		t.Errorf("sharpness spec %+v, options %+v", sharp, sharp.Options)
	}
	ok := size.Metrics["ok"]
	if o, isSize := size.Options.(*manifests.SizeOptions); size.Weight != 0 || ok.Min == nil || *ok.Min != 1 || !isSize ||
		o.Width != 512 || size.Pos.Line == 0 {
		t.Errorf("size spec %+v, ok %+v, options %+v", size, ok, size.Options)
	}
	if m.Select.TopK != 6 || m.Output.Database != "comfybatch-runs/comfybatch.db" {
		t.Errorf("select %+v output %+v", m.Select, m.Output)
	}
}

func TestHashCoversWorkflow(t *testing.T) {
	wf, _ := examples.FS.ReadFile("txt2img.json")
	text, _ := examples.FS.ReadFile("demo.yaml")
	a, err := manifests.LoadFS(fstest.MapFS{"demo.yaml": {Data: text}, "txt2img.json": {Data: wf}}, "demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changed := []byte(strings.Replace(string(wf), `"steps": 20`, `"steps": 21`, 1))
	b, err := manifests.LoadFS(fstest.MapFS{"demo.yaml": {Data: text}, "txt2img.json": {Data: changed}}, "demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash == b.Hash {
		t.Error("editing the workflow did not change the manifest hash")
	}
}

func TestLoadFSStaysInside(t *testing.T) {
	fsys := fstest.MapFS{"m.yaml": {Data: []byte("workflow: ../wf.json\n")}}
	_, err := manifests.LoadFS(fsys, "m.yaml")
	want := "m.yaml:1:11: workflow: ../wf.json is outside the file system the manifest was loaded from"
	if err == nil || err.Error() != want {
		t.Errorf("LoadFS = %v, want %s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := manifests.Load(filepath.Join(t.TempDir(), "none.yaml"))
	var me *manifests.Error
	if !errors.As(err, &me) || !errors.Is(err, comfybatch.ErrInvalid) || !strings.HasSuffix(err.Error(), "none.yaml does not exist") {
		t.Errorf("Load of a missing file = %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    manifests.Error
		want string
	}{
		{manifests.Error{File: "a.yaml", Line: 3, Col: 9, Msg: "bad"}, "a.yaml:3:9: bad"},
		{manifests.Error{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{manifests.Error{File: "a.json", Msg: "bad"}, "a.json: bad"},
		{manifests.Error{Msg: "bad"}, "bad"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v.Error() = %q, want %q", c.e, got, c.want)
		}
	}
}

// TestPlanConcurrent backs the package doc's claim that Plan may be called
// from several goroutines (run under -race).
func TestPlanConcurrent(t *testing.T) {
	m, err := manifests.LoadFS(examples.FS, "seed-vs-sampler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	plans := make([]*manifests.Plan, 4)
	for i := range plans {
		wg.Go(func() {
			plans[i], _ = m.Plan() // goroutine i writes plans[i] only
		})
	}
	wg.Wait()
	for i, p := range plans {
		if p == nil || !reflect.DeepEqual(p, plans[0]) {
			t.Errorf("plan %d differs from plan 0", i)
		}
	}
}

// TestExampleCfgSweep: the sampler-cfg example sweeps cfg over a workflow
// exported with "cfg": 8, and every job writes its fractional value into
// KSampler as a number (issue 14).
func TestExampleCfgSweep(t *testing.T) {
	m, err := manifests.LoadFS(examples.FS, "sampler-cfg.yaml")
	if err != nil {
		t.Fatalf("LoadFS(sampler-cfg.yaml) = %v", err)
	}
	plan, err := m.Plan()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[float64]int{}
	for _, j := range plan.Jobs {
		v, _ := j.Param("cfg")
		cfg, ok := v.(float64)
		if !ok {
			t.Fatalf("job %d cfg = %v (%T), want a float64", j.Index, v, v)
		}
		var wf map[string]struct {
			Inputs map[string]json.RawMessage `json:"inputs"`
		}
		if err := json.Unmarshal(j.Workflow, &wf); err != nil {
			t.Fatal(err)
		}
		if got, want := string(wf["3"].Inputs["cfg"]), strconv.FormatFloat(cfg, 'g', -1, 64); got != want {
			t.Errorf("job %d writes cfg %s, want %s", j.Index, got, want)
		}
		seen[cfg]++
	}
	if len(seen) != 2 || seen[5.5] != 8 || seen[7.5] != 8 {
		t.Errorf("cfg values = %v, want 5.5 and 7.5, 8 jobs each", seen)
	}
}

// TestJobsWhere: the jobs JobsWhere builds are exactly Jobs' jobs that want
// accepts, with the same indexes.
func TestJobsWhere(t *testing.T) {
	m, err := manifests.LoadFS(examples.FS, "seed-vs-sampler.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var all []comfybatch.Job
	for j, err := range m.Jobs() {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, j)
	}
	asked := 0
	var got []comfybatch.Job
	for j, err := range m.JobsWhere(func(i int, group string) bool {
		if group != all[i].Group {
			t.Errorf("want(%d) got group %q, job %d is in %q", i, group, i, all[i].Group)
		}
		asked++
		return i%3 == 1
	}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, j)
	}
	if asked != len(all) {
		t.Errorf("want asked about %d jobs, the plan has %d", asked, len(all))
	}
	for _, j := range got {
		if j.Index%3 != 1 || j.Key != all[j.Index].Key {
			t.Errorf("JobsWhere built job %d (key %.8s), want only i%%3 == 1 with Jobs' key %.8s", j.Index, j.Key, all[j.Index].Key)
		}
	}
	if len(got) != len(all)/3 {
		t.Errorf("JobsWhere built %d jobs, want %d", len(got), len(all)/3)
	}
}

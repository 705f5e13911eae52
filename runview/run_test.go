package runview_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
	"github.com/comfybatch/comfybatch/store"
)

func TestOpen(t *testing.T) {
	f := runviewtest.Build(t)
	r := f.Run
	if r.ManifestErr != nil {
		t.Fatalf("ManifestErr = %v", r.ManifestErr)
	}
	if r.ID != f.Record.ID || r.Name != "headshots" || r.Status != store.RunDone || r.MasterSeed != 1234 {
		t.Errorf("run = %+v", r)
	}
	if got := r.Wall(); got != 10*time.Minute {
		t.Errorf("Wall = %v, want 10m", got)
	}
	want := []runview.Group{
		{Name: "landscape", TopK: 1,
			Tally:   runview.Tally{Jobs: 2, Done: 2, Candidates: 2, Passed: 1, Rejected: 1, Selected: 1},
			Reasons: []runview.Reason{{Text: "scoring error: clip: connection refused", Count: 1}}},
		{Name: "portrait", TopK: 2,
			Tally: runview.Tally{Jobs: 6, Done: 5, Failed: 1, Candidates: 5, Passed: 3, Rejected: 2, Selected: 2},
			Reasons: []runview.Reason{
				{Text: "gate sharpness.laplacian_var: 12 < min 50", Count: 1},
				{Text: "near-duplicate of job 0", Count: 1},
			},
			FailureClasses: []runview.ClassCount{{Class: comfybatch.ClassExecution, Count: 1}}},
	}
	if !reflect.DeepEqual(r.Groups, want) {
		t.Errorf("Groups =\n%+v\nwant\n%+v", r.Groups, want)
	}
	if wantAll := (runview.Tally{Jobs: 8, Done: 7, Failed: 1, Candidates: 7, Passed: 4, Rejected: 3, Selected: 3}); r.Tally != wantAll {
		t.Errorf("Tally = %+v, want %+v", r.Tally, wantAll)
	}
	var sel []string
	for _, s := range r.Selections {
		sel = append(sel, s.Group+"#"+string(rune('0'+s.Rank)))
	}
	if want := []string{"landscape#1", "portrait#1", "portrait#2"}; !slices.Equal(sel, want) {
		t.Errorf("Selections = %v, want %v", sel, want)
	}
	if want := []string{"sharpness.laplacian_var"}; !slices.Equal(r.Gates, want) {
		t.Errorf("Gates = %v, want %v", r.Gates, want)
	}
	if len(r.Instances) != 2 || r.Instances[1].Down != 30*time.Second {
		t.Errorf("Instances = %+v", r.Instances)
	}
	if g, ok := r.Group("portrait"); !ok || g.Short() {
		t.Errorf("Group(portrait) = %+v, %v; want it, not short", g, ok)
	}
	if err := r.CheckGroup("cats"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CheckGroup(cats) = %v, want ErrNotFound", err)
	}
	if _, err := runview.Open(t.Context(), f.Store, 99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open(99) = %v, want ErrNotFound", err)
	}
}

// TestOpenWithoutManifest: a run whose manifest is gone still opens; top_k
// is unknown and the gates are those rejections name.
func TestOpenWithoutManifest(t *testing.T) {
	f := runviewtest.BuildWith(t, runviewtest.Options{NoManifest: true})
	r := f.Run
	if r.ManifestErr == nil {
		t.Error("ManifestErr = nil for a missing manifest")
	}
	for _, g := range r.Groups {
		if g.TopK != 0 {
			t.Errorf("group %s TopK = %d without a manifest, want 0", g.Name, g.TopK)
		}
	}
	if want := []string{"sharpness.laplacian_var"}; !slices.Equal(r.Gates, want) {
		t.Errorf("Gates = %v, want %v (from the rejection)", r.Gates, want)
	}
}

func indexes(cs []runview.Candidate) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.Index)
	}
	return out
}

func TestCandidates(t *testing.T) {
	f := runviewtest.Build(t)
	r := f.Run
	ctx := t.Context()
	cond := func(s string) runview.Cond {
		c, err := runview.ParseCond(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		f    runview.Filter
		want []int
	}{
		{"all", runview.Filter{}, []int{0, 1, 2, 3, 4, 6, 7}},
		{"group", runview.Filter{Group: "portrait"}, []int{0, 1, 2, 3, 4}},
		{"where", runview.Filter{Where: []runview.Cond{cond("seed=1")}}, []int{0, 1, 6}},
		{"where two", runview.Filter{Where: []runview.Cond{cond("seed=1"), cond("sampler_name=euler")}}, []int{0, 6}},
		{"where missing param", runview.Filter{Where: []runview.Cond{cond("steps=20")}}, nil},
		{"selected", runview.Filter{SelectedOnly: true}, []int{0, 3, 6}},
		{"selected in group", runview.Filter{Group: "landscape", SelectedOnly: true}, []int{6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.LoadCandidates(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(indexes(got), tc.want) {
				t.Errorf("Candidates(%+v) = %v, want %v", tc.f, indexes(got), tc.want)
			}
		})
	}

	sel, err := r.SelectedCandidates(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{6, 0, 3}; !slices.Equal(indexes(sel), want) {
		t.Errorf("Selected = %v, want %v (group order, then rank)", indexes(sel), want)
	}
	for _, c := range sel {
		if c.SelectedPath == "" || c.Rank == 0 {
			t.Fatalf("selected candidate %d has rank %d, path %q", c.Index, c.Rank, c.SelectedPath)
		}
		if _, err := os.Stat(r.Abs(c.SelectedPath)); err != nil {
			t.Errorf("candidate %d: SelectedPath %s is not in the selected/ layout: %v", c.Index, c.SelectedPath, err)
		}
		if _, err := os.Stat(r.Abs(c.Thumb)); err != nil {
			t.Errorf("candidate %d: no thumbnail at %s: %v", c.Index, c.Thumb, err)
		}
	}
	if sel[1].SelectedPath != "selected/portrait/1_1.png" {
		t.Errorf("job 0 SelectedPath = %q, want selected/portrait/1_1.png", sel[1].SelectedPath)
	}

	all, err := r.LoadCandidates(ctx, runview.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	c1 := all[1]
	if of, ok := c1.NearDuplicateOf(); !ok || of != 0 || c1.RejectKind() != comfybatch.RejectNearDuplicate {
		t.Errorf("job 1 NearDuplicateOf = %d, %v; kind %q", of, ok, c1.RejectKind())
	}
	if v, ok := c1.Metric("sharpness", "laplacian_var"); !ok || v != 290 {
		t.Errorf("job 1 sharpness = %v, %v; want 290", v, ok)
	}
	if c1.Width != 64 || c1.Height != 48 || c1.Bytes == 0 || c1.Rank != 0 || c1.SelectedPath != "" {
		t.Errorf("job 1 = %+v", c1)
	}
	if c1.Generation != 30*time.Second {
		t.Errorf("job 1 generation = %v, want 30s", c1.Generation)
	}

	fails, err := r.Failures(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 1 || fails[0].Index != 5 || fails[0].Class != comfybatch.ClassExecution || fails[0].Attempts != 3 ||
		len(fails[0].Params) != 4 {
		t.Errorf("Failures = %+v", fails)
	}
	if fails, _ := r.Failures(ctx, "landscape", 0); len(fails) != 0 {
		t.Errorf("Failures(landscape) = %+v, want none", fails)
	}
}

// ref writes a candidate as index output/batch index, e.g. "2 12/1".
func ref(c runview.Candidate) string {
	return fmt.Sprintf("%d %s/%d", c.Index, c.Output, c.BatchIndex)
}

func refs(cs []runview.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, ref(c))
	}
	return out
}

// TestBatched: a run whose prompts save several images (two output
// nodes, batches of two) counts, streams, filters and selects every image
// as a candidate of its own, and knows its output nodes by title.
func TestBatched(t *testing.T) {
	f := runviewtest.BuildWith(t, runviewtest.Options{Batched: true})
	r := f.Run
	ctx := t.Context()
	if r.ManifestErr != nil {
		t.Fatalf("ManifestErr = %v", r.ManifestErr)
	}
	if want := (runview.Tally{Jobs: 4, Done: 4, Candidates: 12, Passed: 8, Rejected: 4, Selected: 3}); r.Tally != want {
		t.Errorf("Tally = %+v, want %+v", r.Tally, want)
	}
	// One reason at two output nodes is one reason.
	wantReasons := []runview.Reason{{Text: "gate sharpness.laplacian_var: 12 < min 50", Count: 2},
		{Text: "near-duplicate of job 2", Count: 1}, {Text: "near-duplicate of job 3", Count: 1}}
	if !reflect.DeepEqual(r.Groups[0].Reasons, wantReasons) {
		t.Errorf("Reasons = %+v, want %+v", r.Groups[0].Reasons, wantReasons)
	}
	wantOut := []runview.Output{{ID: "9", Title: "Base", Class: "SaveImage", Candidates: 6},
		{ID: "12", Title: "Upscaled", Class: "SaveImage", Candidates: 6}}
	if !reflect.DeepEqual(r.Outputs, wantOut) || !r.Batched || !r.MultiOutput() {
		t.Errorf("Outputs = %+v, Batched %v, MultiOutput %v; want %+v, batched, several", r.Outputs, r.Batched, r.MultiOutput(), wantOut)
	}
	if got := r.ValueLabel(runview.OutputName, "12"); got != "12 (Upscaled)" {
		t.Errorf("ValueLabel(output, 12) = %q, want 12 (Upscaled)", got)
	}
	if got := r.ValueLabel("seed", uint64(7)); got != "7" {
		t.Errorf("ValueLabel(seed, 7) = %q", got)
	}

	sel, err := r.SelectedCandidates(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := refs(sel), []string{"2 9/0", "3 9/1", "2 12/1"}; !slices.Equal(got, want) {
		t.Errorf("selected = %v, want %v (by rank)", got, want)
	}
	for i, want := range []string{"selected/fox/1_1.png", "selected/fox/2_2_1.png", "selected/fox/3_1_1.png"} {
		c := sel[i]
		if c.SelectedPath != want || c.Rank != i+1 {
			t.Errorf("selected %s: rank %d at %s, want rank %d at %s", ref(c), c.Rank, c.SelectedPath, i+1, want)
		}
		if _, err := os.Stat(r.Abs(c.SelectedPath)); err != nil {
			t.Errorf("selected %s: %v", ref(c), err)
		}
	}

	all, err := r.LoadCandidates(ctx, runview.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	shas := map[string]bool{}
	for _, c := range all {
		shas[c.SHA256] = true
		wantSize := int64(1)
		if c.Index >= 2 {
			wantSize = 2
		}
		if c.BatchSize != int(wantSize) || c.Images != 2*int(wantSize) {
			t.Errorf("%s: batch size %d of %d images, want %d of %d", ref(c), c.BatchSize, c.Images, wantSize, 2*wantSize)
		}
		for name, want := range map[string]any{runview.BatchIndexName: int64(c.BatchIndex), runview.OutputName: c.Output,
			runview.BatchSizeName: wantSize, "seed": uint64(c.Index%2 + 1)} {
			if v, ok := c.Value(name); !ok || v != want {
				t.Errorf("%s: Value(%s) = %v (%T), %v; want %v (%T)", ref(c), name, v, v, ok, want, want)
			}
		}
		if seed, ok := c.Seed(); !ok || seed != uint64(c.Index%2+1) {
			t.Errorf("%s: Seed = %d, %v", ref(c), seed, ok)
		}
	}
	if len(all) != 12 || len(shas) != 12 {
		t.Errorf("%d candidates with %d distinct images, want 12 and 12", len(all), len(shas))
	}
	cond := func(s string) runview.Cond {
		c, err := runview.ParseCond(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		where []string
		want  []string
	}{
		{[]string{"output=12", "batch_index=1"}, []string{"2 12/1", "3 12/1"}},
		{[]string{"batch_size=1", "output=9"}, []string{"0 9/0", "1 9/0"}},
		{[]string{"seed=2", "batch_index=0", "output=9"}, []string{"1 9/0", "3 9/0"}},
		{[]string{"batch_index=2"}, nil},
	} {
		var f runview.Filter
		for _, w := range tc.where {
			f.Where = append(f.Where, cond(w))
		}
		got, err := r.LoadCandidates(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(refs(got), tc.want) {
			t.Errorf("where %v = %v, want %v", tc.where, refs(got), tc.want)
		}
	}
}

// TestBatchedWithoutManifest: output nodes keep their titles from the
// workflow the run recorded when the manifest is gone; a run recorded
// before images had an identity has one output, "", and no batches.
func TestBatchedWithoutManifest(t *testing.T) {
	r := runviewtest.BuildWith(t, runviewtest.Options{Batched: true, NoManifest: true}).Run
	if r.ManifestErr == nil || r.Output("12").Label() != "12 (Upscaled)" || r.Output("9").Title != "Base" {
		t.Errorf("without manifest: ManifestErr %v, outputs %+v; want titles from the recorded workflow", r.ManifestErr, r.Outputs)
	}
	old := runviewtest.Build(t).Run
	if want := []runview.Output{{Candidates: 7}}; !reflect.DeepEqual(old.Outputs, want) || old.Batched || old.MultiOutput() {
		t.Errorf("legacy run: Outputs %+v, Batched %v; want %+v, not batched", old.Outputs, old.Batched, want)
	}
	c, err := old.LoadCandidates(t.Context(), runview.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c[0].Value(runview.OutputName); ok {
		t.Errorf("legacy candidate has an output node")
	}
	if v, ok := c[0].Value(runview.BatchIndexName); !ok || v != int64(0) {
		t.Errorf("legacy candidate batch_index = %v, %v; want 0", v, ok)
	}
}

// TestBatchLink: the batched fixture's workflow has one empty latent
// feeding one sampler; the default fixture's workflow is not recorded and
// its manifest's has the same link.
func TestBatchLink(t *testing.T) {
	r := runviewtest.BuildWith(t, runviewtest.Options{Batched: true, NoManifest: true}).Run
	l, ok := r.BatchLink()
	want := runview.BatchLink{Latent: "5", LatentClass: "EmptyLatentImage", Sampler: "3", SamplerClass: "KSampler", Input: "latent_image"}
	if !ok || l != want {
		t.Errorf("BatchLink = %+v, %v; want %+v", l, ok, want)
	}
	if got := l.String(); got != "node 5 (EmptyLatentImage) -> node 3 (KSampler).latent_image" {
		t.Errorf("BatchLink.String = %q", got)
	}
	if _, ok := runviewtest.BuildWith(t, runviewtest.Options{NoManifest: true}).Run.BatchLink(); ok {
		t.Error("BatchLink of a run without a workflow = ok")
	}
}

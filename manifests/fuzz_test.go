package manifests_test

import (
	"errors"
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// checkErr fails unless every joined error is a *manifests.Error with a
// file name.
func checkErr(t *testing.T, err error) {
	t.Helper()
	list := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	}
	for _, e := range list {
		var me *manifests.Error
		if !errors.As(e, &me) || me.File == "" {
			t.Fatalf("error without a position or file: %v", e)
		}
	}
}

// FuzzParse: no panic, every error has a position or names a file, and an
// accepted manifest expands the same way twice.
func FuzzParse(f *testing.F) {
	names, _ := fs.Glob(examples.FS, "*.yaml")
	for _, n := range names {
		data, _ := examples.FS.ReadFile(n)
		f.Add(data)
	}
	f.Add([]byte("workflow: txt2img.json\nsweep: {seed: {random: {count: 3}}, steps: {from: 1, to: 3}}\ncombine: zip\n"))
	f.Add([]byte("workflow: txt2img.json\ngroups_from: prompts.txt\nparams: {prompt: {node: \"6\", input: text}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifests.Parse("fuzz.yaml", data, "examples")
		if err != nil {
			checkErr(t, err)
			return
		}
		total := 0
		for _, g := range m.Groups {
			total += g.Count
		}
		if total > 5000 {
			return // valid but slow to expand; the bound is tested elsewhere
		}
		m.MasterSeed = 1
		a, err := m.Plan()
		if err != nil {
			checkErr(t, err)
			return
		}
		b, _ := m.Plan()
		if !reflect.DeepEqual(a, b) {
			t.Fatal("the same manifest expanded two ways")
		}
	})
}

// FuzzWorkflow feeds arbitrary workflow JSON to a fixed manifest.
func FuzzWorkflow(f *testing.F) {
	for _, n := range []string{"txt2img.json", "img2img.json"} {
		data, _ := examples.FS.ReadFile(n)
		f.Add(data)
	}
	f.Add([]byte(`{"nodes": [], "links": []}`))
	f.Add([]byte(`{"1": {"class_type": "KSampler", "inputs": {"seed": 1, "model": ["2", 0]}}}`))
	f.Add([]byte(`[1, 2]`))
	manifest := []byte("workflow: wf.json\nsweep:\n  seed: [1, 2]\n")
	f.Fuzz(func(t *testing.T, wf []byte) {
		fsys := fstest.MapFS{"m.yaml": {Data: manifest}, "wf.json": {Data: wf}}
		m, err := manifests.LoadFS(fsys, "m.yaml")
		if err != nil {
			checkErr(t, err)
			return
		}
		if _, err := m.Plan(); err != nil {
			t.Fatalf("accepted workflow failed to expand: %v", err)
		}
	})
}

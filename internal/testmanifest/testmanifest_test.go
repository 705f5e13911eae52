package testmanifest

import (
	"testing"
	"testing/fstest"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

func TestSmallPlans(t *testing.T) {
	text, err := Small(8, 64)
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := examples.FS.ReadFile("txt2img.json")
	m, err := manifests.LoadFS(fstest.MapFS{"small.yaml": {Data: text}, "txt2img.json": {Data: wf}}, "small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Jobs) != 16 {
		t.Errorf("small manifest plans %d jobs, want 2 groups × 8", len(plan.Jobs))
	}
	if w, ok := plan.Jobs[0].Param("width"); !ok || w != int64(64) {
		t.Errorf("width param = %v (%T), want 64", w, w)
	}
}

package manifests_test

import (
	"testing"

	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

func TestSmokeDemo(t *testing.T) {
	m, err := manifests.LoadFS(examples.FS, "demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d jobs %v axes %+v dup %d", len(p.Jobs), p.PerGroup, p.Axes, p.Duplicates)
	t.Logf("%+v", p.Jobs[0].Params)
	t.Logf("%s", p.Jobs[0].Workflow)
	t.Logf("%+v %+v", m.Groups, m.Scorers)
}

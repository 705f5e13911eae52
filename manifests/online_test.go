package manifests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// mismatchCase loads the manifest and the /object_info bodies of
// testdata/online/mismatch.txtar.
func mismatchCase(t testing.TB) (*Manifest, map[string]json.RawMessage) {
	t.Helper()
	ar, err := parseArchive("testdata/online/mismatch.txtar")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wf, err := examples.FS.ReadFile("txt2img.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wf.json"), wf, 0o644); err != nil {
		t.Fatal(err)
	}
	infos := map[string]json.RawMessage{}
	var text []byte
	for _, f := range ar.Files {
		switch {
		case f.Name == "m.yaml":
			text = f.Data
		case strings.HasPrefix(f.Name, "objectinfo/"):
			infos[strings.TrimSuffix(strings.TrimPrefix(f.Name, "objectinfo/"), ".json")] = f.Data
		}
	}
	m, err := Parse("m.yaml", text, dir)
	if err != nil {
		t.Fatal(err)
	}
	return m, infos
}

// TestInstanceCheckAgreesWithValidateOnline: a job passes an instance's
// check exactly when none of its values is among the problems
// ValidateOnline reports for that instance, and a workflow problem (a
// class the instance lacks) refuses every job.
func TestInstanceCheckAgreesWithValidateOnline(t *testing.T) {
	m, infos := mismatchCase(t)
	plan, err := m.Plan()
	if err != nil {
		t.Fatal(err)
	}
	// The problems ValidateOnline lists for gpu1 (mismatch.txtar's want):
	// sampler "eulr", steps 0 and cfg 120.
	badOn1 := func(j comfybatch.Job) string {
		for _, p := range j.Params {
			switch v := fmt.Sprint(p.Value); {
			case p.Name == "sampler" && v == "eulr",
				p.Name == "steps" && v == "0",
				p.Name == "cfg" && v == "120":
				return p.Name
			}
		}
		return ""
	}
	check1, err := m.InstanceCheck("gpu1", infos["gpu1"])
	if err != nil {
		t.Fatal(err)
	}
	check2, err := m.InstanceCheck("gpu2", infos["gpu2"])
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, j := range plan.Jobs {
		err := check1(j)
		switch param := badOn1(j); {
		case param == "" && err != nil:
			t.Errorf("job %d %v: gpu1 refuses it: %v", j.Index, j.Params, err)
		case param != "" && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("param %q", param))):
			t.Errorf("job %d %v: gpu1 check = %v, want a refusal naming param %q", j.Index, j.Params, err, param)
		case err != nil:
			if _, ok := errors.AsType[*Error](err); !ok || !errors.Is(err, comfybatch.ErrInvalid) || !strings.Contains(err.Error(), "on instance gpu1") {
				t.Errorf("job %d: refusal %q is not a positioned ErrInvalid naming gpu1", j.Index, err)
			}
		default:
			accepted++
		}
		if err := check2(j); err == nil || !strings.Contains(err.Error(), "class VAEDecode is not installed on instance gpu2") {
			t.Errorf("job %d: gpu2 check = %v, want the missing VAEDecode", j.Index, err)
		}
	}
	if accepted == 0 || accepted == len(plan.Jobs) {
		t.Errorf("gpu1 accepts %d of %d jobs; the case needs both kinds", accepted, len(plan.Jobs))
	}
	if _, err := m.InstanceCheck("gpu3", json.RawMessage(`[1, 2]`)); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("InstanceCheck of a non-object /object_info = %v, want ErrInvalid", err)
	}
}

// BenchmarkInstanceCheck is the per-job cost the scheduler pays.
func BenchmarkInstanceCheck(b *testing.B) {
	m, infos := mismatchCase(b)
	plan, err := m.Plan()
	if err != nil {
		b.Fatal(err)
	}
	check, err := m.InstanceCheck("gpu1", infos["gpu1"])
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		_ = check(plan.Jobs[i%len(plan.Jobs)])
		i++
	}
}

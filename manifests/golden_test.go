package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden runs every case in testdata/{errors,plans,online}/*.txtar. A
// case holds m.yaml and the files it references (wf.json defaults to the
// example txt2img workflow; objectinfo/NAME.json are /object_info bodies
// for ValidateOnline) and a "want" file: the error text, or the plan.
// go test -update rewrites the want files.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.txtar")
	if len(files) == 0 {
		t.Fatal("no golden cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.ToSlash(file)[len("testdata/"):], ".txtar"), func(t *testing.T) {
			ar, err := parseArchive(file)
			if err != nil {
				t.Fatal(err)
			}
			got := runCase(t, ar)
			i := wantIndex(ar)
			if *update {
				if i < 0 {
					ar.Files = append(ar.Files, archiveFile{Name: "want"})
					i = len(ar.Files) - 1
				}
				ar.Files[i].Data = []byte(got)
				if err := os.WriteFile(file, ar.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if i < 0 {
				t.Fatalf("%s has no want file; run go test -update", file)
			}
			if want := string(ar.Files[i].Data); got != want {
				t.Errorf("%s:\ngot:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

func wantIndex(ar *archive) int {
	for i, f := range ar.Files {
		if f.Name == "want" {
			return i
		}
	}
	return -1
}

// runCase loads m.yaml from the archive and renders what a person would
// read: every error, or the plan (and online validation when the case has
// object_info files).
func runCase(t *testing.T, ar *archive) string {
	t.Helper()
	dir := t.TempDir()
	infos := map[string]json.RawMessage{}
	var manifest []byte
	hasWF := false
	for _, f := range ar.Files {
		switch {
		case f.Name == "want":
			continue
		case f.Name == "m.yaml":
			manifest = f.Data
		case strings.HasPrefix(f.Name, "objectinfo/"):
			infos[strings.TrimSuffix(strings.TrimPrefix(f.Name, "objectinfo/"), ".json")] = f.Data
			continue
		case f.Name == "wf.json":
			hasWF = true
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !hasWF {
		wf, err := examples.FS.ReadFile("txt2img.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "wf.json"), wf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Parse("m.yaml", manifest, dir)
	if err != nil {
		return renderErr(t, err, dir)
	}
	if len(infos) > 0 {
		err := ValidateOnline(m, infos)
		if err == nil {
			return "online: ok\n"
		}
		return renderErr(t, err, dir)
	}
	plan, err := m.Plan()
	if err != nil {
		return renderErr(t, err, dir)
	}
	return renderPlan(t, m, plan, dir)
}

// renderErr lists the errors one per line, checking that each is a
// positioned *Error of kind ErrInvalid.
func renderErr(t *testing.T, err error, dir string) string {
	t.Helper()
	if !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("error is not ErrInvalid: %v", err)
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		if _, ok := e.(*Error); !ok {
			t.Errorf("error %q is %T, not *Error", e, e)
		}
	}
	return "error:\n" + strings.ReplaceAll(err.Error(), dir, "$DIR") + "\n"
}

// renderPlan writes the plan with, for each job, the values actually
// written into its workflow.
func renderPlan(t *testing.T, m *Manifest, plan *Plan, dir string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "name %s, %d jobs, %d candidates, outputs %s\n", m.Name, len(plan.Jobs), plan.TotalCandidates, strings.Join(m.Outputs, ","))
	if plan.Total != len(plan.Jobs) {
		t.Errorf("Plan.Total = %d, but %d jobs", plan.Total, len(plan.Jobs))
	}
	images := 0
	for _, j := range plan.Jobs {
		images += j.ImageCount()
	}
	if images != plan.TotalCandidates {
		t.Errorf("jobs yield %d candidates, Plan.TotalCandidates = %d", images, plan.TotalCandidates)
	}
	for _, a := range plan.Axes {
		fmt.Fprintf(&b, "axis %s values=%d random=%v\n", strings.Join(a.Params, "+"), a.Values, a.Random)
	}
	for _, g := range m.Groups {
		fmt.Fprintf(&b, "group %s: %d jobs, %d candidates (count %d), top_k %d\n", g.Name, plan.PerGroup[g.Name], plan.Candidates[g.Name], g.Count, m.TopKFor(g.Name))
	}
	for _, j := range plan.Jobs {
		var wf map[string]struct {
			Inputs map[string]json.RawMessage `json:"inputs"`
		}
		if err := json.Unmarshal(j.Workflow, &wf); err != nil {
			t.Fatalf("job %d workflow: %v", j.Index, err)
		}
		if canon, err := comfybatch.Canonical(j.Workflow); err != nil || !bytes.Equal(canon, j.Workflow) {
			t.Errorf("job %d workflow is not canonical", j.Index)
		}
		if key, _ := comfybatch.KeyOf(j.Workflow, j.Inputs); key != j.Key {
			t.Errorf("job %d key %s, want KeyOf = %s", j.Index, j.Key, key)
		}
		fmt.Fprintf(&b, "%d %s", j.Index, j.Group)
		for _, p := range j.Params {
			bd := m.bindings[p.Name]
			fmt.Fprintf(&b, " %s=%v(%T)->%s.%s=%s", p.Name, p.Value, p.Value, bd.node.id, bd.input, wf[bd.node.id].Inputs[bd.input])
		}
		for _, in := range j.Inputs {
			fmt.Fprintf(&b, " upload %s.%s<-%s sha256:%.12s", in.Node, in.Input, strings.ReplaceAll(in.Path, dir, "$DIR"), in.SHA256)
		}
		if len(j.Tags) > 0 {
			fmt.Fprintf(&b, " tags=%s", strings.Join(j.Tags, ","))
		}
		if j.Images > 1 {
			fmt.Fprintf(&b, " images=%d", j.Images)
		}
		fmt.Fprintf(&b, " affinity=%s key=%.12s\n", j.Affinity, j.Key)
	}
	return b.String()
}

// archive is a txtar file: a comment, then files introduced by "-- name --"
// lines. (go-internal's txtar needs golang.org/x/tools, which go.sum lacks.)
type archive struct {
	comment []byte
	Files   []archiveFile
}

type archiveFile struct {
	Name string
	Data []byte
}

func parseArchive(file string) (*archive, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	ar := &archive{}
	cur := &ar.comment
	for _, line := range strings.SplitAfter(string(data), "\n") {
		t := strings.TrimRight(line, "\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			ar.Files = append(ar.Files, archiveFile{Name: strings.TrimSpace(t[3 : len(t)-3])})
			cur = &ar.Files[len(ar.Files)-1].Data
			continue
		}
		*cur = append(*cur, line...)
	}
	return ar, nil
}

func (ar *archive) format() []byte {
	var b bytes.Buffer
	b.Write(ar.comment)
	for _, f := range ar.Files {
		fmt.Fprintf(&b, "-- %s --\n", f.Name)
		b.Write(f.Data)
		if len(f.Data) > 0 && f.Data[len(f.Data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

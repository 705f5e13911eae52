package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/comfybatch/comfybatch/internal/testmanifest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
)

// batchManifest is the small manifest with every prompt rendering a batch
// of 3 images: 2 groups x 4 seeds = 8 prompts, 24 candidates.
func batchManifest(t *testing.T, dir string) *manifests.Manifest {
	t.Helper()
	text, err := testmanifest.Small(4, 64)
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("sweep:\n"), []byte("sweep:\n  batch_size: [3]\n"), 1)
	wf, _ := examples.FS.ReadFile("txt2img.json")
	os.WriteFile(filepath.Join(dir, "txt2img.json"), wf, 0o644)
	os.WriteFile(filepath.Join(dir, "batch.yaml"), text, 0o644)
	m, err := manifests.Load(filepath.Join(dir, "batch.yaml"))
	if err != nil {
		t.Fatalf("load batch manifest: %v", err)
	}
	withFakeCLIP(t, m)
	return m
}

// TestBatchesMakeOneCandidatePerImage: with batch_size 3 every prompt
// yields 3 candidates, each downloaded, scored, ranked and selectable on
// its own, recorded together with their job; a rerun generates nothing.
func TestBatchesMakeOneCandidatePerImage(t *testing.T) {
	dir := t.TempDir()
	m := batchManifest(t, dir)
	if got := m.Groups[0].Count; got != 12 {
		t.Fatalf("group count = %d candidates, want 12 (4 prompts of 3 images)", got)
	}
	inst := startFleet(t, 2)
	out, err := Run(t.Context(), Options{Manifest: m, Instances: inst})
	if err != nil {
		t.Fatal(err)
	}
	if out.Total != 8 || out.Done != 8 {
		t.Fatalf("run: %d of %d jobs done, want 8 prompts", out.Done, out.Total)
	}
	st := openStore(t, m.Output.Database)
	cands, err := st.Candidates(t.Context(), out.Run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 24 {
		t.Fatalf("%d candidates recorded, want 24 (8 prompts x 3)", len(cands))
	}
	perJob := map[string][]int{}
	images := map[string]bool{}
	for _, c := range cands {
		perJob[c.Candidate.Job.Key] = append(perJob[c.Candidate.Job.Key], c.Candidate.BatchIndex)
		if c.Candidate.Output != m.Outputs[0] || c.Candidate.Path == "" || len(c.Scores) == 0 || c.Pending != nil {
			t.Errorf("candidate %s: output %q path %q scores %d pending %v", c.Candidate.Ref(), c.Candidate.Output,
				c.Candidate.Path, len(c.Scores), c.Pending)
		}
		images[c.Candidate.SHA256] = true
	}
	for key, idx := range perJob {
		if fmt.Sprint(idx) != "[0 1 2]" {
			t.Errorf("job %.8s has batch indexes %v, want [0 1 2]", key, idx)
		}
	}
	if len(images) != 24 {
		t.Errorf("%d distinct images among 24 candidates: the images of a batch differ", len(images))
	}
	// Selection is per candidate: 6 per group, among all images.
	laidOut := 0
	for _, g := range out.Groups {
		if len(g.Selection) != 6 || len(g.Ranked) != 12 {
			t.Errorf("group %s: %d selected of %d ranked, want 6 of 12", g.Name, len(g.Selection), len(g.Ranked))
		}
		for _, s := range g.Selection {
			seed := ""
			for _, c := range g.Ranked {
				if c.Candidate.Ref() == s.Ref() {
					v, _ := c.Candidate.Job.Seed()
					seed = fmt.Sprint(v)
				}
			}
			name := fmt.Sprintf("%d_%s", s.Rank, seed)
			if s.BatchIndex > 0 {
				name += fmt.Sprintf("_%d", s.BatchIndex)
			}
			if _, err := os.Stat(filepath.Join(out.Run.OutputDir, "selected", g.Name, name+".png")); err != nil {
				t.Errorf("selected image of %s rank %d: %v", g.Name, s.Rank, err)
			}
			laidOut++
		}
	}
	if laidOut != 12 {
		t.Errorf("%d selected images laid out, want 12", laidOut)
	}
	again, err := Run(t.Context(), Options{Manifest: batchManifest(t, dir), Instances: inst})
	if err != nil || again.Done != 0 || again.Skipped != 8 {
		t.Errorf("rerun: %v, done %d, skipped %d; want nothing generated", err, again.Done, again.Skipped)
	}
	after, err := st.Candidates(t.Context(), out.Run.ID, "")
	if err != nil || len(after) != 24 {
		t.Errorf("candidates after the rerun = %d, %v; want 24", len(after), err)
	}
}

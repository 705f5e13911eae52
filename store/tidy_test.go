package store

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/comfybatch/comfybatch"
)

func TestTidyRemovesTempAndOrphanFiles(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "db.sqlite"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run, err := s.CreateRun(ctx, Run{Name: "r", ManifestPath: "m.yaml", OutputDir: filepath.Join(t.TempDir(), "run")})
	if err != nil {
		t.Fatal(err)
	}
	job := comfybatch.Job{Key: "k1", Group: "g", Workflow: []byte(`{}`)}
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{job}); err != nil {
		t.Fatal(err)
	}
	kept, sha, err := s.WriteImage(ctx, run, []byte("\x89PNG kept"))
	if err != nil {
		t.Fatal(err)
	}
	c := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: job, Path: kept, SHA256: sha}}
	if err := s.RecordCandidate(ctx, run.ID, c); err != nil {
		t.Fatal(err)
	}
	orphan, _, err := s.WriteImage(ctx, run, []byte("\x89PNG orphan")) // its row never committed
	if err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(run.OutputDir, "images", "ab", ".tmp-0123456789abcdef")
	os.MkdirAll(filepath.Dir(temp), 0o755)
	os.WriteFile(temp, []byte("partial"), 0o644)

	n, err := s.Tidy(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Tidy removed %d files, want 2 (the temp file and %s)", n, orphan)
	}
	var left []string
	filepath.WalkDir(run.OutputDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(run.OutputDir, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(left)
	if len(left) != 1 || left[0] != kept {
		t.Errorf("files left after Tidy = %v, want only %s", left, kept)
	}
}

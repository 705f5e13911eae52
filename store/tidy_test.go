package store

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

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

func TestTidyBeforeSparesNewerFiles(t *testing.T) {
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
	old, _, err := s.WriteImage(ctx, run, []byte("\x89PNG left by a killed process"))
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	past := since.Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(run.OutputDir, old), past, past); err != nil {
		t.Fatal(err)
	}
	mine, _, err := s.WriteImage(ctx, run, []byte("\x89PNG written by this process, row not yet committed"))
	if err != nil {
		t.Fatal(err)
	}
	future := since.Add(time.Second)
	if err := os.Chtimes(filepath.Join(run.OutputDir, mine), future, future); err != nil {
		t.Fatal(err)
	}
	n, err := s.TidyBefore(ctx, run, since)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("TidyBefore removed %d files, want 1 (%s)", n, old)
	}
	if _, err := os.Stat(filepath.Join(run.OutputDir, old)); !os.IsNotExist(err) {
		t.Errorf("%s, older than since, was not removed (stat: %v)", old, err)
	}
	if _, err := os.Stat(filepath.Join(run.OutputDir, mine)); err != nil {
		t.Errorf("%s, newer than since, was removed: %v", mine, err)
	}
}

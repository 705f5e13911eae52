package main

import (
	"bytes"
	"database/sql"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/testmanifest"
	"github.com/comfybatch/comfybatch/manifests/examples"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/store"
)

// copyDemo writes the embedded demo manifest and its files into dir, plus
// small.yaml (the demo cut down to 2 × 8 jobs of 64² images, for tests that
// run many times), with their CLIP scorer pointed at a fake embeddings
// server that lives as long as the test. It returns the demo's path.
func copyDemo(t *testing.T, dir string) string {
	t.Helper()
	clip, clipURL := cliptest.New(cliptest.Options{}).Start()
	t.Cleanup(clip.Close)
	if err := os.CopyFS(dir, examples.FS); err != nil {
		t.Fatalf("copy demo: %v", err)
	}
	small, err := testmanifest.Small(8, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "small.yaml"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo.yaml", "small.yaml"} {
		path := filepath.Join(dir, name)
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const url = "http://127.0.0.1:7997"
		if !bytes.Contains(text, []byte(url)) {
			t.Fatalf("%s no longer names %s for its CLIP scorer", name, url)
		}
		if err := os.WriteFile(path, bytes.ReplaceAll(text, []byte(url), []byte(clipURL)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "demo.yaml")
}

// batchCmd runs this test binary as the batch command (see TestMain).
func batchCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMFYBATCH_TEST_MAIN=1")
	return cmd
}

// TestCrashResume kills `batch run` with SIGKILL at seeded random moments,
// resumes each time, and checks that the final database and files are
// exactly those of an uninterrupted run: every job recorded once, no
// partial or orphan image files, the same selections.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the binary a dozen times")
	}
	fleet, err := comfytest.StartFleet(2, comfytest.Options{TimeScale: 0.5}) // ~400ms an image: kills land mid-generation
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	urls := strings.Join(fleet.URLs(), ",")

	refDir, crashDir := t.TempDir(), t.TempDir()
	copyDemo(t, refDir)
	copyDemo(t, crashDir)
	refManifest, crashManifest := filepath.Join(refDir, "small.yaml"), filepath.Join(crashDir, "small.yaml")
	// Every prompt renders a batch of 2: a kill must never leave a batch
	// half recorded.
	for _, path := range []string{refManifest, crashManifest} {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, bytes.Replace(text, []byte("sweep:\n"), []byte("sweep:\n  batch_size: [2]\n"), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := batchCmd(t, refDir, "run", "--instances", urls, refManifest).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}

	rng := rand.New(rand.NewPCG(20261123, 7))
	kills := 0
	for i := 0; i < 12; i++ {
		cmd := batchCmd(t, crashDir, "run", "--instances", urls, crashManifest)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment: the point is an arbitrary interleaving,
		// so a timer (not an event) decides when.
		delay := time.Duration(250+rng.IntN(1000)) * time.Millisecond // start-up takes ~300ms under -race
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		err := cmd.Wait()
		timer.Stop()
		if err == nil {
			break // the run finished before the kill
		}
		kills++
		// A kill may land before the database has its tables (or any run):
		// only a complete schema is worth a look.
		if schemaComplete(filepath.Join(crashDir, "comfybatch-runs", "comfybatch.db")) {
			s := dbState(t, filepath.Join(crashDir, "comfybatch-runs"))
			t.Logf("kill %d after %s: %d of %d jobs done", kills, delay, s.done, s.jobs)
		}
	}
	if out, err := batchCmd(t, crashDir, "run", "--instances", urls, crashManifest).CombinedOutput(); err != nil {
		t.Fatalf("final resume: %v\n%s", err, out)
	}
	t.Logf("killed the run %d times before it completed", kills)
	if kills < 3 {
		t.Errorf("only %d kills landed mid-run; the kill window no longer covers the run", kills)
	}

	ref, got := dbState(t, filepath.Join(refDir, "comfybatch-runs")), dbState(t, filepath.Join(crashDir, "comfybatch-runs"))
	if got.jobs != ref.jobs || got.done != ref.jobs || got.dupes != 0 {
		t.Errorf("after crashes: %d jobs, %d done, %d duplicate keys; want %d, %d, 0", got.jobs, got.done, got.dupes, ref.jobs, ref.jobs)
	}
	if got.cands != 2*got.jobs || ref.cands != 2*ref.jobs {
		t.Errorf("%d candidates for %d prompts of 2 images (reference run: %d for %d): a batch was half recorded", got.cands, got.jobs, ref.cands, ref.jobs)
	}
	if !reflect.DeepEqual(got.selections, ref.selections) {
		t.Errorf("selections after crashes differ from an uninterrupted run:\n got %v\nwant %v", got.selections, ref.selections)
	}
	if len(got.strayFiles) > 0 {
		t.Errorf("files in the run folder that no row points at (partial or orphan): %v", got.strayFiles)
	}
}

// schemaComplete reports whether the database at path exists with every
// migration applied.
func schemaComplete(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return false
	}
	defer db.Close()
	var v, runs int
	if db.QueryRow(`PRAGMA user_version`).Scan(&v) != nil || v != store.SchemaVersion() {
		return false
	}
	return db.QueryRow(`SELECT count(*) FROM runs`).Scan(&runs) == nil && runs > 0
}

type state struct {
	jobs, done, dupes int
	cands             int // candidate rows
	selections        []string
	strayFiles        []string
}

func dbState(t *testing.T, outDir string) state {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(outDir, "comfybatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s state
	q := func(query string, dst ...any) {
		if err := db.QueryRow(query).Scan(dst...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	q(`SELECT count(*), count(DISTINCT job_key), coalesce(sum(status = 'done'), 0) FROM jobs`, &s.jobs, &s.dupes, &s.done)
	s.dupes = s.jobs - s.dupes
	q(`SELECT count(*) FROM candidates`, &s.cands)
	rows, err := db.Query(`SELECT x.group_name || '/' || x.rank || '/' || j.job_key FROM selections x
		JOIN candidates c ON c.id = x.candidate_id JOIN jobs j ON j.id = c.job_id ORDER BY x.group_name, x.rank`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v string
		rows.Scan(&v)
		s.selections = append(s.selections, v)
	}
	rows.Close()
	var runDir string
	q(`SELECT output_dir FROM runs ORDER BY id DESC LIMIT 1`, &runDir)
	known := map[string]bool{}
	rows, err = db.Query(`SELECT rel_path, sha256 FROM candidates`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v, sha string
		rows.Scan(&v, &sha)
		known[filepath.Clean(v)] = true
		known[filepath.FromSlash(store.ThumbPath(sha))] = true // a thumbnail belongs to its image
	}
	rows.Close()
	filepath.WalkDir(runDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(runDir, p)
		if strings.HasPrefix(rel, "selected"+string(filepath.Separator)) {
			return nil
		}
		if !known[rel] {
			s.strayFiles = append(s.strayFiles, rel)
		}
		return nil
	})
	return s
}

package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// fakePNG returns bytes that start like a PNG of w×h pixels, made unique
// by tag.
func fakePNG(w, h byte, tag string) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00" + string(w) + "\x00\x00\x00" + string(h))
	return append(b, tag...)
}

// files lists every file under dir, relative and slash-separated.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestWriteImage(t *testing.T) {
	s, dir := openTest(t)
	run := createRun(t, s, dir)
	data := fakePNG(64, 32, "one")
	rel, sha, err := s.WriteImage(t.Context(), run, data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rel, "images/"+sha[:2]+"/"+sha) || !strings.HasSuffix(rel, ".png") || len(sha) != 64 {
		t.Errorf("WriteImage = %s, %s; want images/<2>/<sha>.png", rel, sha)
	}
	got, err := os.ReadFile(filepath.Join(run.OutputDir, filepath.FromSlash(rel)))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("file %s = %q, %v; want the bytes written", rel, got, err)
	}
	// Same bytes: same path, no new file. Different bytes: another file.
	rel2, sha2, err := s.WriteImage(t.Context(), run, data)
	if err != nil || rel2 != rel || sha2 != sha {
		t.Errorf("WriteImage again = %s, %s, %v; want %s, %s", rel2, sha2, err, rel, sha)
	}
	rel3, _, err := s.WriteImage(t.Context(), run, []byte("\xff\xd8\xffjpeg"))
	if err != nil || !strings.HasSuffix(rel3, ".jpg") {
		t.Errorf("WriteImage(jpeg) = %s, %v", rel3, err)
	}
	want := []string{rel, rel3}
	sort.Strings(want)
	if got := files(t, run.OutputDir); !reflect.DeepEqual(got, want) {
		t.Errorf("files in run folder = %v, want %v (no temporary files)", got, want)
	}
	if _, _, err := s.WriteImage(t.Context(), Run{ID: 9}, data); err == nil {
		t.Errorf("WriteImage(run without folder) = nil, want error")
	}
}

func TestLayoutSelected(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	var jobs []comfybatch.Job
	for i, g := range []string{"cats", "cats", "cats", "../dogs 2", "noseed"} {
		j := testJob(i, g)
		if g == "noseed" {
			j.Params = j.Params[1:]
		}
		jobs = append(jobs, j)
		sc := testScored(j, float64(i))
		data := fakePNG(8, 8, g+string(rune('a'+i)))
		var err error
		if sc.Candidate.Path, sc.Candidate.SHA256, err = s.WriteImage(ctx, run, data); err != nil {
			t.Fatal(err)
		}
		sc.Candidate.Image = data
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seed := func(i int) string { v, _ := jobs[i].Seed(); return strconv.FormatUint(v, 10) }
	dogs := safeName("../dogs 2")
	if strings.ContainsAny(dogs, "/ ") || strings.HasPrefix(dogs, ".") || dogs == safeName("__dogs_2") {
		t.Fatalf("safeName(../dogs 2) = %q: unsafe or colliding", dogs)
	}
	first := []comfybatch.Selection{
		{Group: "cats", Rank: 1, JobKey: jobs[2].Key}, {Group: "cats", Rank: 2, JobKey: jobs[0].Key},
		{Group: "../dogs 2", Rank: 1, JobKey: jobs[3].Key}, {Group: "noseed", Rank: 1, JobKey: jobs[4].Key},
	}
	if err := s.LayoutSelected(ctx, run, first); err != nil {
		t.Fatal(err)
	}
	sel := func(name string) string { return "selected/" + name }
	want := []string{sel("cats/1_" + seed(2) + ".png"), sel("cats/2_" + seed(0) + ".png"),
		sel(dogs + "/1_" + seed(3) + ".png"), sel("noseed/1_" + jobs[4].Key[:12] + ".png")}
	sort.Strings(want)
	check := func(want []string, srcOf map[string]int) {
		t.Helper()
		var got []string
		for _, f := range files(t, run.OutputDir) {
			if strings.HasPrefix(f, "selected/") {
				got = append(got, f)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("selected files = %v\nwant %v", got, want)
		}
		cands, _ := s.Candidates(ctx, run.ID, "")
		for name, i := range srcOf {
			a, err1 := os.ReadFile(filepath.Join(run.OutputDir, name))
			b, err2 := os.ReadFile(filepath.Join(run.OutputDir, cands[i].Candidate.Path))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("%s does not hold job %d's image (%v, %v)", name, i, err1, err2)
			}
		}
	}
	check(want, map[string]int{sel("cats/1_" + seed(2) + ".png"): 2, sel("cats/2_" + seed(0) + ".png"): 0,
		sel(dogs + "/1_" + seed(3) + ".png"): 3})
	// Re-selection: cats now has one entry; dogs and noseed are dropped.
	second := []comfybatch.Selection{{Group: "cats", Rank: 1, JobKey: jobs[1].Key}}
	if err := s.LayoutSelected(ctx, run, second); err != nil {
		t.Fatal(err)
	}
	name := sel("cats/1_" + seed(1) + ".png")
	check([]string{name}, map[string]int{name: 1})
	if _, err := os.Stat(filepath.Join(run.OutputDir, "selected", dogs)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale group folder %s still there: %v", dogs, err)
	}
	if err := s.LayoutSelected(ctx, run, []comfybatch.Selection{{Group: "x", Rank: 1, JobKey: "nope"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("LayoutSelected(unknown job) = %v, want ErrNotFound", err)
	}
}

func TestSafeName(t *testing.T) {
	for _, g := range []string{"cats", "a-b_c.d"} {
		if got := safeName(g); got != g {
			t.Errorf("safeName(%q) = %q, want it unchanged", g, got)
		}
	}
	seen := map[string]string{}
	for _, g := range []string{"", ".", "..", "a/b", "a_b", "a b", "../x", "ünï", "CON"} {
		got := safeName(g)
		if got == "" || got == "." || got == ".." || strings.ContainsAny(got, "/\\ ") || strings.HasPrefix(got, ".") {
			t.Errorf("safeName(%q) = %q: not a safe path element", g, got)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("safeName(%q) = safeName(%q) = %q", g, prev, got)
		}
		seen[got] = g
	}
}

// TestImagesSyncedBeforeTheirRows: image files are synced once per batch
// of rows that point at them, before the commit; attempt records never
// wait for a sync; a failed sync keeps the rows out.
func TestImagesSyncedBeforeTheirRows(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	var syncs, synced int
	sync := s.w.beforeCommit
	fail := false
	s.w.beforeCommit = func() error { // called on the writer goroutine only
		syncs++
		if fail {
			s.unsynced.take()
			return errors.New("disk gone")
		}
		s.unsynced.mu.Lock()
		synced += len(s.unsynced.files)
		s.unsynced.mu.Unlock()
		return sync()
	}
	var jobs []comfybatch.Job
	for i := range 8 {
		jobs = append(jobs, testJob(i, "a"))
	}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs[:6] {
		if err := s.RecordAttempt(ctx, run.ID, j.Key, Attempt{Instance: "i", PromptID: fmt.Sprint("p", i), Number: 1}); err != nil {
			t.Fatal(err)
		}
		rel, sha, err := s.WriteImage(ctx, run, fakePNG(8, 8, j.Key))
		if err != nil {
			t.Fatal(err)
		}
		sc := testScored(j, 1)
		sc.Candidate.Path, sc.Candidate.SHA256 = rel, sha
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if syncs == 0 || syncs > 3 || synced != 6 {
		t.Errorf("%d syncs of %d files for 6 images written between attempt records; want one or a few syncs of all 6", syncs, synced)
	}
	fail = true
	rel, sha, err := s.WriteImage(ctx, run, fakePNG(8, 8, "lost"))
	if err != nil {
		t.Fatal(err)
	}
	sc := testScored(jobs[7], 1)
	sc.Candidate.Path, sc.Candidate.SHA256 = rel, sha
	if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("Flush after a failed sync = %v, want the sync error", err)
	}
	c, err := s.Counts(ctx, run.ID)
	if err != nil || c.All.Done != 6 {
		t.Errorf("done jobs = %d, %v; want 6: a row whose image was not synced must not commit", c.All.Done, err)
	}
}

// TestTidyWalksBesideTheDatabase: images shared by several rows, in several
// folders, are kept; unknown ones in between are removed.
func TestTidyWalksBesideTheDatabase(t *testing.T) {
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	var keep []string
	for i := range 40 {
		j := testJob(i, "a")
		data := fakePNG(8, 8, fmt.Sprint("img", i%30)) // 10 images shared by two jobs
		rel, sha, err := s.WriteImage(ctx, run, data)
		if err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 && i < 30 {
			continue // written, never recorded: an orphan
		}
		keep = append(keep, rel)
		sc := testScored(j, 1)
		sc.Candidate.Path, sc.Candidate.SHA256 = rel, sha
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Tidy(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keep)
	keep = slices.Compact(keep)
	if got := files(t, run.OutputDir); !reflect.DeepEqual(got, keep) || n != 30-len(keep) {
		t.Errorf("Tidy removed %d; left %d files, want the %d recorded", n, len(got), len(keep))
	}
}

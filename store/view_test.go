package store

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
)

// viewFixture records jobs 0..5 of groups "even" and "odd" (out of order),
// with real images for jobs 0 and 1, a failure for job 6 and a rejection
// for job 3.
func viewFixture(t *testing.T) (*Store, Run) {
	t.Helper()
	s, dir := openTest(t)
	ctx := t.Context()
	run := createRun(t, s, dir)
	jobs := []comfybatch.Job{}
	for i := range 7 {
		g := "even"
		if i%2 == 1 {
			g = "odd"
		}
		jobs = append(jobs, testJob(i, g))
	}
	if err := s.PlanJobs(ctx, run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{4, 1, 0, 5, 2, 3} {
		sc := testScored(jobs[i], float64(i)/10)
		if i < 2 {
			img := testImage(64+i, 32)
			var data []byte
			data, sc.Candidate.Pixels = pngBytes(t, img), img
			path, sha, err := s.WriteImage(ctx, run, data)
			if err != nil {
				t.Fatal(err)
			}
			sc.Candidate.Path, sc.Candidate.SHA256, sc.Candidate.Image = path, sha, data
		}
		if i == 3 {
			sc.Rejected = "gate sharpness.laplacian_var: 12 < min 50"
		}
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordAttempt(ctx, run.ID, jobs[6].Key, Attempt{Instance: "gpu-2", PromptID: "p6", Number: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFailure(ctx, run.ID, jobs[6].Key, 2, comfybatch.ErrExecution); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return s, run
}

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 8), 90, 255})
		}
	}
	return img
}

func collect(t *testing.T, s *Store, runID int64, q CandidateQuery) []ViewCandidate {
	t.Helper()
	var out []ViewCandidate
	if err := s.EachCandidate(t.Context(), runID, q, func(c ViewCandidate) error {
		out = append(out, c)
		return nil
	}); err != nil {
		t.Fatalf("EachCandidate(%+v) = %v", q, err)
	}
	return out
}

// TestEachCandidateMatchesCandidates: the streaming view reads the same
// candidates, params, scores and times as Candidates, plus the image's
// size, without the workflow.
func TestEachCandidateMatchesCandidates(t *testing.T) {
	s, run := viewFixture(t)
	full, err := s.Candidates(t.Context(), run.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, s, run.ID, CandidateQuery{})
	if len(got) != len(full) || len(got) != 6 {
		t.Fatalf("EachCandidate gave %d candidates, Candidates %d; want 6", len(got), len(full))
	}
	for i, v := range got {
		c := full[i]
		want := ViewCandidate{
			Ref: c.Candidate.Ref(), Index: c.Candidate.Job.Index, Group: c.Candidate.Job.Group,
			Params: c.Candidate.Job.Params, Instance: c.Candidate.Instance, PromptID: c.Candidate.PromptID,
			Attempts: c.Candidate.Attempt, Queued: c.Candidate.Queued, Started: c.Candidate.Started,
			Finished: c.Candidate.Finished, Generation: 2 * time.Second, Download: c.Candidate.Download,
			Total: c.Total, Rejected: c.Rejected, Path: c.Candidate.Path, SHA256: c.Candidate.SHA256,
			Images: 1, BatchSize: 1, Scores: c.Scores,
		}
		if i < 2 {
			want.Width, want.Height = 64+i, 32
			fi, err := os.Stat(filepath.Join(run.OutputDir, c.Candidate.Path))
			if err != nil {
				t.Fatal(err)
			}
			want.Bytes = fi.Size()
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("candidate %d:\n got %+v\nwant %+v", i, v, want)
		}
	}
}

func TestEachCandidateQueries(t *testing.T) {
	s, run := viewFixture(t)
	idx := func(cs []ViewCandidate) []int {
		var out []int
		for _, c := range cs {
			out = append(out, c.Index)
		}
		return out
	}
	all := collect(t, s, run.ID, CandidateQuery{})
	if got := collect(t, s, run.ID, CandidateQuery{SelectedOnly: true}); got != nil {
		t.Errorf("selected before any selection = %v, want none", got)
	}
	for _, x := range []comfybatch.Selection{{Group: "even", Rank: 1, JobKey: all[4].Ref.JobKey}, {Group: "odd", Rank: 1, JobKey: all[1].Ref.JobKey}} {
		if err := s.SaveSelections(t.Context(), run.ID, x.Group, []comfybatch.Selection{x}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		q    CandidateQuery
		want []int
	}{
		{"odd", CandidateQuery{Group: "odd"}, []int{1, 3, 5}},
		{"selected", CandidateQuery{SelectedOnly: true}, []int{1, 4}},
		{"group and selected", CandidateQuery{Group: "even", SelectedOnly: true}, []int{4}},
		{"missing group", CandidateQuery{Group: "none"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := idx(collect(t, s, run.ID, tc.q)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EachCandidate(%+v) indexes = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
	noScores := collect(t, s, run.ID, CandidateQuery{NoScores: true})
	for i, c := range noScores {
		if c.Scores != nil {
			t.Errorf("NoScores: candidate %d has scores %v", c.Index, c.Scores)
		}
		if c.Ref != all[i].Ref || c.Total != all[i].Total || !reflect.DeepEqual(c.Params, all[i].Params) {
			t.Errorf("NoScores: candidate %d = %+v, want the same row as with scores", i, c)
		}
	}

	stop := errors.New("stop")
	n := 0
	err := s.EachCandidate(t.Context(), run.ID, CandidateQuery{}, func(ViewCandidate) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachCandidate with fn failing = %v after %d calls, want stop after 1", err, n)
	}
}

// TestEachCandidateBatches: a job that saved a batch of two images at
// each of two output nodes streams as four candidates in (node, batch
// index) order, each knowing how many images its job yielded and how
// many its node saved; OutputCounts counts them per node.
func TestEachCandidateBatches(t *testing.T) {
	s, run := viewFixture(t)
	ctx := t.Context()
	j := testJob(9, "odd")
	j.Outputs, j.Images = []string{"12", "9"}, 4
	if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{j}); err != nil {
		t.Fatal(err)
	}
	var batch []comfybatch.Scored
	for _, node := range []string{"9", "12"} {
		for i := range 2 {
			sc := testScored(j, 0.5)
			sc.Candidate.Output, sc.Candidate.BatchIndex = node, i
			sc.Candidate.SHA256 = fmt.Sprintf("%s-%d", node, i)
			if i == 1 {
				sc.Rejected = "gate sharpness.laplacian_var: 12 < min 50"
			}
			batch = append(batch, sc)
		}
	}
	if err := s.RecordCandidates(ctx, run.ID, batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range collect(t, s, run.ID, CandidateQuery{Group: "odd"}) {
		got = append(got, fmt.Sprintf("%d %s/%d of %d/%d", c.Index, c.Ref.Output, c.Ref.BatchIndex, c.BatchSize, c.Images))
	}
	want := []string{"1 /0 of 1/1", "3 /0 of 1/1", "5 /0 of 1/1",
		"9 12/0 of 2/4", "9 12/1 of 2/4", "9 9/0 of 2/4", "9 9/1 of 2/4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("candidates (index output/batch of batch size/images) =\n%q\nwant\n%q", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := s.EachCandidate(ctx, run.ID, CandidateQuery{Group: "odd"}, func(c ViewCandidate) error {
		n++
		if c.Images > 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 4 {
		t.Errorf("EachCandidate stopping at the batch = %v after %d calls, want stop after 4", err, n)
	}
	sel := []comfybatch.Selection{{Group: "odd", Rank: 1, JobKey: j.Key, Output: "12", BatchIndex: 1, Total: 0.5}}
	if err := s.SaveSelections(ctx, run.ID, "odd", sel); err != nil {
		t.Fatal(err)
	}
	picked := collect(t, s, run.ID, CandidateQuery{SelectedOnly: true})
	if len(picked) != 1 || picked[0].Ref != sel[0].Ref() || picked[0].BatchSize != 2 || picked[0].Images != 4 {
		t.Errorf("selected = %+v, want only %v with batch size 2 of 4 images", picked, sel[0].Ref())
	}
	oc, err := s.OutputCounts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []OutputCount{{"", 6, 0}, {"12", 2, 1}, {"9", 2, 1}}; !reflect.DeepEqual(oc, want) {
		t.Errorf("OutputCounts = %+v, want %+v", oc, want)
	}
	// One reason from two output nodes is one count.
	rc, err := s.RejectionCounts(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	gate := "gate sharpness.laplacian_var: 12 < min 50"
	wantRC := []ReasonCount{{"even", "", false, 3}, {"odd", "", false, 4}, {"odd", gate, false, 3}}
	if !reflect.DeepEqual(rc, wantRC) {
		t.Errorf("RejectionCounts = %+v, want %+v", rc, wantRC)
	}
}

func TestRejectionAndFailureCounts(t *testing.T) {
	s, run := viewFixture(t)
	rc, err := s.RejectionCounts(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []ReasonCount{
		{"even", "", false, 3},
		{"odd", "", false, 2},
		{"odd", "gate sharpness.laplacian_var: 12 < min 50", false, 1},
	}
	if !reflect.DeepEqual(rc, want) {
		t.Errorf("RejectionCounts = %+v, want %+v", rc, want)
	}
	fc, err := s.FailureClasses(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ClassCount{{"even", comfybatch.ClassExecution, 1}}; !reflect.DeepEqual(fc, want) {
		t.Errorf("FailureClasses = %+v, want %+v", fc, want)
	}
	var got []int
	err = s.EachFailure(t.Context(), run.ID, "", 0, func(f Failure, ps []comfybatch.Param) error {
		got = append(got, f.Index)
		if f.Attempts != 2 || f.Class != comfybatch.ClassExecution || len(ps) != 5 {
			t.Errorf("failure %+v with params %v, want 2 attempts, class execution, 5 params", f, ps)
		}
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, []int{6}) {
		t.Errorf("EachFailure = %v, %v; want [6]", got, err)
	}
	got = nil
	if err := s.EachFailure(t.Context(), run.ID, "odd", 0, func(f Failure, _ []comfybatch.Param) error {
		got = append(got, f.Index)
		return nil
	}); err != nil || got != nil {
		t.Errorf("EachFailure(odd) = %v, %v; want none", got, err)
	}
}

// TestSelectedPathIsLayout: SelectedPath names the file LayoutSelected
// places, for a seeded job and a group name that must be sanitised.
func TestSelectedPathIsLayout(t *testing.T) {
	s, run := viewFixture(t)
	all := collect(t, s, run.ID, CandidateQuery{})
	sel := []comfybatch.Selection{{Group: "even", Rank: 1, JobKey: all[0].Ref.JobKey}, {Group: "odd", Rank: 1, JobKey: all[1].Ref.JobKey}}
	if err := s.LayoutSelected(t.Context(), run, sel); err != nil {
		t.Fatal(err)
	}
	for i, x := range sel {
		c := all[i]
		p := SelectedPath(x.Group, x.Rank, c.Ref, c.Params, c.Path)
		if _, err := os.Stat(filepath.Join(run.OutputDir, p)); err != nil {
			t.Errorf("SelectedPath = %s, which LayoutSelected did not write: %v", p, err)
		}
	}
	if got, want := SelectedPath("a b", 2, comfybatch.Ref{JobKey: "0123456789abcdef", BatchIndex: 3}, nil, "images/x.png"),
		"selected/"+safeName("a b")+"/2_0123456789ab_3.png"; got != want {
		t.Errorf("SelectedPath without seed = %s, want %s", got, want)
	}
}

func TestWriteThumbnail(t *testing.T) {
	s, run := viewFixture(t)
	all := collect(t, s, run.ID, CandidateQuery{})
	c := all[0]
	img := testImage(600, 300)
	if err := s.WriteThumbnail(t.Context(), run, c.SHA256, img); err != nil {
		t.Fatalf("WriteThumbnail = %v", err)
	}
	p := filepath.Join(run.OutputDir, ThumbPath(c.SHA256))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("thumbnail mode %v, want 0644", fi.Mode().Perm())
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	th, err := jpeg.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := th.Bounds(); b.Dx() != ThumbSize || b.Dy() != ThumbSize/2 {
		t.Errorf("thumbnail of 600x300 is %dx%d, want %dx%d", b.Dx(), b.Dy(), ThumbSize, ThumbSize/2)
	}
	// Written once: a second call leaves the file as it is.
	if err := s.WriteThumbnail(t.Context(), run, c.SHA256, testImage(10, 10)); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(p); !os.SameFile(fi, fi2) || fi2.Size() != fi.Size() {
		t.Errorf("second WriteThumbnail replaced the thumbnail")
	}
	// Tidy keeps thumbnails: no row points at them, by design.
	if _, err := s.Tidy(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("Tidy removed the thumbnail: %v", err)
	}
	if err := s.WriteThumbnail(t.Context(), run, "../x", img); err == nil {
		t.Errorf("WriteThumbnail with a non-hex name succeeded")
	}
	if ThumbPath("../etc") != "" || ThumbPath("") != "" {
		t.Errorf("ThumbPath accepted a non-hex name")
	}
	small := testImage(100, 40)
	data, err := MakeThumbnail(small)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := jpeg.DecodeConfig(bytesReader(data)); err != nil || cfg.Width != 100 || cfg.Height != 40 {
		t.Errorf("thumbnail of 100x40 = %+v, %v; want 100x40 (never upscaled)", cfg, err)
	}
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// TestTidyRemovesOrphanThumbnails: a thumbnail whose image no row records
// (a crash between the file and the row) goes with the orphan image.
func TestTidyRemovesOrphanThumbnails(t *testing.T) {
	s, run := viewFixture(t)
	orphan := testImage(20, 20)
	data := pngBytes(t, orphan)
	_, sha, err := s.WriteImage(t.Context(), run, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteThumbnail(t.Context(), run, sha, orphan); err != nil {
		t.Fatal(err)
	}
	kept := collect(t, s, run.ID, CandidateQuery{})[0]
	if err := s.WriteThumbnail(t.Context(), run, kept.SHA256, testImage(30, 30)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Tidy(t.Context(), run)
	if err != nil || n != 2 {
		t.Errorf("Tidy = %d, %v; want the orphan image and its thumbnail removed", n, err)
	}
	if _, err := os.Stat(filepath.Join(run.OutputDir, ThumbPath(sha))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan thumbnail still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(run.OutputDir, ThumbPath(kept.SHA256))); err != nil {
		t.Errorf("Tidy removed the thumbnail of a recorded image: %v", err)
	}
}

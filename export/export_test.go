package export_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/export"
	"github.com/comfybatch/comfybatch/internal/golden"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedClock makes Stats.Duration zero, so _stats.json is golden.
func fixedClock() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }

func runExport(t *testing.T, run *runview.Run, opts export.Options) (export.Stats, string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "export")
	}
	opts.Now = fixedClock
	st, err := export.Export(t.Context(), run, opts)
	if err != nil {
		t.Fatalf("Export(%s): %v", opts.Format, err)
	}
	return st, opts.Dir
}

// listing names every file in dir, one per line, sorted.
func listing(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s\n", e.Name())
	}
	return b.String()
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// sourceImage returns the bytes of the stored image of a job index.
func sourceImage(t *testing.T, run *runview.Run, job int) []byte {
	t.Helper()
	cands, err := run.LoadCandidates(t.Context(), runview.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if c.Index == job {
			return []byte(read(t, run.Abs(c.Path)))
		}
	}
	t.Fatalf("no fixture job %d", job)
	return nil
}

func TestImageFolderGolden(t *testing.T) {
	run := runviewtest.Build(t).Run
	st, dir := runExport(t, run, export.Options{Format: export.ImageFolder})
	golden.Check(t, *update, "imagefolder.files", []byte(listing(t, dir)))
	golden.Check(t, *update, "imagefolder.metadata.jsonl", []byte(read(t, filepath.Join(dir, "metadata.jsonl"))))
	golden.Check(t, *update, "imagefolder._stats.json", []byte(read(t, filepath.Join(dir, "_stats.json"))))
	if st.Count != 7 || st.Successes != 7 || st.Failed != 0 || st.FailedJobs != 1 {
		t.Errorf("stats = %+v, want 7 of 7 exported and 1 failed job", st)
	}
	if got := read(t, filepath.Join(dir, "landscape-000007.png")); got != string(sourceImage(t, run, 7)) {
		t.Error("landscape-000007.png is not the candidate's image byte for byte")
	}
}

func TestJSONLGolden(t *testing.T) {
	run := runviewtest.Build(t).Run
	_, dir := runExport(t, run, export.Options{Format: export.JSONL})
	golden.Check(t, *update, "jsonl.files", []byte(listing(t, dir)))
	lines := read(t, filepath.Join(dir, "candidates.jsonl"))
	// The image paths are absolute in the run folder, a temporary directory.
	if !strings.Contains(lines, `"image":"`+filepath.Join(run.OutputDir, "images")) {
		t.Errorf("candidates.jsonl lacks the absolute image path of job 0:\n%s", lines)
	}
	golden.Check(t, *update, "jsonl.candidates.jsonl", []byte(strings.ReplaceAll(lines, run.OutputDir, "$RUN")))
}

func TestWebDatasetGolden(t *testing.T) {
	run := runviewtest.Build(t).Run
	st, dir := runExport(t, run, export.Options{Format: export.WebDataset, ShardSize: 3, ShardPrefix: "headshots"})
	golden.Check(t, *update, "webdataset.files", []byte(listing(t, dir)))
	if want := []string{"headshots-000000.tar", "headshots-000001.tar", "headshots-000002.tar"}; !slices.Equal(st.Files, want) {
		t.Errorf("Stats.Files = %v, want %v", st.Files, want)
	}
	var b strings.Builder
	for _, shard := range st.Files {
		f, err := os.Open(filepath.Join(dir, shard))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(f)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", shard, err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s %o %s\n", shard, hdr.Name, hdr.Mode, hdr.ModTime.UTC().Format(time.RFC3339))
			switch {
			case strings.HasSuffix(hdr.Name, ".json"):
				b.Write(data)
			case strings.HasSuffix(hdr.Name, ".png"):
				var job int
				if _, err := fmt.Sscanf(hdr.Name[strings.LastIndexByte(hdr.Name, '-')+1:], "%06d.png", &job); err != nil {
					t.Fatalf("member %s: %v", hdr.Name, err)
				}
				if !bytes.Equal(data, sourceImage(t, run, job)) {
					t.Errorf("%s: member %s is not job %d's image", shard, hdr.Name, job)
				}
			default:
				t.Errorf("%s: unexpected member %s", shard, hdr.Name)
			}
		}
		f.Close()
	}
	golden.Check(t, *update, "webdataset.members", []byte(b.String()))
}

func TestSelectedOnly(t *testing.T) {
	run := runviewtest.Build(t).Run
	st, dir := runExport(t, run, export.Options{Format: export.ImageFolder, SelectedOnly: true})
	want := "_stats.json\nlandscape-000006.png\nmetadata.jsonl\nportrait-000000.png\nportrait-000003.png\n"
	if got := listing(t, dir); got != want {
		t.Errorf("files = %q, want %q", got, want)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(read(t, filepath.Join(dir, "metadata.jsonl"))), "\n") {
		keys = append(keys, line[strings.Index(line, `"key":"`)+7:][:15])
	}
	// Group order of the run, then rank.
	if want := []string{"landscape-00000", "portrait-000000", "portrait-000003"}; !slices.Equal(keys, want) {
		t.Errorf("metadata order = %v, want %v", keys, want)
	}
	if g := st.Groups["portrait"]; g.Count != 2 || g.Selected != 2 {
		t.Errorf("portrait stats = %+v, want 2 exported, 2 selected", g)
	}
}

func TestDeterministic(t *testing.T) {
	run := runviewtest.Build(t).Run
	for _, f := range []export.Format{export.ImageFolder, export.WebDataset, export.JSONL} {
		_, a := runExport(t, run, export.Options{Format: f, ShardSize: 4})
		_, b := runExport(t, run, export.Options{Format: f, ShardSize: 4})
		if la, lb := listing(t, a), listing(t, b); la != lb {
			t.Fatalf("%s: two exports list %q and %q", f, la, lb)
		}
		entries, _ := os.ReadDir(a)
		for _, e := range entries {
			if read(t, filepath.Join(a, e.Name())) != read(t, filepath.Join(b, e.Name())) {
				t.Errorf("%s: %s differs between two exports of the same run", f, e.Name())
			}
		}
	}
}

func TestUnreadableImage(t *testing.T) {
	specs := runviewtest.Specs()
	specs[7].Path = "../../etc/passwd" // landscape job 7
	run := runviewtest.BuildWith(t, runviewtest.Options{Specs: specs}).Run
	cands, err := run.LoadCandidates(t.Context(), runview.Filter{Group: "portrait"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(run.Abs(cands[1].Path)); err != nil { // portrait job 1
		t.Fatal(err)
	}
	st, dir := runExport(t, run, export.Options{Format: export.ImageFolder})
	if st.Count != 7 || st.Successes != 5 || st.Failed != 2 || len(st.Failures) != 2 {
		t.Fatalf("stats = %+v, want 5 of 7 exported, 2 failures", st)
	}
	// Groups in the run's order: landscape, then portrait.
	if f := st.Failures[0]; f.Key != "landscape-000007" || !strings.Contains(f.Error, "escapes") {
		t.Errorf("first failure = %+v, want landscape-000007, path escapes", f)
	}
	if f := st.Failures[1]; f.Key != "portrait-000001" || !strings.Contains(f.Error, "no such file") {
		t.Errorf("second failure = %+v, want portrait-000001, no such file", f)
	}
	if strings.Contains(read(t, filepath.Join(dir, "metadata.jsonl")), "portrait-000001") {
		t.Error("metadata.jsonl lists a sample whose image was not exported")
	}
}

func TestInvalidOptions(t *testing.T) {
	run := runviewtest.Build(t).Run
	for _, opts := range []export.Options{
		{Format: "parquet", Dir: t.TempDir()},
		{Format: export.JSONL},
		{Format: export.WebDataset, Dir: t.TempDir(), ShardPrefix: "../x"},
	} {
		if _, err := export.Export(t.Context(), run, opts); !errors.Is(err, comfybatch.ErrInvalid) {
			t.Errorf("Export(%+v) = %v, want ErrInvalid", opts, err)
		}
	}
	if _, err := export.ParseFormat("webdataset"); err != nil {
		t.Errorf("ParseFormat(webdataset) = %v", err)
	}
}

func TestCanceled(t *testing.T) {
	run := runviewtest.Build(t).Run
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	dir := t.TempDir()
	for _, f := range []export.Format{export.ImageFolder, export.WebDataset, export.JSONL} {
		if _, err := export.Export(ctx, run, export.Options{Format: f, Dir: dir}); !errors.Is(err, context.Canceled) {
			t.Errorf("Export(%s) with a canceled context = %v, want context.Canceled", f, err)
		}
	}
	if got := listing(t, dir); got != "" {
		t.Errorf("canceled exports left files: %q", got)
	}
}

func TestSlugs(t *testing.T) {
	// Two groups whose names make the same slug, and one with no letters.
	specs := runviewtest.Specs()
	for i := range specs {
		specs[i].Rank = 0
		switch specs[i].Group {
		case "portrait":
			specs[i].Group = "Portrait, v1.5!"
		case "landscape":
			specs[i].Group = "portrait v1 5"
		}
	}
	specs[7].Group = "???"
	run := runviewtest.BuildWith(t, runviewtest.Options{Specs: specs}).Run
	_, dir := runExport(t, run, export.Options{Format: export.ImageFolder})
	files := strings.Split(listing(t, dir), "\n")
	// The groups in natural order: "???", "Portrait, v1.5!", "portrait v1 5".
	for _, name := range []string{"group-000007.png", "portrait-v1-5-000000.png", "portrait-v1-5-2-000006.png"} {
		if !slices.Contains(files, name) {
			t.Errorf("no %s among %v", name, files)
		}
	}
	if strings.Contains(listing(t, dir), "ComfyUI") {
		t.Error("an exported name comes from the server's file name")
	}
}

func TestLargeSeedStaysExact(t *testing.T) {
	specs := runviewtest.Specs()
	specs[0].Seed = 18446744073709551615
	run := runviewtest.BuildWith(t, runviewtest.Options{Specs: specs}).Run
	_, dir := runExport(t, run, export.Options{Format: export.JSONL, SelectedOnly: true})
	if lines := read(t, filepath.Join(dir, "candidates.jsonl")); !strings.Contains(lines, `"seed":18446744073709551615`) {
		t.Errorf("seed 2^64-1 not written exactly:\n%s", lines)
	}
}

// TestBatched: every image of a prompt is a sample of its own, keyed by
// job, output node and batch index, with what renders it again: seed,
// batch index and size, output node, and for an image of a batch where
// LatentFromBatch goes in the run's workflow.
func TestBatched(t *testing.T) {
	run := runviewtest.BuildWith(t, runviewtest.Options{Batched: true}).Run
	st, dir := runExport(t, run, export.Options{Format: export.ImageFolder})
	if st.Count != 12 || st.Successes != 12 || st.Groups[runviewtest.BatchedGroup].Selected != 3 {
		t.Fatalf("stats = %+v, want 12 exported, 3 selected", st)
	}
	meta := read(t, filepath.Join(dir, "metadata.jsonl"))
	golden.Check(t, *update, "imagefolder_batched.metadata.jsonl", []byte(meta))
	cands, err := run.LoadCandidates(t.Context(), runview.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]export.Sample{}
	for _, line := range strings.Split(strings.TrimSpace(meta), "\n") {
		var s export.Sample
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		if _, dup := byKey[s.Key]; dup {
			t.Errorf("key %s twice", s.Key)
		}
		byKey[s.Key] = s
	}
	for _, c := range cands {
		key := fmt.Sprintf("fox-%06d-%s-%d", c.Index, c.Output, c.BatchIndex)
		s, ok := byKey[key]
		if !ok {
			t.Errorf("no sample %s for %s", key, c.ID)
			continue
		}
		if got := read(t, filepath.Join(dir, s.FileName)); got != read(t, run.Abs(c.Path)) {
			t.Errorf("%s is not the image of %s", s.FileName, c.ID)
		}
		title := map[string]string{"9": "Base", "12": "Upscaled"}[c.Output]
		if s.Seed == nil || *s.Seed != uint64(c.Index%2+1) || s.Output != c.Output || s.OutputTitle != title ||
			s.OutputClass != "SaveImage" || s.BatchIndex != c.BatchIndex || s.BatchSize != c.BatchSize {
			t.Errorf("sample %s = %+v, want seed %d, output %s %q SaveImage, batch index %d of %d", key, s,
				c.Index%2+1, c.Output, title, c.BatchIndex, c.BatchSize)
		}
		switch {
		case c.BatchSize == 1 && s.Reproduce != "":
			t.Errorf("sample %s of a batch of one says %q", key, s.Reproduce)
		case c.BatchSize > 1:
			for _, want := range []string{fmt.Sprintf("seed %d and batch_size 2", c.Index%2+1),
				fmt.Sprintf("LatentFromBatch (batch_index %d, length 1)", c.BatchIndex),
				"between node 5 (EmptyLatentImage) and input latent_image of node 3 (KSampler)"} {
				if !strings.Contains(s.Reproduce, want) {
					t.Errorf("sample %s: reproduce %q lacks %q", key, s.Reproduce, want)
				}
			}
		}
	}
	if len(byKey) != 12 {
		t.Errorf("%d samples, want 12", len(byKey))
	}
	// A job that saved one image keeps the plain key.
	_, dir = runExport(t, runviewtest.Build(t).Run, export.Options{Format: export.JSONL, SelectedOnly: true})
	if lines := read(t, filepath.Join(dir, "candidates.jsonl")); !strings.Contains(lines, `"key":"portrait-000000",`) ||
		strings.Contains(lines, `"reproduce"`) {
		t.Errorf("single-image samples:\n%s\nwant plain keys and no reproduce hint", lines)
	}
}

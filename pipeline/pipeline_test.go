package pipeline

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/testmanifest"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/store"
)

// demoManifest loads the embedded demo manifest with its output in dir.
func demoManifest(t testing.TB, dir string) *manifests.Manifest {
	t.Helper()
	m, err := manifests.LoadFS(examples.FS, "demo.yaml")
	if err != nil {
		t.Fatalf("load demo manifest: %v", err)
	}
	m.Path = filepath.Join(dir, "demo.yaml")
	m.Output.Dir = filepath.Join(dir, "runs")
	m.Output.Database = filepath.Join(dir, "comfybatch.db")
	withFakeCLIP(t, m)
	return m
}

// withFakeCLIP points m's CLIP scorers at a fake embeddings server that
// lives as long as the test.
func withFakeCLIP(t testing.TB, m *manifests.Manifest) {
	clip, url := cliptest.New(cliptest.Options{}).Start()
	t.Cleanup(clip.Close)
	pointCLIP(m, url)
}

// pointCLIP points every CLIP scorer of m at url.
func pointCLIP(m *manifests.Manifest, url string) {
	for _, s := range m.Scorers {
		if o, ok := s.Options.(*manifests.CLIPOptions); ok {
			o.URL = url
		}
	}
}

// smallManifest is the demo cut down to 2 groups × 8 seeds of 64² images,
// for tests that generate several times under the race detector.
func smallManifest(t *testing.T, dir string) *manifests.Manifest {
	t.Helper()
	text, err := testmanifest.Small(8, 64)
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := examples.FS.ReadFile("txt2img.json")
	os.WriteFile(filepath.Join(dir, "txt2img.json"), wf, 0o644)
	os.WriteFile(filepath.Join(dir, "small.yaml"), text, 0o644)
	m, err := manifests.Load(filepath.Join(dir, "small.yaml"))
	if err != nil {
		t.Fatalf("load small manifest: %v", err)
	}
	withFakeCLIP(t, m)
	return m
}

func startFleet(t *testing.T, n int) []generate.Instance {
	t.Helper()
	fleet, err := comfytest.StartFleet(n, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		t.Fatalf("start simulated fleet: %v", err)
	}
	t.Cleanup(func() { fleet.Close() })
	var out []generate.Instance
	for i, u := range fleet.URLs() {
		out = append(out, generate.Instance{Name: string(rune('a' + i)), URL: u})
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestDemoEndToEnd runs the demo manifest against an in-process simulated
// fleet and checks the database, the selection and the files.
func TestDemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	m := demoManifest(t, dir)
	plan, err := m.Plan()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Run(t.Context(), Options{Manifest: m, Instances: startFleet(t, 3), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if out.Done != len(plan.Jobs) || out.Failed != 0 {
		t.Errorf("Run done %d, failed %d; want %d done, 0 failed", out.Done, out.Failed, len(plan.Jobs))
	}

	db, err := sql.Open("sqlite", m.Output.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Every planned candidate is recorded exactly once, done, with scores.
	for _, j := range plan.Jobs {
		var n, scores int
		var status string
		err := db.QueryRow(`SELECT count(*), max(status) FROM jobs WHERE run_id = ? AND job_key = ?`, out.Run.ID, j.Key).Scan(&n, &status)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || status != comfybatch.StatusDone {
			t.Errorf("job %d (%s): %d rows, status %q; want 1 row, done", j.Index, j.Key[:8], n, status)
		}
		if err := db.QueryRow(`SELECT sum(json_array_length(c.scores)) FROM candidates c
			JOIN jobs j ON j.id = c.job_id WHERE j.run_id = ? AND j.job_key = ?`, out.Run.ID, j.Key).Scan(&scores); err != nil {
			t.Fatal(err)
		}
		if scores < len(m.Scorers) {
			t.Errorf("job %d has %d score rows, want at least %d", j.Index, scores, len(m.Scorers))
		}
	}

	// Each group has exactly K selections and they are the K highest totals
	// among the candidates that passed every gate.
	if len(out.Groups) != len(m.Groups) {
		t.Fatalf("outcome has %d groups, manifest %d", len(out.Groups), len(m.Groups))
	}
	for _, g := range out.Groups {
		k := m.TopKFor(g.Name)
		if len(g.Selection) != k {
			t.Errorf("group %s: %d selected, want %d", g.Name, len(g.Selection), k)
		}
		var eligible []float64
		for _, c := range g.Ranked {
			if c.Rejected == "" {
				eligible = append(eligible, c.Total)
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(eligible)))
		for i, s := range g.Selection {
			if i < len(eligible) && s.Total != eligible[i] {
				t.Errorf("group %s rank %d total %.4f, want the %d-th highest %.4f", g.Name, s.Rank, s.Total, i+1, eligible[i])
			}
		}
		var stored int
		if err := db.QueryRow(`SELECT count(*) FROM selections WHERE run_id = ? AND group_name = ?`, out.Run.ID, g.Name).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != k {
			t.Errorf("group %s: %d selections stored, want %d", g.Name, stored, k)
		}
	}

	// Image files exist and decode, each with the thumbnail made while it
	// was decoded for scoring; selected ones are laid out per group.
	rows, err := db.Query(`SELECT c.rel_path, c.sha256 FROM candidates c JOIN jobs j ON j.id = c.job_id WHERE j.run_id = ?`, out.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	files := 0
	for rows.Next() {
		var rel, sha string
		if err := rows.Scan(&rel, &sha); err != nil {
			t.Fatal(err)
		}
		decodePNG(t, filepath.Join(out.Run.OutputDir, rel))
		if th, err := os.ReadFile(filepath.Join(out.Run.OutputDir, store.ThumbPath(sha))); err != nil {
			t.Errorf("no thumbnail of %s: %v", rel, err)
		} else if cfg, err := jpeg.DecodeConfig(bytes.NewReader(th)); err != nil || max(cfg.Width, cfg.Height) != store.ThumbSize {
			t.Errorf("thumbnail of %s: %+v, %v; want a JPEG of %d on its long side", rel, cfg, err, store.ThumbSize)
		}
		files++
	}
	if files != len(plan.Jobs) {
		t.Errorf("%d image rows, want %d", files, len(plan.Jobs))
	}
	for _, g := range out.Groups {
		sel, _ := filepath.Glob(filepath.Join(out.Run.OutputDir, "selected", g.Name, "*.png"))
		if len(sel) != len(g.Selection) {
			t.Errorf("selected/%s has %d files, want %d", g.Name, len(sel), len(g.Selection))
		}
	}
}

func decodePNG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read image: %v", err)
		return
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Errorf("decode %s: %v", path, err)
	}
}

// TestRerunResumesWithoutGenerating runs the demo twice: the second run
// continues the first, generates nothing and selects the same.
func TestRerunResumesWithoutGenerating(t *testing.T) {
	dir := t.TempDir()
	inst := startFleet(t, 2)
	first, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Resumed || second.Run.ID != first.Run.ID || second.Done != 0 || second.Skipped != first.Total {
		t.Errorf("second Run: resumed %v run %d done %d skipped %d; want resumed run %d, 0 done, %d skipped",
			second.Resumed, second.Run.ID, second.Done, second.Skipped, first.Run.ID, first.Total)
	}
	if got, want := selectedKeys(second), selectedKeys(first); !equal(got, want) {
		t.Errorf("second selection %v, want %v", got, want)
	}
}

// cancelAfter is a Generator that passes n results through from a real
// fleet, then cancels the run, as a Ctrl-C would.
type cancelAfter struct {
	inner  Generator
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) RunStream(ctx context.Context, tasks <-chan generate.Task, results chan<- generate.Result) error {
	mid := make(chan generate.Result)
	errc := make(chan error, 1)
	go func() { errc <- c.inner.RunStream(ctx, tasks, mid) }() // owned here: we wait on errc below
	seen := 0
	for {
		select {
		case r := <-mid:
			results <- r
			if seen++; seen == c.n {
				c.cancel()
			}
		case err := <-errc:
			return err
		}
	}
}

// TestCanceledRunResumes cancels a run part-way and checks that the rerun
// generates only what is missing.
func TestCanceledRunResumes(t *testing.T) {
	dir := t.TempDir()
	inst := startFleet(t, 2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	first, err := Run(ctx, Options{Manifest: smallManifest(t, dir), Instances: inst,
		NewGenerator: func(in []generate.Instance, o generate.Options) (Generator, error) {
			f, err := generate.NewFleet(in, o)
			return &cancelAfter{inner: f, n: 5, cancel: cancel}, err
		}})
	if err == nil {
		t.Fatal("canceled Run returned no error")
	}
	if first == nil || first.Done < 5 || first.Done >= first.Total {
		t.Fatalf("canceled Run outcome %+v; want 5 or more, but not all, done", first)
	}
	second, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if second.Run.ID != first.Run.ID || !second.Resumed {
		t.Errorf("resume used run %d (resumed %v), want run %d", second.Run.ID, second.Resumed, first.Run.ID)
	}
	if second.Skipped != first.Done || second.Skipped+second.Done != second.Total {
		t.Errorf("resume: skipped %d, done %d of %d; want skipped = %d done before, and all done", second.Skipped, second.Done, second.Total, first.Done)
	}
}

func selectedKeys(o *Outcome) []string {
	var out []string
	for _, g := range o.Groups {
		for _, s := range g.Selection {
			out = append(out, s.JobKey)
		}
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestExamplesRunOnSim runs every example manifest against the simulated
// fleet, limited to the first jobs of each group (headshots alone plans
// 480 images of 1024²): each must load, generate, score and select.
func TestExamplesRunOnSim(t *testing.T) {
	for _, name := range []string{"demo.yaml", "headshots.yaml", "nightly.yaml", "seed-vs-sampler.yaml"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, examples.FS); err != nil {
				t.Fatal(err)
			}
			m, err := manifests.Load(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			withFakeCLIP(t, m)
			out, err := Run(t.Context(), Options{Manifest: m, Instances: startFleet(t, 2), LimitPerGroup: 2})
			// Two candidates per group may leave a group short (min_score
			// over minmax, phash_distance): that is reported, as
			// ErrIncomplete, and must be the only problem.
			if err != nil && !errors.Is(err, comfybatch.ErrIncomplete) {
				t.Fatalf("Run(%s): %v", name, err)
			}
			if s := out.Summary; s.FailedJobs() != 0 || s.Unfinished != 0 || s.Unscored != 0 || (err != nil) != (len(s.Shortfalls) > 0) {
				t.Errorf("Run(%s) = %v with summary %+v; want no problem but shortfalls", name, err, s)
			}
			if want := 2 * len(m.Groups); out.Total != want || out.Done != want || out.Failed != 0 {
				t.Errorf("Run(%s): total %d, done %d, failed %d; want %d done", name, out.Total, out.Done, out.Failed, want)
			}
			if len(out.Groups) != len(m.Groups) {
				t.Errorf("Run(%s): %d groups ranked, want %d", name, len(out.Groups), len(m.Groups))
			}
		})
	}
}

// TestCtrlCFinishesRunningPromptsAndResumes cancels a run as Ctrl-C does:
// the run stops submitting, deletes its queued prompts, lets the running
// ones finish and records them; the rerun generates only what is left, so
// every job is generated exactly once.
func TestCtrlCFinishesRunningPromptsAndResumes(t *testing.T) {
	dir := t.TempDir()
	fleet, err := comfytest.StartFleet(2, comfytest.Options{TimeScale: 0.5}) // ~400ms an image
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	var inst []generate.Instance
	for i, u := range fleet.URLs() {
		inst = append(inst, generate.Instance{Name: fmt.Sprint("sim", i), URL: u})
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var done atomic.Int32
	first, err := Run(ctx, Options{Manifest: smallManifest(t, dir), Instances: inst, Grace: time.Minute,
		OnFleetEvent: func(e generate.Event) {
			if e.Kind == generate.EventDone && done.Add(1) == 2 {
				cancel() // Ctrl-C while both instances have work queued and running
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Run error = %v, want context.Canceled", err)
	}
	for i, s := range fleet.Servers() {
		wctx, wcancel := context.WithTimeout(t.Context(), time.Second)
		if err := s.WaitIdle(wctx); err != nil {
			t.Errorf("instance %d still has prompts after the run returned: %v", i, err)
		}
		wcancel()
	}
	if first.Done < 2 || first.Done >= first.Total {
		t.Errorf("canceled run recorded %d of %d; want at least the 2 before Ctrl-C and not all", first.Done, first.Total)
	}
	second, err := Run(t.Context(), Options{Manifest: smallManifest(t, dir), Instances: inst})
	if err != nil {
		t.Fatal(err)
	}
	if second.Skipped != first.Done || second.Skipped+second.Done != second.Total {
		t.Errorf("resume skipped %d, generated %d of %d; want %d skipped and the rest generated", second.Skipped, second.Done, second.Total, first.Done)
	}
	succeeded, interrupted := 0, 0
	for _, s := range fleet.Servers() {
		succeeded += s.Stats().Succeeded
		interrupted += s.Stats().Interrupted
	}
	if succeeded != second.Total || interrupted != 0 {
		t.Errorf("servers completed %d prompts and interrupted %d; want each of the %d jobs once, none interrupted", succeeded, interrupted, second.Total)
	}
}

// TestRescoreWithoutGenerating rescores a stored run with one scorer: its
// metrics change, the others' stay, nothing is submitted to an instance.
func TestRescoreWithoutGenerating(t *testing.T) {
	dir := t.TempDir()
	fleet, err := comfytest.StartFleet(1, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	inst := []generate.Instance{{Name: "sim", URL: fleet.URLs()[0]}}
	m := smallManifest(t, dir)
	first, err := Run(t.Context(), Options{Manifest: m, Instances: inst})
	if err != nil {
		t.Fatal(err)
	}
	prompts := fleet.Servers()[0].Stats().Prompts

	m = smallManifest(t, dir)
	m.Scorers[0].Options.(*manifests.SharpnessOptions).LongSide = 16 // sharpness on a coarser copy: different values
	groups, n, err := Rescore(t.Context(), m, first.Run.ID, RescoreOptions{Only: []string{"sharpness"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n != first.Total || len(groups) != len(first.Groups) {
		t.Errorf("Rescore rescored %d candidates in %d groups, want %d in %d", n, len(groups), first.Total, len(first.Groups))
	}
	noSpool(t, m.Output.Database)
	if p := fleet.Servers()[0].Stats().Prompts; p != prompts {
		t.Errorf("Rescore submitted %d prompts, want none", p-prompts)
	}
	before := map[string]comfybatch.Scored{}
	for _, g := range first.Groups {
		for _, c := range g.Ranked {
			before[c.Candidate.Job.Key] = c
		}
	}
	changed := 0
	for _, g := range groups {
		for _, c := range g.Ranked {
			old := before[c.Candidate.Job.Key]
			s1, _ := old.Metric("sharpness", "laplacian_var")
			s2, ok := c.Metric("sharpness", "laplacian_var")
			if !ok {
				t.Fatalf("job %d lost its sharpness score", c.Candidate.Job.Index)
			}
			if s1 != s2 {
				changed++
			}
			c1, _ := old.Metric("clip", "similarity")
			if c2, ok := c.Metric("clip", "similarity"); !ok || c1 != c2 {
				t.Errorf("job %d clip similarity %v -> %v (kept %v); want it kept", c.Candidate.Job.Index, c1, c2, ok)
			}
		}
	}
	if changed == 0 {
		t.Error("no sharpness value changed after rescoring at long_side 16")
	}
	if _, _, err := Rescore(t.Context(), m, first.Run.ID, RescoreOptions{Only: []string{"sharpnes"}}, Options{}); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("Rescore with an unknown scorer = %v, want ErrInvalid", err)
	}
}

// TestUnreachableScorerStopsBeforeGenerating: a CLIP or HTTP scoring
// server that is down is an outage (exit 4), a scorer whose path is wrong
// or whose program does not exist is bad input (exit 2); either way the run
// stops before anything is generated, not with a scoring error on every
// candidate.
func TestUnreachableScorerStopsBeforeGenerating(t *testing.T) {
	fleet, err := comfytest.StartFleet(1, comfytest.Options{TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	extra := func(typ string, opts manifests.ScorerOptions) func(*manifests.Manifest) {
		return func(m *manifests.Manifest) {
			m.Scorers = append(m.Scorers, manifests.ScorerSpec{Type: typ, Name: "extra", Normalize: "rank",
				Metrics: map[string]manifests.MetricSpec{"value": {}}, Options: opts})
		}
	}
	none := 0
	for _, tc := range []struct {
		name, scorer string
		edit         func(*manifests.Manifest)
		want         error
		msg          string
	}{
		{"clip server down", "clip", func(m *manifests.Manifest) {
			pointCLIP(m, "http://127.0.0.1:1")
			for _, s := range m.Scorers {
				if o, ok := s.Options.(*manifests.CLIPOptions); ok {
					o.Retries = &none
				}
			}
		}, comfybatch.ErrOutage, "is unavailable"},
		{"http server down", "extra", extra("http", &manifests.HTTPOptions{URL: "http://127.0.0.1:1/score"}), comfybatch.ErrOutage, "is unavailable"},
		{"http path missing", "extra", extra("http", &manifests.HTTPOptions{URL: notFound.URL + "/score"}), comfybatch.ErrInvalid, "does not work"},
		{"exec program missing", "extra", extra("exec", &manifests.ExecOptions{Command: []string{"/nonexistent/comfybatch-scorer"}}), comfybatch.ErrInvalid, "does not work"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fleet.Servers()[0].Stats().Prompts
			m := smallManifest(t, t.TempDir())
			tc.edit(m)
			_, err := Run(t.Context(), Options{Manifest: m, Instances: []generate.Instance{{Name: "sim", URL: fleet.URLs()[0]}}})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("scorer %q %s", tc.scorer, tc.msg)) {
				t.Fatalf("Run = %v, want %v naming scorer %q", err, tc.want, tc.scorer)
			}
			if other := map[error]error{comfybatch.ErrOutage: comfybatch.ErrInvalid, comfybatch.ErrInvalid: comfybatch.ErrOutage}[tc.want]; errors.Is(err, other) {
				t.Errorf("Run = %v is also %v", err, other)
			}
			if p := fleet.Servers()[0].Stats().Prompts - before; p != 0 {
				t.Errorf("%d prompts ran before the scorer check failed, want 0", p)
			}
		})
	}
}

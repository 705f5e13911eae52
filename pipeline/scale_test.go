package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/generate/comfytest"
	"github.com/comfybatch/comfybatch/internal/cputime"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/manifests/examples"
	"github.com/comfybatch/comfybatch/store"
)

// bigManifest writes a manifest of prompts x seeds jobs: one group per
// prompt of a nightly-style build, random seeds.
func bigManifest(b testing.TB, dir string, prompts, seeds int) *manifests.Manifest {
	b.Helper()
	var lines strings.Builder
	for i := range prompts {
		fmt.Fprintf(&lines, "a photo of subject number %d in soft morning light, 35mm, detailed\n", i)
	}
	text := fmt.Sprintf(`name: big
workflow: txt2img.json
params:
  prompt: {title: Positive, input: text}
groups_from: prompts.txt
sweep:
  seed: {random: {count: %d}}
  sampler_name: [euler]
master_seed: 7
scorers:
  - type: sharpness
select:
  top_k: 4
`, seeds)
	return loadManifest(b, dir, "big.yaml", text, map[string]string{"prompts.txt": lines.String()})
}

// loadManifest writes text to dir/name, with the example txt2img.json and
// the other files given beside it, and loads it.
func loadManifest(t testing.TB, dir, name, text string, files map[string]string) *manifests.Manifest {
	t.Helper()
	wf, _ := examples.FS.ReadFile("txt2img.json")
	files = maps.Clone(files)
	if files == nil {
		files = map[string]string{}
	}
	files["txt2img.json"], files[name] = string(wf), text
	for f, data := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := manifests.Load(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// startRun opens m's database and starts its run in it, as Run would.
func startRun(t testing.TB, m *manifests.Manifest) (*store.Store, store.Run) {
	t.Helper()
	st, err := store.Open(t.Context(), m.Output.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run, err := createRun(t.Context(), st, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, run
}

// benchJobs is how many jobs the scale benchmarks plan: 100,000 by
// default, COMFYBATCH_BENCH_JOBS=1000000 for the million.
func benchJobs() int {
	if n, err := strconv.Atoi(os.Getenv("COMFYBATCH_BENCH_JOBS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkRecordPlan records a large plan the way a run does (the
// producer: expand, record in chunks of 512, look up states) into a fresh
// database, and reports what it costs: bytes of database per job row
// (after a checkpoint; the base workflow and each group's fixed params are
// stored once, a job row keeps its swept values), CPU time per job, and
// the heap in use at the end, which must not grow with the plan.
func BenchmarkRecordPlan(b *testing.B) {
	n := benchJobs()
	prompts := max(n/1000, 1)
	for b.Loop() {
		m, st, run := newBigRun(b, prompts, n/prompts)
		tasks := make(chan generate.Task)
		done := make(chan int)
		go func() { // owned here: it ends when produce closes tasks
			k := 0
			for range tasks {
				k++
			}
			done <- k
		}()
		cpu0 := cputime.Now()
		var counts produced
		reader := &planReader{st: st, runID: run.ID, m: m, fresh: true}
		if err := produce(b.Context(), st, reader, false, tasks, &Progress{}, &counts); err != nil {
			b.Fatal(err)
		}
		sent := <-done
		if err := st.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
		cpu := cputime.Now() - cpu0
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		size := checkpointedSize(b, m.Output.Database)
		if sent != n {
			b.Fatalf("%d tasks sent, want %d", sent, n)
		}
		b.ReportMetric(float64(size)/float64(n), "db-bytes/job")
		b.ReportMetric(cpu.Seconds()*1e6/float64(n), "cpu-us/job")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	}
}

// checkpointedSize is the size of a database once its write-ahead log is
// folded into it.
func checkpointedSize(b testing.TB, path string) int64 {
	b.Helper()
	st, err := store.Open(b.Context(), path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Checkpoint(b.Context()); err != nil {
		b.Fatal(err)
	}
	st.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkSelectLarge re-selects a stored run of many candidates
// (benchJobs: 100,000 by default, one candidate each, in groups of 1000
// with one scored metric), as `batch select` does: read each group's
// candidates and scores, rank, select, record totals and selections, lay
// out selected/. In "reweighted", each selection follows a change of the
// metric's weight, so every candidate's total changes and is written; in
// "unchanged", nothing changed since the last selection.
func BenchmarkSelectLarge(b *testing.B) {
	n := benchJobs()
	m, run := storedBigRun(b, n, n)
	sel := func(b *testing.B) {
		groups, err := Select(b.Context(), m, run.ID, 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(groups) != len(m.Groups) || len(groups[0].Selection) != 4 {
			b.Fatalf("%d groups selected, the first %d", len(groups), len(groups[0].Selection))
		}
	}
	weigh := func(w float64) {
		for name, ms := range m.Scorers[0].Metrics {
			ms.Weight = w
			m.Scorers[0].Metrics[name] = ms
		}
	}
	b.Run("reweighted", func(b *testing.B) {
		w := 1.0
		for b.Loop() {
			w++
			weigh(w)
			sel(b)
		}
		b.ReportMetric(float64(n), "candidates")
	})
	b.Run("unchanged", func(b *testing.B) {
		sel(b) // totals as they will stay
		for b.Loop() {
			sel(b)
		}
		b.ReportMetric(float64(n), "candidates")
	})
}

// BenchmarkRerunStart measures how long the rerun of an interrupted large
// run (benchJobs jobs, the first half of the plan done: the worst case,
// where every done job comes before the first one to generate) takes from
// its start to its first submission: opening the database, streaming the
// plan past the done jobs, checking the instances.
func BenchmarkRerunStart(b *testing.B) {
	n := benchJobs()
	m, _ := storedBigRun(b, n, n/2)
	_, inst := simFleet(b, comfytest.Options{TimeScale: 1e-4}, comfytest.Options{TimeScale: 1e-4})
	var total time.Duration
	for b.Loop() {
		ctx, cancel := context.WithCancel(b.Context())
		var first atomic.Int64
		start := time.Now()
		_, err := Run(ctx, Options{Manifest: m, Instances: inst, Grace: time.Millisecond, OnFleetEvent: func(e generate.Event) {
			if e.Kind == generate.EventSubmitted && first.CompareAndSwap(0, time.Now().UnixNano()) {
				cancel() // Ctrl-C at the first submission
			}
		}})
		cancel()
		if first.Load() == 0 {
			b.Fatalf("the rerun never submitted: %v", err)
		}
		total += time.Unix(0, first.Load()).Sub(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-first-submit")
	b.ReportMetric(float64(n/2), "jobs-done")
}

// BenchmarkRescoreLarge rescores a stored run of benchJobs candidates
// (100,000 by default, groups of 1000, one tiny image file shared by all)
// with the manifest's scorers and re-selects it, as `batch rescore` does,
// and reports the peak of HeapAlloc above its level before the first
// rescore (sampled every 5 ms, so garbage not yet collected counts) and
// the wall time per candidate. Rescoring streams the run: what grows with
// it is the re-selection's result for each group, not the candidates.
func BenchmarkRescoreLarge(b *testing.B) {
	n := benchJobs()
	m, run := storedBigRun(b, n, n)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if h := ms.HeapAlloc; h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		_, got, err := Rescore(b.Context(), m, run.ID, RescoreOptions{}, Options{})
		if err != nil || got != n {
			b.Fatalf("Rescore = %d, %v; want %d", got, err, n)
		}
		total += time.Since(start)
	}
	close(stop)
	sampler.Wait()
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), base.HeapAlloc))/(1<<20), "peak-heap-MB")
	b.ReportMetric(total.Seconds()*1e6/float64(b.N)/float64(n), "µs/candidate")
}

// newBigRun writes bigManifest(prompts, seeds) in a temporary folder and
// starts its run in a fresh database, as Run would.
func newBigRun(b *testing.B, prompts, seeds int) (*manifests.Manifest, *store.Store, store.Run) {
	b.Helper()
	m := bigManifest(b, b.TempDir(), prompts, seeds)
	st, run := startRun(b, m)
	return m, st, run
}

// storedBigRun stores a run of bigManifest's n jobs (groups of 1000) as
// its first process would have left it: every job planned, the first done
// of them (in plan order) done with one scored candidate each, all
// sharing one real image file.
func storedBigRun(b *testing.B, n, done int) (*manifests.Manifest, store.Run) {
	b.Helper()
	m, st, run := newBigRun(b, max(n/1000, 1), min(n, 1000))
	img, sha, err := st.WriteImage(b.Context(), run, tinyPNG(b))
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]comfybatch.Job, 0, 512)
	record := func() {
		if err := st.PlanJobs(b.Context(), run.ID, chunk); err != nil {
			b.Fatal(err)
		}
		for _, j := range chunk {
			if j.Index >= done {
				continue
			}
			sc := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: j, Output: "9", Path: img, SHA256: sha},
				Scores: []comfybatch.Score{{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": float64(j.Index % 997)}}}}
			if err := st.RecordCandidate(b.Context(), run.ID, sc); err != nil {
				b.Fatal(err)
			}
		}
		chunk = chunk[:0]
	}
	for j, err := range m.Jobs() {
		if err != nil {
			b.Fatal(err)
		}
		chunk = append(chunk, j)
		if len(chunk) == cap(chunk) {
			record()
		}
	}
	record()
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return m, run
}

func tinyPNG(b testing.TB) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

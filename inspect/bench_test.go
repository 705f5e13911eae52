package inspect_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// benchCandidates is the size of the synthetic run of BenchmarkShowLarge:
// a million by default, COMFYBATCH_BENCH_CANDIDATES to change it.
func benchCandidates(b *testing.B) int {
	if s := os.Getenv("COMFYBATCH_BENCH_CANDIDATES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 1_000_000
}

// largeRun records a run of n candidates in 10 groups through the store's
// public API, as the pipeline would: params, two metrics, one in seven
// rejected by a gate, one in a hundred failed, 10 selected per group.
func largeRun(b *testing.B, n int) (*store.Store, int64) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "large.db")
	st, err := store.Open(ctx, path, store.Options{BatchSize: 2048})
	if err != nil {
		b.Fatal(err)
	}
	run, err := st.CreateRun(ctx, store.Run{Name: "large", ManifestPath: "large.yaml", OutputDir: "/srv/runs/large"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	samplers := []string{"euler", "dpmpp_2m", "dpmpp_2m_sde", "heun"}
	const chunk = 20_000
	sel := map[string][]comfybatch.Selection{}
	for lo := 0; lo < n; lo += chunk {
		var jobs []comfybatch.Job
		for i := lo; i < min(lo+chunk, n); i++ {
			g := fmt.Sprintf("g%d", i%10)
			jobs = append(jobs, comfybatch.Job{Key: fmt.Sprintf("%064x", i), Index: i, Group: g, Workflow: []byte("{}"),
				Params: []comfybatch.Param{{Name: "prompt", Value: "prompt of " + g}, {Name: "seed", Value: uint64(i)},
					{Name: "sampler_name", Value: samplers[i%4]}, {Name: "cfg", Value: 7.5}}})
		}
		if err := st.PlanJobs(ctx, run.ID, jobs); err != nil {
			b.Fatal(err)
		}
		for _, j := range jobs {
			i := j.Index
			if i%100 == 99 {
				if err := st.RecordFailure(ctx, run.ID, j.Key, 3, comfybatch.ErrExecution); err != nil {
					b.Fatal(err)
				}
				continue
			}
			sc := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: j, Instance: "gpu-1", Attempt: 1,
				Path: "images/" + j.Key[:2] + "/" + j.Key + ".png", SHA256: j.Key},
				Scores: []comfybatch.Score{{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": float64(i % 500)}}},
				Total:  float64(i%1000) / 1000}
			if i%7 == 3 {
				sc.Rejected = comfybatch.GateReason("sharpness.laplacian_var", float64(i%50), "<", "min", 50)
			}
			if len(sel[j.Group]) < 10 && i%7 != 3 {
				sel[j.Group] = append(sel[j.Group], comfybatch.Selection{Group: j.Group, Rank: len(sel[j.Group]) + 1,
					JobKey: j.Key, Total: sc.Total})
			}
			if err := st.RecordCandidate(ctx, run.ID, sc); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	for g, s := range sel {
		if err := st.SaveSelections(ctx, run.ID, g, s); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("recorded %d candidates in %v", n, time.Since(start).Round(time.Second))
	// batch show runs after the run, in a process of its own: close the
	// store (which checkpoints its write-ahead log) and open it again.
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if st, err = store.Open(ctx, path, store.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, run.ID
}

// BenchmarkShowLarge measures batch show on a synthetic run of a million
// candidates: opening the run (aggregates in SQL), the report (selected
// candidates and a page of failures) and its text.
func BenchmarkShowLarge(b *testing.B) {
	n := benchCandidates(b)
	st, id := largeRun(b, n)
	ctx := context.Background()
	for b.Loop() {
		r, err := runview.Open(ctx, st, id)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := inspect.Show(ctx, r, "", inspect.ShowOptions{Failures: 10})
		if err != nil {
			b.Fatal(err)
		}
		if err := rep.WriteText(discard{}, false); err != nil {
			b.Fatal(err)
		}
		if rep.Candidates != n-n/100 || len(rep.Selected) != 100 {
			b.Fatalf("show: %d candidates, %d selected; want %d, 100", rep.Candidates, len(rep.Selected), n-n/100)
		}
	}
	b.ReportMetric(float64(n), "candidates")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

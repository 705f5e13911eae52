package inspect_test

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// Compare the samplers of a small run, as batch compare RUN --by
// sampler_name does.
func ExampleCompare() {
	dir, err := os.MkdirTemp("", "inspect-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, filepath.Join(dir, "runs.sqlite"), store.Options{
		Now: func() time.Time { return start.Add(20 * time.Minute) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	run, err := st.CreateRun(ctx, store.Run{Name: "demo", ManifestPath: "demo.yaml", OutputDir: "/runs/demo", Started: start})
	if err != nil {
		log.Fatal(err)
	}
	for i, sampler := range []string{"euler", "dpmpp_2m", "euler", "dpmpp_2m"} {
		job := comfybatch.Job{Key: string(rune('a' + i)), Index: i, Group: "cats", Params: []comfybatch.Param{
			{Name: "seed", Value: int64(i)}, {Name: "sampler_name", Value: sampler}}}
		sc := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: job}, Total: float64(i) / 4}
		if i == 0 {
			sc.Rejected = "gate sharpness.laplacian_var: 12 < min 50"
		}
		if err := st.RecordCandidate(ctx, run.ID, sc); err != nil {
			log.Fatal(err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	if err := st.SaveSelections(ctx, run.ID, "cats", []comfybatch.Selection{{Rank: 1, JobKey: "d", Total: 0.75}}); err != nil {
		log.Fatal(err)
	}
	if err := st.SetRunStatus(ctx, run.ID, store.RunDone); err != nil {
		log.Fatal(err)
	}

	r, err := runview.Open(ctx, st, run.ID)
	if err != nil {
		log.Fatal(err)
	}
	c, err := inspect.Compare(ctx, r, []string{"sampler_name"}, "", inspect.CompareOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WriteText(os.Stdout, false); err != nil {
		log.Fatal(err)
	}
	// Output:
	// run 1 "demo": done
	// manifest  demo.yaml
	// output    /runs/demo
	// started   2026-11-23 02:00:00 UTC, finished 2026-11-23 02:20:00, took 20m0s
	//
	// 4 candidates by sampler_name, all groups
	// totals, with 95% intervals from 2000 bootstrap resamples (seed 1)
	// SAMPLER_NAME  N   MEAN  95% CI          MEDIAN   BEST    PASS  SEL  VS BEST  95% CI
	// dpmpp_2m      2  0.500  [0.250, 0.750]   0.500  0.750  100.0%    1     best
	// euler         2  0.250  [0.000, 0.500]   0.250  0.500   50.0%    0   -0.250  [-0.750, 0.250]
	//
	// best mean: sampler_name=dpmpp_2m, 0.500 [0.250, 0.750] over 2 candidates
	// not clearly behind it (the interval includes 0): euler
}

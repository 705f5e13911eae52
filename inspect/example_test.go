package inspect_test

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/inspect"
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

	c, err := inspect.Compare(ctx, st, run.ID, "sampler_name", "")
	if err != nil {
		log.Fatal(err)
	}
	if err := c.WriteText(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// run 1 "demo": done
	// manifest  demo.yaml
	// output    /runs/demo
	// started   2026-11-23 02:00:00 UTC, finished 2026-11-23 02:20:00, took 20m0s
	//
	// candidates by sampler_name, all groups
	// SAMPLER_NAME  COUNT  MEAN  MEDIAN  BEST  PASS RATE  SELECTED
	// dpmpp_2m      2      0.5   0.5     0.75  100.0%     1
	// euler         2      0.25  0.25    0.5   50.0%      0
}

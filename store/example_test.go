package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// A run in miniature: plan a job, record the prompt id before submitting
// it, store the image and the scored candidate, then select it.
func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	st, err := store.Open(ctx, filepath.Join(dir, "runs.sqlite"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	run, err := st.CreateRun(ctx, store.Run{Name: "demo", ManifestPath: "demo.yaml", OutputDir: filepath.Join(dir, "run-1")})
	if err != nil {
		log.Fatal(err)
	}
	job := comfybatch.Job{Key: "k1", Group: "cats", Params: []comfybatch.Param{{Name: "seed", Value: uint64(18446744073709551615)}}}
	if err := st.PlanJobs(ctx, run.ID, []comfybatch.Job{job}); err != nil {
		log.Fatal(err)
	}
	if err := st.RecordAttempt(ctx, run.ID, job.Key, store.Attempt{Instance: "gpu-1", PromptID: "p1", Number: 1}); err != nil {
		log.Fatal(err)
	}
	// ... POST /prompt, wait, download ...
	image := []byte("\x89PNG\r\n\x1a\n...")
	path, sha, err := st.WriteImage(ctx, run, image)
	if err != nil {
		log.Fatal(err)
	}
	c := comfybatch.Candidate{Job: job, Instance: "gpu-1", PromptID: "p1", Attempt: 1, Image: image, Path: path, SHA256: sha}
	scored := comfybatch.Scored{Candidate: c, Scores: []comfybatch.Score{{Scorer: "size", Metrics: map[string]float64{"width": 1024}}}, Total: 1}
	if err := st.RecordCandidate(ctx, run.ID, scored); err != nil {
		log.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	sel := []comfybatch.Selection{{Group: "cats", Rank: 1, JobKey: job.Key, Total: 1}}
	if err := st.SaveSelections(ctx, run.ID, "cats", sel); err != nil {
		log.Fatal(err)
	}
	if err := st.LayoutSelected(ctx, run, sel); err != nil {
		log.Fatal(err)
	}

	cands, err := st.Candidates(ctx, run.ID, "cats")
	if err != nil {
		log.Fatal(err)
	}
	seed, _ := cands[0].Candidate.Job.Seed()
	counts, _ := st.Counts(ctx, run.ID)
	_, err = os.Stat(filepath.Join(run.OutputDir, "selected", "cats", "1_18446744073709551615.png"))
	fmt.Println(len(cands), seed, counts.All.Done, err == nil)
	// Output: 1 18446744073709551615 1 true
}

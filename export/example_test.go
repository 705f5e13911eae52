package export_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/export"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

func ExampleExport() {
	// A run of one selected candidate, recorded as the pipeline records it.
	dir, err := os.MkdirTemp("", "comfybatch-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "runs.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	rec, err := st.CreateRun(ctx, store.Run{Name: "example", OutputDir: filepath.Join(dir, "run")})
	if err != nil {
		log.Fatal(err)
	}
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 16, 16))); err != nil {
		log.Fatal(err)
	}
	path, sha, err := st.WriteImage(ctx, rec, img.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	job := comfybatch.Job{Key: "k0", Index: 0, Group: "Hero Shots",
		Params: []comfybatch.Param{{Name: "prompt", Value: "a red fox"}, {Name: "seed", Value: uint64(42)}}}
	if err := st.RecordCandidate(ctx, rec.ID, comfybatch.Scored{
		Candidate: comfybatch.Candidate{Job: job, Path: path, SHA256: sha, Image: img.Bytes()}, Total: 1,
	}); err != nil {
		log.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	if err := st.SaveSelections(ctx, rec.ID, "Hero Shots", []comfybatch.Selection{{Rank: 1, JobKey: "k0", Total: 1}}); err != nil {
		log.Fatal(err)
	}
	run, err := runview.Open(ctx, st, rec.ID)
	if err != nil {
		log.Fatal(err)
	}

	stats, err := export.Export(ctx, run, export.Options{
		Format:       export.ImageFolder,
		Dir:          filepath.Join(dir, "dataset"),
		SelectedOnly: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stats.Successes, "of", stats.Count, "exported:", stats.Files)
	meta, err := os.ReadFile(filepath.Join(dir, "dataset", "metadata.jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(meta))
	// Output:
	// 1 of 1 exported: [metadata.jsonl]
	// {"key":"hero-shots-000000","file_name":"hero-shots-000000.png","path":"images/33/3392fc269d52d772b79aeee938a6e73d4ac7f40323b9e508e66c05333a4e0c3c.png","run_id":1,"run":"example","group":"Hero Shots","job_index":0,"job_key":"k0","prompt":"a red fox","params":{"prompt":"a red fox","seed":42},"seed":42,"batch_index":0,"batch_size":1,"scores":{},"total":1,"selected":true,"rank":1,"sha256":"3392fc269d52d772b79aeee938a6e73d4ac7f40323b9e508e66c05333a4e0c3c","width":16,"height":16,"bytes":75}
}

package export_test

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/export"
	"github.com/comfybatch/comfybatch/report"
)

func ExampleExport() {
	// A run folder with one image, as the store would describe it.
	runDir, err := os.MkdirTemp("", "comfybatch-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(runDir)
	f, err := os.Create(filepath.Join(runDir, "000000.png"))
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 16, 16))); err != nil {
		log.Fatal(err)
	}
	f.Close()
	job := comfybatch.Job{Key: "k0", Index: 0, Group: "Hero Shots",
		Params: []comfybatch.Param{{Name: "prompt", Value: "a red fox"}, {Name: "seed", Value: uint64(42)}}}
	run := report.Run{
		ID: 1, Name: "example", OutputDir: runDir,
		Groups: []report.Group{{Name: "Hero Shots", TopK: 1, Candidates: []comfybatch.Scored{
			{Candidate: comfybatch.Candidate{Job: job, Path: "000000.png"}, Total: 1},
		}}},
		Selections: []comfybatch.Selection{{Group: "Hero Shots", Rank: 1, JobKey: "k0", Total: 1}},
	}

	st, err := export.Export(context.Background(), run, export.Options{
		Format:       export.ImageFolder,
		Dir:          filepath.Join(runDir, "dataset"),
		SelectedOnly: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Successes, "of", st.Count, "exported:", st.Files)
	meta, err := os.ReadFile(filepath.Join(runDir, "dataset", "metadata.jsonl"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(meta))
	// Output:
	// 1 of 1 exported: [metadata.jsonl]
	// {"key":"hero-shots-000000","file_name":"hero-shots-000000.png","path":"000000.png","run_id":1,"run":"example","group":"Hero Shots","job_index":0,"job_key":"k0","prompt":"a red fox","params":{"prompt":"a red fox","seed":42},"scores":{},"total":1,"selected":true,"rank":1,"width":16,"height":16,"bytes":75}
}

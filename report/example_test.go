package report_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// exampleRun records a run of 2 seeds × 2 samplers in a temporary folder,
// as the pipeline would, and opens it; close it with the returned func.
func exampleRun() (*runview.Run, func()) {
	dir, err := os.MkdirTemp("", "report-example")
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "runs.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := st.CreateRun(ctx, store.Run{Name: "example", OutputDir: filepath.Join(dir, "run")})
	if err != nil {
		log.Fatal(err)
	}
	i := 0
	for _, sampler := range []string{"euler", "dpmpp_2m"} {
		for _, seed := range []uint64{1, 2} {
			img := image.NewRGBA(image.Rect(0, 0, 96, 64))
			for p := range img.Pix {
				img.Pix[p] = uint8(40 * (i + 1))
			}
			img.Set(0, 0, color.Black)
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				log.Fatal(err)
			}
			path, sha, err := st.WriteImage(ctx, rec, b.Bytes())
			if err != nil {
				log.Fatal(err)
			}
			if err := st.WriteThumbnail(ctx, rec, sha, img); err != nil {
				log.Fatal(err)
			}
			job := comfybatch.Job{Key: fmt.Sprintf("k%d", i), Index: i, Group: "hero", Params: []comfybatch.Param{
				{Name: "prompt", Value: "a red fox"}, {Name: "seed", Value: seed}, {Name: "sampler_name", Value: sampler}}}
			sc := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: job, Path: path, SHA256: sha, Image: b.Bytes()},
				Total: float64(i) / 4}
			if err := st.RecordCandidate(ctx, rec.ID, sc); err != nil {
				log.Fatal(err)
			}
			i++
		}
	}
	if err := st.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	sel := []comfybatch.Selection{{Rank: 1, JobKey: "k3", Total: 0.75}, {Rank: 2, JobKey: "k2", Total: 0.5}}
	if err := st.SaveSelections(ctx, rec.ID, "hero", sel); err != nil {
		log.Fatal(err)
	}
	run, err := runview.Open(ctx, st, rec.ID)
	if err != nil {
		log.Fatal(err)
	}
	return run, func() { st.Close(); os.RemoveAll(dir) }
}

func ExampleWrite() {
	run, done := exampleRun()
	defer done()

	page, err := report.Write(context.Background(), filepath.Join(run.OutputDir, "report"), run, report.Options{})
	if err != nil {
		log.Fatal(err)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		log.Fatal(err)
	}
	thumbs, _ := filepath.Glob(filepath.Join(filepath.Dir(page), "thumbs", "*.jpg"))
	fmt.Println(filepath.Base(page), len(thumbs), "thumbnails")
	fmt.Println(strings.Count(string(html), `class="badge sel"`), "selected")
	// Output:
	// report.html 4 thumbnails
	// 2 selected
}

func ExampleGrid() {
	run, done := exampleRun()
	defer done()

	img, err := report.Grid(context.Background(), run, report.GridOptions{X: "seed", Y: "sampler_name", CellSize: 64})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Bounds().Size())
	// Output:
	// (480,343)
}

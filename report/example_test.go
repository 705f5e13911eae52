package report_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/report"
)

// exampleRun writes four small PNGs into a temporary run folder and
// describes them: seeds 1 and 2 × samplers euler and dpmpp_2m, one group,
// the best two selected. The caller removes the folder.
func exampleRun() report.Run {
	dir, err := os.MkdirTemp("", "comfybatch-example")
	if err != nil {
		log.Fatal(err)
	}
	run := report.Run{
		ID: 1, Name: "example", Status: "done", OutputDir: dir,
		Started:  time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC),
		Finished: time.Date(2026, 1, 2, 15, 5, 0, 0, time.UTC),
		Counts:   report.Counts{Jobs: 4, Done: 4},
	}
	g := report.Group{Name: "hero", TopK: 2}
	i := 0
	for _, sampler := range []string{"euler", "dpmpp_2m"} {
		for _, seed := range []uint64{1, 2} {
			rel := fmt.Sprintf("images/%06d.png", i)
			img := image.NewRGBA(image.Rect(0, 0, 32, 32))
			for p := range img.Pix {
				img.Pix[p] = uint8(60 * i)
			}
			img.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
			if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
				log.Fatal(err)
			}
			f, err := os.Create(filepath.Join(dir, rel))
			if err != nil {
				log.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				log.Fatal(err)
			}
			f.Close()
			key := fmt.Sprintf("k%d", i)
			g.Candidates = append(g.Candidates, comfybatch.Scored{
				Candidate: comfybatch.Candidate{Path: rel, Job: comfybatch.Job{Key: key, Index: i, Group: "hero",
					Params: []comfybatch.Param{{Name: "seed", Value: seed}, {Name: "sampler_name", Value: sampler}}}},
				Scores: []comfybatch.Score{{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": float64(100 + 10*i)}}},
				Total:  float64(i) / 4,
			})
			i++
		}
	}
	run.Groups = []report.Group{g}
	run.Selections = []comfybatch.Selection{
		{Group: "hero", Rank: 1, JobKey: "k3", Total: 0.75},
		{Group: "hero", Rank: 2, JobKey: "k2", Total: 0.5},
	}
	return run
}

func ExampleWriteHTMLFile() {
	run := exampleRun()
	defer os.RemoveAll(run.OutputDir)

	page, err := report.WriteHTMLFile(context.Background(), filepath.Join(run.OutputDir, "report"), run, report.HTMLOptions{})
	if err != nil {
		log.Fatal(err)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		log.Fatal(err)
	}
	thumbs, _ := filepath.Glob(filepath.Join(filepath.Dir(page), "report_files", "*.jpg"))
	fmt.Println(filepath.Base(page), len(thumbs), "thumbnails")
	fmt.Println(strings.Count(string(html), `class="badge sel"`), "selected")
	// Output:
	// report.html 4 thumbnails
	// 2 selected
}

func ExampleGrid() {
	run := exampleRun()
	defer os.RemoveAll(run.OutputDir)

	img, err := report.Grid(context.Background(), run, report.GridOptions{X: "seed", Y: "sampler_name", CellSize: 64})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Bounds().Size())
	// Output:
	// (300,288)
}

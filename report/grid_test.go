package report_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/internal/golden"
	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/report/reporttest"
)

// TestGridPlacement checks which image lands in which cell, and that the
// pixels there are that image's.
func TestGridPlacement(t *testing.T) {
	run := reporttest.Run(t)
	for _, tc := range []struct {
		name  string
		opts  report.GridOptions
		cols  int
		jobs  []int // row-major, -1 = empty
		wantW int
	}{
		{
			// Columns 1, 2, 10 (numeric order); rows dpmpp_2m, euler.
			name: "portrait seed x sampler",
			opts: report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 100},
			cols: 3,
			jobs: []int{1, 3, -1, 0, 2, 4},
		},
		{
			// Both groups: (1, euler) holds jobs 0 (.92) and 6 (.75);
			// (2, euler) holds 2 (.40) and the rejected 7 (.50).
			name: "all groups",
			opts: report.GridOptions{X: "seed", Y: "sampler_name", CellSize: 100},
			cols: 3,
			jobs: []int{1, 3, -1, 0, 2, 4},
		},
		{
			name: "one row",
			opts: report.GridOptions{X: "sampler_name", Group: "portrait", CellSize: 80},
			cols: 2,
			jobs: []int{1, 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cellW, cellH, boxes, jobs, _, err := report.GridLayout(run, tc.opts)
			if err != nil {
				t.Fatalf("GridLayout: %v", err)
			}
			if !slices.Equal(jobs, tc.jobs) {
				t.Fatalf("cells hold jobs %v, want %v", jobs, tc.jobs)
			}
			img, err := report.Grid(t.Context(), run, tc.opts)
			if err != nil {
				t.Fatalf("Grid: %v", err)
			}
			rows := len(tc.jobs) / tc.cols
			if b := boxes[len(boxes)-1]; !b.In(img.Bounds()) {
				t.Errorf("last cell %v outside the image %v", b, img.Bounds())
			}
			for i, b := range boxes {
				if b.Dx() != tc.opts.CellSize || b.Dy() != tc.opts.CellSize {
					t.Errorf("cell %d is %v, want %d square", i, b.Size(), tc.opts.CellSize)
				}
				r, c := i/tc.cols, i%tc.cols
				if want := boxes[0].Min.Add(image.Pt(c*cellW, r*cellH)); b.Min != want {
					t.Errorf("cell (%d,%d) at %v, want %v", r, c, b.Min, want)
				}
				// Fixture images are 64×48 and never upscaled, so they sit
				// centred; column 3 of each image is never striped.
				at := image.Pt(b.Min.X+(b.Dx()-64)/2+3, b.Min.Y+b.Dy()/2)
				got := toRGBA(img.At(at.X, at.Y))
				if tc.jobs[i] < 0 {
					if !isGrey(got) {
						t.Errorf("empty cell %d has colour %v, want grey", i, got)
					}
					continue
				}
				if want := reporttest.Colour(tc.jobs[i]); got != want {
					t.Errorf("cell %d (job %d) pixel %v = %v, want %v", i, tc.jobs[i], at, got, want)
				}
			}
			if rows*tc.cols != len(boxes) {
				t.Errorf("%d boxes for %d rows × %d columns", len(boxes), rows, tc.cols)
			}
		})
	}
}

func TestGridErrors(t *testing.T) {
	run := reporttest.Run(t)
	for _, opts := range []report.GridOptions{
		{X: "steps"},
		{X: "seed", Y: "denoise"},
		{X: "seed", Group: "nope"},
	} {
		_, err := report.Grid(t.Context(), run, opts)
		if !errors.Is(err, comfybatch.ErrInvalid) {
			t.Errorf("Grid(%+v) = %v, want ErrInvalid", opts, err)
		}
	}
}

func TestGridUnreadableImage(t *testing.T) {
	run := reporttest.Run(t)
	if err := os.Remove(filepath.Join(run.OutputDir, run.Groups[0].Candidates[0].Candidate.Path)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.WriteGridPNG(t.Context(), &buf, run, report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 100}); err != nil {
		t.Fatalf("WriteGridPNG: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("grid is not a PNG: %v", err)
	}
	_, _, boxes, _, _, err := report.GridLayout(run, report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	b := boxes[3] // job 0's cell: (seed 1, euler)
	if got := toRGBA(img.At(b.Min.X+50, b.Min.Y+10)); !isGrey(got) {
		t.Errorf("cell of the missing image has colour %v, want grey", got)
	}
}

// TestGridLabelsGolden pins the placement of the axis titles, the values
// and the score lines (not pixels).
func TestGridLabelsGolden(t *testing.T) {
	run := reporttest.Run(t)
	// A long axis value must be shortened to its cell.
	run.Groups[1].Candidates[0].Candidate.Job.Params[1].Value = "a much longer value than fits"
	_, _, _, _, labels, err := report.GridLayout(run, report.GridOptions{X: "sampler_name", Y: "seed", CellSize: 120})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, *update, "grid_labels.golden", []byte(labels))
}

func toRGBA(c color.Color) color.RGBA { return color.RGBAModel.Convert(c).(color.RGBA) }

// isGrey reports whether c is a light, unsaturated colour, unlike every
// fixture image.
func isGrey(c color.RGBA) bool {
	lo, hi := min(c.R, c.G, c.B), max(c.R, c.G, c.B)
	return lo > 180 && hi-lo < 16
}

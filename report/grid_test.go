package report_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/internal/golden"
	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/runview/runviewtest"
)

func jobsOf(cells []report.GridCell) []int {
	var out []int
	for _, c := range cells {
		out = append(out, c.Job)
	}
	return out
}

func where(t *testing.T, conds ...string) []runview.Cond {
	var out []runview.Cond
	for _, s := range conds {
		c, err := runview.ParseCond(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestGridPlacement checks which image lands in which cell, and that the
// pixels there are that image's.
func TestGridPlacement(t *testing.T) {
	run := runviewtest.Build(t).Run
	for _, tc := range []struct {
		name string
		opts report.GridOptions
		jobs []int // [z][y][x] row-major, -1 = empty
		// bands is how many rows of cells one row of values wraps into.
		bands int
	}{
		{
			// Columns 1, 2, 10 (numeric order); rows dpmpp_2m, euler.
			name: "portrait seed x sampler",
			opts: report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 100},
			jobs: []int{1, 3, -1, 0, 2, 4}, bands: 1,
		},
		{
			name: "one row, where",
			opts: report.GridOptions{X: "seed", Where: where(t, "sampler_name=euler"), Group: "portrait", CellSize: 80},
			jobs: []int{0, 2, 4}, bands: 1,
		},
		{
			// Panels per sampler: one row of seeds each.
			name: "z panels",
			opts: report.GridOptions{X: "seed", Z: "sampler_name", Group: "portrait", CellSize: 80},
			jobs: []int{1, 3, -1, 0, 2, 4}, bands: 1,
		},
		{
			// Two columns fit in 350 pixels: seed 10 wraps onto a band
			// of its own below the rows.
			name: "wrapped",
			opts: report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 100, MaxWidth: 350},
			jobs: []int{1, 3, -1, 0, 2, 4}, bands: 2,
		},
		{
			// Both groups share (seed, sampler): the best of each cell.
			name: "pick best across groups",
			opts: report.GridOptions{X: "seed", Y: "sampler_name", Pick: report.PickBest, CellSize: 100},
			jobs: []int{1, 3, -1, 0, 2, 4}, bands: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cells, _, err := report.GridLayout(t.Context(), run, tc.opts)
			if err != nil {
				t.Fatalf("GridLayout: %v", err)
			}
			if got := jobsOf(cells); !slices.Equal(got, tc.jobs) {
				t.Fatalf("cells hold jobs %v, want %v", got, tc.jobs)
			}
			img, err := report.Grid(t.Context(), run, tc.opts)
			if err != nil {
				t.Fatalf("Grid: %v", err)
			}
			if w := img.Bounds().Dx(); tc.opts.MaxWidth > 0 && w > tc.opts.MaxWidth {
				t.Errorf("grid is %d wide, more than MaxWidth %d", w, tc.opts.MaxWidth)
			}
			tops := map[int]bool{}
			for i, c := range cells {
				b := c.Box
				tops[b.Min.Y] = true
				if b.Dx() != tc.opts.CellSize || b.Dy() != tc.opts.CellSize || !b.In(img.Bounds()) {
					t.Errorf("cell %d is %v, want a %d square inside %v", i, b, tc.opts.CellSize, img.Bounds())
				}
				for j := range i {
					if cells[j].Box.Overlaps(b) {
						t.Errorf("cells %d %v and %d %v overlap", j, cells[j].Box, i, b)
					}
				}
				// Fixture images are 64×48 and never upscaled, so they sit
				// centred; the first 8 columns are never striped.
				at := image.Pt(b.Min.X+(b.Dx()-64)/2+3, b.Min.Y+b.Dy()/2)
				got := toRGBA(img.At(at.X, at.Y))
				if tc.jobs[i] < 0 {
					if !isGrey(got) {
						t.Errorf("empty cell %d has colour %v, want grey", i, got)
					}
					continue
				}
				if want := runviewtest.Colour(tc.jobs[i]); !near(got, want) {
					t.Errorf("cell %d (job %d) pixel %v = %v, want %v", i, tc.jobs[i], at, got, want)
				}
			}
			rows := len(tc.jobs) / 3
			if tc.opts.X == "seed" && len(tops) != rows*tc.bands {
				t.Errorf("cells sit on %d lines, want %d", len(tops), rows*tc.bands)
			}
		})
	}
}

// TestGridHiddenAxis: a cell that would mix settings is an error naming
// what differs and the flags that resolve it, unless --pick best is asked
// for; then every picked cell says so.
func TestGridHiddenAxis(t *testing.T) {
	run := runviewtest.Build(t).Run
	_, err := report.Grid(t.Context(), run, report.GridOptions{X: "seed", Group: "portrait"})
	if !errors.Is(err, comfybatch.ErrInvalid) {
		t.Fatalf("Grid(x seed) = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"2 cells hold more than one candidate", "seed=1", "sampler_name (dpmpp_2m, euler)",
		"--y sampler_name", "--where sampler_name=dpmpp_2m", "--pick best"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Without --group the groups (and their prompts) are hidden too.
	_, err = report.Grid(t.Context(), run, report.GridOptions{X: "seed", Y: "sampler_name"})
	if err == nil || !strings.Contains(err.Error(), "prompt (") || !strings.Contains(err.Error(), "--group landscape") {
		t.Errorf("Grid across groups = %v, want an error naming prompt and --group", err)
	}
	cells, labels, err := report.GridLayout(t.Context(), run, report.GridOptions{X: "seed", Group: "portrait", Pick: report.PickBest})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jobsOf(cells), []int{0, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("picked jobs %v, want %v (the best of each seed)", got, want)
	}
	if cells[0].N != 2 || !strings.Contains(labels, "(best of 2)") || !strings.Contains(labels, "--pick best") ||
		!regexp.MustCompile(`note +"[^"]*sampler_name"`).MatchString(labels) {
		t.Errorf("picked cells %+v, labels:\n%s\nwant counts and the legend saying so", cells, labels)
	}
}

// TestGridFullValues: a seed is written in full, wrapped if it must be; a
// value too long for its column gets a key and the legend has it whole;
// the font covers accents and Cyrillic.
func TestGridFullValues(t *testing.T) {
	specs := runviewtest.Specs()[:2]
	specs[0].Seed = 18446744073709551615
	long := strings.Repeat("a very long sampler name, ", 8) + "the end"
	specs[1].Sampler = long
	specs[0].Sampler = "café Привет"
	specs[1].Rejected = ""
	run := runviewtest.BuildWith(t, runviewtest.Options{Specs: specs}).Run
	_, labels, err := report.GridLayout(t.Context(), run, report.GridOptions{X: "seed", Y: "sampler_name", CellSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	var x []string
	for _, line := range strings.Split(labels, "\n") {
		if strings.HasPrefix(line, "x ") {
			x = append(x, strings.Trim(strings.Fields(line)[1], `"`))
		}
	}
	if got := strings.Join(x, ""); !strings.Contains(got, "18446744073709551615") || len(x) < 3 {
		t.Errorf("x labels %q, want the seed 18446744073709551615 in full, wrapped over lines", x)
	}
	if !strings.Contains(labels, `"[1]"`) || !strings.Contains(labels, "sampler_name [1] = a very long") ||
		!strings.Contains(labels, "the end") {
		t.Errorf("labels lack the legend key of the long value:\n%s", labels)
	}
	if !strings.Contains(labels, `"café"`) || !strings.Contains(labels, `"Привет"`) {
		t.Errorf("labels lack the non-ASCII value:\n%s", labels)
	}
	if !report.FontCovers("café Привет Ελλάδα") {
		t.Error("the grid font lacks glyphs of café Привет Ελλάδα")
	}
}

func TestGridErrors(t *testing.T) {
	run := runviewtest.Build(t).Run
	for _, opts := range []report.GridOptions{
		{X: "steps"},
		{X: "seed", Y: "denoise", Group: "portrait"},
		{X: "seed", Group: "nope"},
		{X: "seed", Group: "portrait", Where: where(t, "sampler_name=heun")},
		{X: "seed", Group: "portrait", Pick: "worst"},
		{},
	} {
		_, err := report.Grid(t.Context(), run, opts)
		if !errors.Is(err, comfybatch.ErrInvalid) {
			t.Errorf("Grid(%+v) = %v, want ErrInvalid", opts, err)
		}
	}
}

func TestGridUnreadableImage(t *testing.T) {
	run := runviewtest.Build(t).Run
	cands, err := run.LoadCandidates(t.Context(), runview.Filter{Where: where(t, "seed=1", "sampler_name=euler"), Group: "portrait"})
	if err != nil || len(cands) != 1 {
		t.Fatalf("job 0 = %v, %v", cands, err)
	}
	for _, p := range []string{cands[0].Path, cands[0].Thumb} {
		if err := os.Remove(run.Abs(p)); err != nil {
			t.Fatal(err)
		}
	}
	opts := report.GridOptions{X: "seed", Y: "sampler_name", Group: "portrait", CellSize: 100}
	var buf bytes.Buffer
	if err := report.WriteGridPNG(t.Context(), &buf, run, opts); err != nil {
		t.Fatalf("WriteGridPNG: %v", err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("grid is not a PNG: %v", err)
	}
	cells, _, err := report.GridLayout(t.Context(), run, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := cells[3].Box // job 0's cell: (seed 1, euler)
	if got := toRGBA(img.At(b.Min.X+50, b.Min.Y+10)); !isGrey(got) {
		t.Errorf("cell of the missing image has colour %v, want grey", got)
	}
}

// TestGridLabelsGolden pins the placement of the titles, the values, the
// score lines and the legend (not pixels).
func TestGridLabelsGolden(t *testing.T) {
	run := runviewtest.Build(t).Run
	_, labels, err := report.GridLayout(t.Context(), run, report.GridOptions{X: "sampler_name", Y: "seed",
		Group: "portrait", CellSize: 120})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, *update, "grid_labels.golden", []byte(labels))
}

func toRGBA(c color.Color) color.RGBA { return color.RGBAModel.Convert(c).(color.RGBA) }

// near reports whether a and b are the same colour but for JPEG's
// rounding (the grid draws small cells from the run's thumbnails).
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return d(a.R, b.R) <= 8 && d(a.G, b.G) <= 8 && d(a.B, b.B) <= 8
}

// isGrey reports whether c is a light, unsaturated colour, unlike every
// fixture image.
func isGrey(c color.RGBA) bool {
	lo, hi := min(c.R, c.G, c.B), max(c.R, c.G, c.B)
	return lo > 180 && hi-lo < 16
}

// imagesOf writes the cells' images as "job output/index", "-" for empty.
func imagesOf(cells []report.GridCell) []string {
	var out []string
	for _, c := range cells {
		if c.Job < 0 {
			out = append(out, "-")
			continue
		}
		out = append(out, fmt.Sprintf("%d %s/%d", c.Job, c.Output, c.BatchIndex))
	}
	return out
}

// TestGridBatched: batch_index and output are axes and --where
// conditions like params, and the images of one prompt sharing a cell are
// the hidden-axis error, naming the batch index and output node and the
// flags that resolve it.
func TestGridBatched(t *testing.T) {
	run := runviewtest.BuildWith(t, runviewtest.Options{Batched: true}).Run
	// BatchedSpecs positions of each image, for its colour.
	pos := map[string]int{}
	for i, s := range runviewtest.BatchedSpecs() {
		pos[fmt.Sprintf("%d %s/%d", s.Index, s.Output, s.BatchIndex)] = i
	}
	for _, tc := range []struct {
		name   string
		opts   report.GridOptions
		images []string // [z][y][x] row-major
		labels []string // x, y or panel labels that must be there
	}{
		{
			name: "seed x batch index, panels by batch size, base images",
			opts: report.GridOptions{X: "seed", Y: runview.BatchIndexName, Z: "batch_size", Where: where(t, "output=9"), CellSize: 80},
			images: []string{"0 9/0", "1 9/0", "-", "-",
				"2 9/0", "3 9/0", "2 9/1", "3 9/1"},
			labels: []string{`panel   "batch_size = 2"`, `y       "1"`},
		},
		{
			name:   "output x batch index of one prompt",
			opts:   report.GridOptions{X: runview.OutputName, Y: runview.BatchIndexName, Where: where(t, "seed=1", "batch_size=2"), CellSize: 80},
			images: []string{"2 9/0", "2 12/0", "2 9/1", "2 12/1"},
			labels: []string{`x       "9 (Base)"`, `x       "12"`, `x       "(Upscaled)"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cells, labels, err := report.GridLayout(t.Context(), run, tc.opts)
			if err != nil {
				t.Fatalf("GridLayout: %v", err)
			}
			if got := imagesOf(cells); !slices.Equal(got, tc.images) {
				t.Fatalf("cells hold %q, want %q", got, tc.images)
			}
			for _, l := range tc.labels {
				if !strings.Contains(labels, l) {
					t.Errorf("labels lack %s:\n%s", l, labels)
				}
			}
			img, err := report.Grid(t.Context(), run, tc.opts)
			if err != nil {
				t.Fatalf("Grid: %v", err)
			}
			for i, c := range cells {
				b := c.Box
				at := image.Pt(b.Min.X+(b.Dx()-64)/2+3, b.Min.Y+b.Dy()/2)
				got := toRGBA(img.At(at.X, at.Y))
				if tc.images[i] == "-" {
					if !isGrey(got) {
						t.Errorf("empty cell %d has colour %v, want grey", i, got)
					}
					continue
				}
				if want := runviewtest.Colour(pos[tc.images[i]]); !near(got, want) {
					t.Errorf("cell %d (%s) pixel %v = %v, want %v", i, tc.images[i], at, got, want)
				}
			}
		})
	}

	for _, tc := range []struct {
		name string
		opts report.GridOptions
		want []string
		not  []string
	}{
		{
			name: "images of one prompt in a cell",
			opts: report.GridOptions{X: "seed", Y: "batch_size"},
			want: []string{"4 cells hold more than one candidate", "seed=1, batch_size=1",
				"output (output nodes: 9 (Base), 12 (Upscaled))", "batch_index (images of one prompt: 0, 1)",
				"--z output or --where output=9", "--z batch_index or --where batch_index=0", "--pick best"},
		},
		{
			name: "batch index only",
			opts: report.GridOptions{X: "seed", Y: "batch_size", Where: where(t, "output=12")},
			want: []string{"2 cells hold", "they differ in batch_index (images of one prompt: 0, 1):",
				"--where batch_index=0"},
			not: []string{"output ("},
		},
		{
			name: "output only",
			opts: report.GridOptions{X: "seed", Y: "batch_index", Z: "batch_size"},
			want: []string{"they differ in output (output nodes: 9 (Base), 12 (Upscaled)):", "--where output=9"},
			not:  []string{"batch_index ("},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := report.Grid(t.Context(), run, tc.opts)
			if !errors.Is(err, comfybatch.ErrInvalid) {
				t.Fatalf("Grid = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q names %q, which is on an axis or filtered", err, w)
				}
			}
		})
	}

	// --pick best shows the best image of each prompt and says what the
	// picked images differ in.
	cells, labels, err := report.GridLayout(t.Context(), run, report.GridOptions{X: "seed", Y: "batch_size", Pick: report.PickBest})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := imagesOf(cells), []string{"0 12/0", "1 12/0", "2 9/0", "3 9/1"}; !slices.Equal(got, want) {
		t.Errorf("picked %q, want %q (accepted, then the highest total)", got, want)
	}
	if !strings.Contains(labels, "(best of 4)") || !strings.Contains(labels, "output, batch_index") {
		t.Errorf("labels do not say what was picked:\n%s", labels)
	}
}

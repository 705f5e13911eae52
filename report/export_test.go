package report

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/comfybatch/comfybatch/runview"
)

// GridCell is one cell of a planned grid, for the external tests.
type GridCell struct {
	Job int // the job index shown, -1 when empty
	// Output and BatchIndex name the image of the job shown.
	Output     string
	BatchIndex int
	N          int // candidates with the cell's values
	Box        image.Rectangle
}

// GridLayout exposes the grid geometry to the external tests: the cells
// ([z][y][x], row-major) and the labels, one per line.
func GridLayout(ctx context.Context, run *runview.Run, opts GridOptions) (cells []GridCell, labels string, err error) {
	opts = opts.withDefaults()
	pn, err := newPen(opts.FontSize)
	if err != nil {
		return nil, "", err
	}
	p, err := planGrid(ctx, run, opts, pn)
	if err != nil {
		return nil, "", err
	}
	for _, c := range p.cells {
		gc := GridCell{Job: -1, N: c.n, Box: c.box}
		if c.c != nil {
			gc.Job, gc.Output, gc.BatchIndex = c.c.Index, c.c.Output, c.c.BatchIndex
		}
		cells = append(cells, gc)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "size %dx%d\n", p.width, p.height)
	for _, l := range p.labels {
		fmt.Fprintf(&b, "%-7s %-40q dot %v\n", l.Role, l.Text, l.Dot)
	}
	return cells, b.String(), nil
}

// FontCovers reports whether the grid font has a glyph for every rune of s.
func FontCovers(s string) bool {
	pn, err := newPen(16)
	if err != nil {
		return false
	}
	for _, r := range s {
		if r == ' ' {
			continue
		}
		if _, ok := pn.face.GlyphAdvance(r); !ok {
			return false
		}
	}
	return true
}

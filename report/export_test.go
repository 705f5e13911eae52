package report

import (
	"fmt"
	"image"
	"strings"
)

// GridLayout exposes the grid geometry to the external tests: the pitch
// of a cell, the image box of each cell (row-major), the job index in each
// cell (-1 when empty) and the labels, one per line.
func GridLayout(run Run, opts GridOptions) (cellW, cellH int, boxes []image.Rectangle, jobs []int, labels string, err error) {
	opts = opts.withDefaults()
	p, err := planGrid(run, opts, newPen(opts.TextScale))
	if err != nil {
		return 0, 0, nil, nil, "", err
	}
	for _, row := range p.cells {
		for _, c := range row {
			if c == nil {
				jobs = append(jobs, -1)
			} else {
				jobs = append(jobs, c.Candidate.Job.Index)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "size %dx%d cell %dx%d\n", p.width, p.height, p.cellW, p.cellH)
	for _, l := range p.labels {
		fmt.Fprintf(&b, "%-7s %-14q box %v dot %v\n", l.Role, l.Text, l.Rect, l.Dot)
	}
	return p.cellW, p.cellH, p.img, jobs, b.String(), nil
}

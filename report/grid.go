package report

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"runtime"
	"sort"

	"github.com/disintegration/imaging"
	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
)

// GridOptions chooses what Grid plots.
type GridOptions struct {
	// X and Y are parameter names (as in comfybatch.Param.Name), such as
	// "seed" and "sampler_name". X is required; an empty Y plots one row.
	X, Y string
	// Group, when set, plots only that group's candidates.
	Group string
	// CellSize is the longest side of a cell's image in pixels; default 256.
	CellSize int
	// TextScale magnifies the 7×13-pixel label font; default 2.
	TextScale int
}

func (o GridOptions) withDefaults() GridOptions {
	if o.CellSize <= 0 {
		o.CellSize = 256
	}
	if o.TextScale <= 0 {
		o.TextScale = 2
	}
	return o
}

// maxGridPixels bounds the grid image (about 1.6 GB of RGBA) so a typo in
// an axis name cannot exhaust memory.
const maxGridPixels = 400_000_000

// Grid draws an X/Y plot of the run's candidates, like the A1111 X/Y/Z
// plot: one column per value of opts.X and one row per value of opts.Y,
// values sorted with NaturalLess (numbers numerically), with the axis
// names and values written as text. Each cell holds the candidate with
// that pair of values (when there are several, the best total among those
// not rejected, ties to the lower job index), framed green when selected
// red when rejected and amber when skipped as a near-duplicate, with its
// total printed under it followed by "#rank", "rej" or "dup". A pair nobody
// generated is a grey cell marked "empty", and an image that cannot be
// read a grey cell marked "unreadable".
//
// Candidates without opts.X (or opts.Y) are left out; if none is left,
// the error wraps comfybatch.ErrInvalid.
func Grid(ctx context.Context, run Run, opts GridOptions) (image.Image, error) {
	opts = opts.withDefaults()
	face := newPen(opts.TextScale)
	p, err := planGrid(run, opts, face)
	if err != nil {
		return nil, err
	}
	if p.width*p.height > maxGridPixels {
		return nil, fmt.Errorf("grid of %d×%d cells is %d×%d pixels, too large; filter by group or lower the cell size: %w",
			len(p.xs), len(p.ys), p.width, p.height, comfybatch.ErrInvalid)
	}
	thumbs, err := loadCells(ctx, run, p, opts.CellSize)
	if err != nil {
		return nil, err
	}
	return drawGrid(p, thumbs, face), nil
}

// WriteGridPNG draws the grid as Grid does and writes it to w as PNG.
func WriteGridPNG(ctx context.Context, w io.Writer, run Run, opts GridOptions) error {
	img, err := Grid(ctx, run, opts)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("write grid png: %w", err)
	}
	return nil
}

// label is one piece of text placed on the grid: Rect is the box it was
// fitted into, Dot the baseline origin it is drawn at.
type label struct {
	Role string // "x-title", "y-title", "x", "y", "score", "empty"
	Text string
	Rect image.Rectangle
	Dot  image.Point
}

// gridPlan is the geometry of a grid, computed before any pixel is drawn.
type gridPlan struct {
	xs, ys       []string
	cells        [][]*comfybatch.Scored // [row][col], nil when empty
	rank         [][]int                // [row][col]: selection rank of the cell's candidate, 0 if not selected
	dup          [][]bool               // [row][col]: the cell's candidate is a near-duplicate of a selected one
	cellW, cellH int                    // pitch, including the gap
	img          []image.Rectangle      // [row*len(xs)+col]: the image area of a cell
	labels       []label
	width        int
	height       int
}

const (
	gridPad = 12
	gridGap = 8
)

func planGrid(run Run, opts GridOptions, face pen) (*gridPlan, error) {
	type entry struct {
		x, y string
		c    *comfybatch.Scored
		g    string
		dups map[string]string
	}
	var entries []entry
	xset, yset := map[string]bool{}, map[string]bool{}
	for gi := range run.Groups {
		g := &run.Groups[gi]
		if opts.Group != "" && g.Name != opts.Group {
			continue
		}
		for ci := range g.Candidates {
			c := &g.Candidates[ci]
			xv, ok := c.Candidate.Job.Param(opts.X)
			if !ok {
				continue
			}
			yv := any("")
			if opts.Y != "" {
				if yv, ok = c.Candidate.Job.Param(opts.Y); !ok {
					continue
				}
			}
			e := entry{comfybatch.FormatValue(xv), comfybatch.FormatValue(yv), c, g.Name, g.NearDuplicates}
			xset[e.x], yset[e.y] = true, true
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		what := fmt.Sprintf("parameter %q", opts.X)
		if opts.Y != "" {
			what = fmt.Sprintf("parameters %q and %q", opts.X, opts.Y)
		}
		if opts.Group != "" {
			what += fmt.Sprintf(" in group %q", opts.Group)
		}
		return nil, fmt.Errorf("grid: no candidate has %s: %w", what, comfybatch.ErrInvalid)
	}
	p := &gridPlan{xs: sortedKeys(xset), ys: sortedKeys(yset)}
	col, row := indexOf(p.xs), indexOf(p.ys)
	p.cells = make([][]*comfybatch.Scored, len(p.ys))
	p.rank = make([][]int, len(p.ys))
	p.dup = make([][]bool, len(p.ys))
	for r := range p.cells {
		p.cells[r] = make([]*comfybatch.Scored, len(p.xs))
		p.rank[r] = make([]int, len(p.xs))
		p.dup[r] = make([]bool, len(p.xs))
	}
	for _, e := range entries {
		r, c := row[e.y], col[e.x]
		if cur := p.cells[r][c]; cur == nil || better(e.c, cur) {
			p.cells[r][c] = e.c
			s, _ := run.Selected(e.g, e.c.Candidate.Job.Key)
			p.rank[r][c] = s.Rank
			_, p.dup[r][c] = e.dups[e.c.Candidate.Job.Key]
		}
	}

	lineH := face.lineHeight() + 4
	ascent := face.ascent()
	cs := opts.CellSize

	leftW := face.width(opts.Y)
	for _, y := range p.ys {
		leftW = max(leftW, face.width(y))
	}
	leftW = min(leftW, 2*cs) // long prompts are truncated rather than widen the grid
	left := gridPad + leftW + gridPad
	top := gridPad + lineH + lineH + gridGap
	p.cellW, p.cellH = cs+gridGap, cs+lineH+gridGap
	p.width = left + len(p.xs)*p.cellW - gridGap + gridPad
	p.height = top + len(p.ys)*p.cellH - gridGap + gridPad
	p.width = max(p.width, left+face.width(opts.X)+gridPad)

	put := func(role, text string, box image.Rectangle, align int) {
		text = face.fit(text, box.Dx())
		w := face.width(text)
		x := box.Min.X
		switch align {
		case 0: // centre
			x += (box.Dx() - w) / 2
		case 1: // right
			x = box.Max.X - w
		}
		baseline := box.Min.Y + (box.Dy()-lineH)/2 + 2 + ascent
		p.labels = append(p.labels, label{role, text, box, image.Pt(x, baseline)})
	}
	gridW := len(p.xs)*p.cellW - gridGap
	put("x-title", opts.X, image.Rect(left, gridPad, left+gridW, gridPad+lineH), 0)
	if opts.Y != "" {
		put("y-title", opts.Y, image.Rect(gridPad, gridPad+lineH, gridPad+leftW, gridPad+2*lineH), 1)
	}
	for c, x := range p.xs {
		x0 := left + c*p.cellW
		put("x", x, image.Rect(x0, gridPad+lineH, x0+cs, gridPad+2*lineH), 0)
	}
	p.img = make([]image.Rectangle, len(p.xs)*len(p.ys))
	for r, y := range p.ys {
		y0 := top + r*p.cellH
		put("y", y, image.Rect(gridPad, y0, gridPad+leftW, y0+cs), 1)
		for c := range p.xs {
			x0 := left + c*p.cellW
			box := image.Rect(x0, y0, x0+cs, y0+cs)
			p.img[r*len(p.xs)+c] = box
			under := image.Rect(x0, y0+cs, x0+cs, y0+cs+lineH)
			if cell := p.cells[r][c]; cell != nil {
				text := scoreText(cell, p.rank[r][c], p.dup[r][c])
				if face.width(text) > cs {
					text = fmt.Sprintf("%.3f", cell.Total) // the frame still tells selected from rejected
				}
				put("score", text, under, 0)
			} else {
				put("empty", "empty", box, 0)
			}
		}
	}
	return p, nil
}

// better reports whether a should fill a cell instead of b: an accepted
// candidate beats a rejected one, then the higher total, then the lower
// job index.
func better(a, b *comfybatch.Scored) bool {
	if (a.Rejected == "") != (b.Rejected == "") {
		return a.Rejected == ""
	}
	if a.Total != b.Total {
		return a.Total > b.Total
	}
	return a.Candidate.Job.Index < b.Candidate.Job.Index
}

// scoreText is the line under a cell: the total, then "#rank" for a
// selected candidate, "rej" for a rejected one or "dup" for a
// near-duplicate.
func scoreText(c *comfybatch.Scored, rank int, dup bool) string {
	s := fmt.Sprintf("%.3f", c.Total)
	switch {
	case rank > 0:
		s += fmt.Sprintf(" #%d", rank)
	case dup:
		s += " dup"
	case c.Rejected != "":
		s += " rej"
	}
	return s
}

// loadCells decodes and fits every non-empty cell's image; a nil entry
// means the image could not be read. Workers write only their own slot.
func loadCells(ctx context.Context, run Run, p *gridPlan, size int) ([]image.Image, error) {
	out := make([]image.Image, len(p.img))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for r := range p.ys {
		for c := range p.xs {
			cell := p.cells[r][c]
			if cell == nil || gctx.Err() != nil {
				continue
			}
			i := r*len(p.xs) + c
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				img, err := openImage(run.OutputDir, cell.Candidate.Path)
				if err != nil {
					return nil // drawn as "unreadable"
				}
				out[i] = imaging.Fit(img, size, size, imaging.Lanczos)
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func drawGrid(p *gridPlan, thumbs []image.Image, face pen) *image.RGBA {
	var (
		gridInk       = color.RGBA{0x1f, 0x23, 0x28, 0xff}
		gridEmpty     = color.RGBA{0xea, 0xee, 0xf2, 0xff}
		gridSelected  = color.RGBA{0x1a, 0x7f, 0x37, 0xff}
		gridRejected  = color.RGBA{0xb4, 0x23, 0x18, 0xff}
		gridDuplicate = color.RGBA{0x9a, 0x67, 0x00, 0xff}
	)
	dst := image.NewRGBA(image.Rect(0, 0, p.width, p.height))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	for r := range p.ys {
		for c := range p.xs {
			i := r*len(p.xs) + c
			box := p.img[i]
			cell := p.cells[r][c]
			if cell == nil || thumbs[i] == nil {
				draw.Draw(dst, box, image.NewUniform(gridEmpty), image.Point{}, draw.Src)
				if cell != nil {
					face.draw(dst, "unreadable", image.Pt(box.Min.X+8, box.Min.Y+box.Dy()/2), gridRejected)
				}
				continue
			}
			t := thumbs[i]
			sz := t.Bounds().Size()
			at := image.Pt(box.Min.X+(box.Dx()-sz.X)/2, box.Min.Y+(box.Dy()-sz.Y)/2)
			draw.Draw(dst, image.Rectangle{at, at.Add(sz)}, t, t.Bounds().Min, draw.Over)
			switch {
			case p.rank[r][c] > 0:
				frame(dst, box, 4, gridSelected)
			case p.dup[r][c]:
				frame(dst, box, 2, gridDuplicate)
			case cell.Rejected != "":
				frame(dst, box, 2, gridRejected)
			}
		}
	}
	for _, l := range p.labels {
		ink := color.Color(gridInk)
		if l.Role == "empty" {
			ink = color.RGBA{0x8c, 0x95, 0x9f, 0xff}
		}
		face.draw(dst, l.Text, l.Dot, ink)
	}
	return dst
}

func frame(dst draw.Image, r image.Rectangle, w int, c color.Color) {
	u := image.NewUniform(c)
	for _, side := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+w)},
		{image.Pt(r.Min.X, r.Max.Y-w), r.Max},
		{r.Min, image.Pt(r.Min.X+w, r.Max.Y)},
		{image.Pt(r.Max.X-w, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, side, u, image.Point{}, draw.Src)
	}
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return NaturalLess(out[i], out[j]) })
	return out
}

func indexOf(vals []string) map[string]int {
	m := make(map[string]int, len(vals))
	for i, v := range vals {
		m[v] = i
	}
	return m
}

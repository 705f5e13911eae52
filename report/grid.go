package report

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/disintegration/imaging"
	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// PickBest is GridOptions.Pick asking each cell to show the best of the
// candidates it holds.
const PickBest = "best"

// GridOptions chooses what Grid plots.
type GridOptions struct {
	// X, Y and Z are parameter names (comfybatch.Param.Name), such as
	// "seed", "sampler_name" and "cfg", or the image fields "batch_index"
	// and "output" (runview.Candidate.Value): one column per value of X,
	// one row per value of Y (empty: one row), one panel per value of Z
	// (empty: one panel). X is required.
	X, Y, Z string
	// Where keeps the candidates that match every condition (--where).
	Where []runview.Cond
	// Group, when set, plots only that group's candidates.
	Group string
	// Pick is "" or PickBest. A cell that would hold more than one
	// candidate is an error naming the parameters that tell them apart
	// (the batch index and output node of the images of one prompt
	// included), unless Pick is PickBest: the cell then shows the best of
	// them (accepted before rejected, then the higher total) and the
	// legend says so.
	Pick string
	// CellSize is the longest side of a cell's image in pixels; default
	// 256.
	CellSize int
	// MaxWidth is the widest the image may be in pixels; columns that do
	// not fit wrap onto further rows. Default 4096.
	MaxWidth int
	// FontSize is the label size in pixels; default 16.
	FontSize float64
}

func (o GridOptions) withDefaults() GridOptions {
	if o.CellSize <= 0 {
		o.CellSize = 256
	}
	if o.MaxWidth <= 0 {
		o.MaxWidth = 4096
	}
	if o.FontSize <= 0 {
		o.FontSize = 16
	}
	return o
}

// maxGridPixels bounds the grid image (about 1.6 GB of RGBA) so a typo in
// an axis name cannot exhaust memory.
const maxGridPixels = 400_000_000

// Grid draws an X/Y/Z plot of the run's candidates, like the A1111 and
// SwarmUI plots: one column per value of opts.X, one row per value of
// opts.Y, one panel per value of opts.Z, values in natural order
// (runview.CompareValues), written in full in the Go Regular font (a value
// too long for three lines under its column gets a key into the legend).
// Columns beyond opts.MaxWidth wrap onto further rows.
//
// Each cell holds the candidate with that combination of values, framed
// green when selected, red when rejected and amber when skipped as a
// near-duplicate, with its total printed under it followed by "#rank",
// "rej" or "dup". A combination nobody generated is a grey cell marked
// "empty", an image that cannot be read a grey cell marked "unreadable".
//
// Candidates without opts.X (or opts.Y, opts.Z) are left out; if none is
// left, or a cell would hold several candidates and opts.Pick is not
// PickBest, the error wraps comfybatch.ErrInvalid and names the
// parameters and flags that resolve it.
func Grid(ctx context.Context, run *runview.Run, opts GridOptions) (image.Image, error) {
	opts = opts.withDefaults()
	pn, err := newPen(opts.FontSize)
	if err != nil {
		return nil, err
	}
	p, err := planGrid(ctx, run, opts, pn)
	if err != nil {
		return nil, err
	}
	if p.width*p.height > maxGridPixels {
		return nil, fmt.Errorf("grid of %d×%d×%d cells is %d×%d pixels, too large; filter with --group or --where, or lower --cell: %w",
			len(p.xs), len(p.ys), len(p.zs), p.width, p.height, comfybatch.ErrInvalid)
	}
	imgs, err := loadCells(ctx, run, p, opts.CellSize)
	if err != nil {
		return nil, err
	}
	return drawGrid(p, imgs, pn), nil
}

// WriteGridPNG draws the grid as Grid does and writes it to w as PNG.
func WriteGridPNG(ctx context.Context, w io.Writer, run *runview.Run, opts GridOptions) error {
	img, err := Grid(ctx, run, opts)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("write grid png: %w", err)
	}
	return nil
}

// label is one line of text placed on the grid at Dot, its baseline
// origin.
type label struct {
	Role string // "title", "note", "panel", "x", "y", "score", "empty", "legend"
	Text string
	Dot  image.Point
}

// gridCell is one combination of axis values and the candidate it shows.
type gridCell struct {
	c   *runview.Candidate // nil: nobody generated it
	n   int                // candidates with these values
	box image.Rectangle    // the image area
}

// gridPlan is the geometry of a grid, computed before any pixel is drawn.
type gridPlan struct {
	xs, ys, zs []any
	cells      []gridCell // [z][y][x], row-major
	labels     []label
	width      int
	height     int
}

func (p *gridPlan) at(z, y, x int) *gridCell {
	return &p.cells[(z*len(p.ys)+y)*len(p.xs)+x]
}

const (
	gridPad       = 16
	gridGap       = 8
	maxLabelLines = 3
)

// axisValues returns the values of name among cands in natural order, with
// the position of each by runview.ValueKey. An empty name has one value,
// nil.
func axisValues(cands []runview.Candidate, name string) ([]any, map[string]int) {
	if name == "" {
		return []any{nil}, map[string]int{runview.ValueKey(nil): 0}
	}
	var vals []any
	seen := map[string]bool{}
	for _, c := range cands {
		v, _ := c.Value(name)
		if k := runview.ValueKey(v); !seen[k] {
			seen[k] = true
			vals = append(vals, v)
		}
	}
	runview.SortValues(vals)
	pos := make(map[string]int, len(vals))
	for i, v := range vals {
		pos[runview.ValueKey(v)] = i
	}
	return vals, pos
}

func axisValue(c runview.Candidate, name string) any {
	if name == "" {
		return nil
	}
	v, _ := c.Value(name)
	return v
}

func planGrid(ctx context.Context, run *runview.Run, opts GridOptions, pn pen) (*gridPlan, error) {
	if opts.X == "" {
		return nil, fmt.Errorf("grid: say which parameter runs along the columns (--x seed): %w", comfybatch.ErrInvalid)
	}
	if opts.Pick != "" && opts.Pick != PickBest {
		return nil, fmt.Errorf("grid: --pick %q: the one choice is best: %w", opts.Pick, comfybatch.ErrInvalid)
	}
	if err := run.CheckGroup(opts.Group); err != nil {
		return nil, fmt.Errorf("grid: %w: %w", err, comfybatch.ErrInvalid)
	}
	all, err := run.LoadCandidates(ctx, runview.Filter{Group: opts.Group, Where: opts.Where})
	if err != nil {
		return nil, err
	}
	axes := []string{opts.X}
	if opts.Y != "" {
		axes = append(axes, opts.Y)
	}
	if opts.Z != "" {
		axes = append(axes, opts.Z)
	}
	var cands []runview.Candidate
	for _, c := range all {
		ok := true
		for _, a := range axes {
			if _, has := c.Value(a); !has {
				ok = false
			}
		}
		if ok {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil, noCandidates(run, opts, axes, len(all))
	}
	p := &gridPlan{}
	var xpos, ypos, zpos map[string]int
	p.xs, xpos = axisValues(cands, opts.X)
	p.ys, ypos = axisValues(cands, opts.Y)
	p.zs, zpos = axisValues(cands, opts.Z)
	p.cells = make([]gridCell, len(p.xs)*len(p.ys)*len(p.zs))
	crowded, example := 0, ""
	for i := range cands {
		c := &cands[i]
		cell := p.at(zpos[runview.ValueKey(axisValue(*c, opts.Z))], ypos[runview.ValueKey(axisValue(*c, opts.Y))],
			xpos[runview.ValueKey(axisValue(*c, opts.X))])
		cell.n++
		if cell.n == 2 {
			crowded++
			if example == "" {
				example = cellName(run, *c, axes)
			}
		}
		if cell.c == nil || better(c, cell.c) {
			cell.c = c
		}
	}
	hidden := hiddenParams(run, cands, axes, opts.Group == "" && len(run.Groups) > 1)
	if crowded > 0 && opts.Pick != PickBest {
		return nil, crowdedError(crowded, example, hidden, opts)
	}
	layout(p, run, opts, pn, crowded > 0, hidden)
	return p, nil
}

// noCandidates explains why no candidate made it onto the grid.
func noCandidates(run *runview.Run, opts GridOptions, axes []string, matched int) error {
	quoted := make([]string, len(axes))
	for i, a := range axes {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	what := "parameter " + quoted[0]
	if len(quoted) > 1 {
		what = "parameters " + strings.Join(quoted, " and ")
	}
	scope := ""
	if opts.Group != "" {
		scope = fmt.Sprintf(" in group %q", opts.Group)
	}
	if len(opts.Where) > 0 && matched == 0 {
		conds := make([]string, len(opts.Where))
		for i, w := range opts.Where {
			conds[i] = w.String()
		}
		return fmt.Errorf("grid: no candidate of run %d%s matches --where %s: %w", run.ID, scope,
			strings.Join(conds, " --where "), comfybatch.ErrInvalid)
	}
	return fmt.Errorf("grid: no candidate of run %d%s has %s (batch compare %d --by NAME lists what they vary in): %w",
		run.ID, scope, what, run.ID, comfybatch.ErrInvalid)
}

// cellName writes a candidate's axis values as name=value pairs.
func cellName(run *runview.Run, c runview.Candidate, axes []string) string {
	parts := make([]string, len(axes))
	for i, a := range axes {
		v, _ := c.Value(a)
		parts[i] = a + "=" + short(run.ValueLabel(a, v), 40)
	}
	return strings.Join(parts, ", ")
}

func short(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// hidden is a parameter that varies among the plotted candidates but is
// on no axis, with a few of its values (for people) and the first of them
// as --where takes it.
type hidden struct {
	name   string
	what   string // what the values are, when the name does not say
	values []string
	first  string
}

// hiddenParams lists the parameters that vary among cands and are on no
// axis, then the image fields that tell apart the images of one prompt
// (output node, batch index); "group" counts as one when the candidates
// span several groups.
func hiddenParams(run *runview.Run, cands []runview.Candidate, axes []string, groups bool) []hidden {
	swept, _ := runview.SplitParams(func(yield func([]comfybatch.Param) bool) {
		for _, c := range cands {
			if !yield(c.Params) {
				return
			}
		}
	})
	var out []hidden
	for _, name := range swept {
		if slices.Contains(axes, name) {
			continue
		}
		vals, _ := axisValues(cands, name)
		out = append(out, hiddenValues(run, hidden{name: name}, vals))
	}
	for _, f := range []struct{ name, what string }{
		{runview.OutputName, "output nodes: "},
		{runview.BatchIndexName, "images of one prompt: "},
	} {
		if slices.Contains(axes, f.name) || slices.ContainsFunc(out, func(h hidden) bool { return h.name == f.name }) {
			continue
		}
		var have []runview.Candidate
		for _, c := range cands {
			if _, ok := c.Value(f.name); ok {
				have = append(have, c)
			}
		}
		if vals, _ := axisValues(have, f.name); len(vals) > 1 {
			out = append(out, hiddenValues(run, hidden{name: f.name, what: f.what}, vals))
		}
	}
	if groups {
		names := map[string]bool{}
		var list []string
		for _, c := range cands {
			if !names[c.Group] {
				names[c.Group] = true
				list = append(list, c.Group)
			}
		}
		if len(list) > 1 {
			slices.SortFunc(list, runview.CompareNatural)
			out = append(out, hidden{name: "group", values: list, first: list[0]})
		}
	}
	return out
}

// hiddenValues fills in h's values from vals, in natural order: the first
// four, written for people, and the first as --where takes it.
func hiddenValues(run *runview.Run, h hidden, vals []any) hidden {
	h.first = short(runview.FormatValue(vals[0]), 24)
	if h.name == runview.OutputName {
		h.first = runview.FormatValue(vals[0]) // a node id: --where needs it whole
	}
	for i, v := range vals {
		if i == 4 {
			h.values = append(h.values, fmt.Sprintf("… %d more", len(vals)-4))
			break
		}
		h.values = append(h.values, short(run.ValueLabel(h.name, v), 24))
	}
	return h
}

// crowdedError says which cells hold several candidates, what tells them
// apart and which flags resolve it.
func crowdedError(crowded int, example string, hid []hidden, opts GridOptions) error {
	cells := fmt.Sprintf("%d cells hold", crowded)
	if crowded == 1 {
		cells = "1 cell holds"
	}
	if len(hid) == 0 {
		return fmt.Errorf("grid: %s more than one candidate (%s, for one) that share every parameter; pass --pick best to show the best of each cell: %w",
			cells, example, comfybatch.ErrInvalid)
	}
	var differ, fixes []string
	for _, h := range hid {
		differ = append(differ, fmt.Sprintf("%s (%s%s)", h.name, h.what, strings.Join(h.values, ", ")))
		switch {
		case h.name == "group":
			fixes = append(fixes, "--group "+h.first)
		case opts.Z == "" && opts.Y != "":
			fixes = append(fixes, "--z "+h.name, "--where "+h.name+"="+h.first)
		case opts.Y == "":
			fixes = append(fixes, "--y "+h.name, "--where "+h.name+"="+h.first)
		default:
			fixes = append(fixes, "--where "+h.name+"="+h.first)
		}
	}
	return fmt.Errorf("grid: %s more than one candidate (%s, for one); they differ in %s: add %s, or pass --pick best to show the best of each cell and say so in the legend: %w",
		cells, example, strings.Join(differ, " and "), strings.Join(fixes, " or "), comfybatch.ErrInvalid)
}

// better reports whether a should fill a cell instead of b: an accepted
// candidate beats a rejected one, then the higher total, then the lower
// job index, then the lower ID.
func better(a, b *runview.Candidate) bool {
	if (a.Rejected == "") != (b.Rejected == "") {
		return a.Rejected == ""
	}
	if a.Total != b.Total {
		return a.Total > b.Total
	}
	if a.Index != b.Index {
		return a.Index < b.Index
	}
	return a.ID.String() < b.ID.String()
}

// keyed is a value too long to label its column or row: it gets a key
// into the legend instead.
type keyed struct {
	key, text string
}

// layout places every label and cell of p.
func layout(p *gridPlan, run *runview.Run, opts GridOptions, pn pen, picked bool, hid []hidden) {
	cs, lh := opts.CellSize, pn.height
	var legend []keyed
	labelLines := func(axis string, v any, w, most int) []string {
		text := run.ValueLabel(axis, v)
		lines := pn.wrap(text, w)
		if len(lines) <= most {
			return lines
		}
		k := fmt.Sprintf("[%d]", len(legend)+1)
		legend = append(legend, keyed{k, axis + " " + k + " = " + text})
		return []string{k}
	}
	// The row labels' column: as wide as the widest value, at most a cell.
	leftW := 0
	if opts.Y != "" {
		leftW = pn.width(opts.Y)
		for _, y := range p.ys {
			leftW = max(leftW, pn.width(run.ValueLabel(opts.Y, y)))
		}
		leftW = min(leftW, cs)
	}
	left := gridPad
	if leftW > 0 {
		left += leftW + gridGap
	}
	pitch := cs + gridGap
	perBand := max(1, (opts.MaxWidth-left-gridPad+gridGap)/pitch)
	cols := min(len(p.xs), perBand)
	// Wide enough for the header and legend to read well, unless the
	// caller asked for narrower.
	p.width = max(left+cols*pitch-gridGap+gridPad, min(480, opts.MaxWidth))
	textW := p.width - 2*gridPad
	put := func(role, text string, x, y int) {
		p.labels = append(p.labels, label{Role: role, Text: text, Dot: image.Pt(x, y+pn.ascent)})
	}
	y := gridPad
	// The header says what the axes are, what was filtered and picked.
	head := "columns: " + opts.X
	if opts.Y != "" {
		head += " · rows: " + opts.Y
	}
	if opts.Z != "" {
		head += " · panels: " + opts.Z
	}
	var notes []string
	if opts.Group != "" {
		notes = append(notes, "group "+opts.Group)
	}
	for _, w := range opts.Where {
		notes = append(notes, "where "+w.String())
	}
	for _, line := range pn.wrap(head, textW) {
		put("title", line, gridPad, y)
		y += lh
	}
	if len(notes) > 0 {
		for _, line := range pn.wrap(strings.Join(notes, " · "), textW) {
			put("note", line, gridPad, y)
			y += lh
		}
	}
	if picked {
		names := make([]string, len(hid))
		for i, h := range hid {
			names[i] = h.name
		}
		note := "--pick best: a cell holding several candidates shows the best of them (its count follows the total)"
		if len(names) > 0 {
			note += "; they differ in " + strings.Join(names, ", ")
		}
		for _, line := range pn.wrap(note, textW) {
			put("note", line, gridPad, y)
			y += lh
		}
	}
	y += gridGap
	yLines := max(1, cs/lh)
	for zi, zv := range p.zs {
		if opts.Z != "" {
			for _, line := range labelLines(opts.Z, zv, textW-pn.width(opts.Z+" = "), 2) {
				put("panel", opts.Z+" = "+line, gridPad, y)
				y += lh
			}
			y += gridGap / 2
		}
		for start := 0; start < len(p.xs); start += perBand {
			end := min(start+perBand, len(p.xs))
			// Column labels of this band, each wrapped under its column.
			var heads [][]string
			most := 1
			for _, xv := range p.xs[start:end] {
				ls := labelLines(opts.X, xv, cs, maxLabelLines)
				heads = append(heads, ls)
				most = max(most, len(ls))
			}
			var yTitle []string
			if opts.Y != "" {
				yTitle = pn.wrap(opts.Y, leftW)
				most = max(most, len(yTitle))
				for j, line := range yTitle {
					put("y-title", line, gridPad+leftW-pn.width(line), y+(most-len(yTitle)+j)*lh)
				}
			}
			for i, ls := range heads {
				x0 := left + i*pitch
				for j, line := range ls {
					put("x", line, x0+(cs-pn.width(line))/2, y+(most-len(ls)+j)*lh)
				}
			}
			y += most*lh + gridGap/2
			for yi, yv := range p.ys {
				if opts.Y != "" {
					ls := labelLines(opts.Y, yv, leftW, yLines)
					top := y + (cs-len(ls)*lh)/2
					for j, line := range ls {
						put("y", line, gridPad+leftW-pn.width(line), top+j*lh)
					}
				}
				for xi := start; xi < end; xi++ {
					cell := p.at(zi, yi, xi)
					x0 := left + (xi-start)*pitch
					cell.box = image.Rect(x0, y, x0+cs, y+cs)
					if cell.c == nil {
						put("empty", "empty", x0+(cs-pn.width("empty"))/2, y+(cs-lh)/2)
						continue
					}
					text := scoreText(cell.c, cell.n)
					put("score", text, x0+(cs-pn.width(text))/2, y+cs+2)
				}
				y += cs + lh + gridGap
			}
			y += gridGap
		}
	}
	keys := []string{"frames: green selected (#rank), red rejected (rej), amber near-duplicate of a selected image (dup)"}
	for _, k := range legend {
		keys = append(keys, k.text)
	}
	for _, k := range keys {
		for _, line := range pn.wrap(k, textW) {
			put("legend", line, gridPad, y)
			y += lh
		}
	}
	p.height = y + gridPad
}

// scoreText is the line under a cell: the total, then "#rank" for a
// selected candidate, "dup" for a near-duplicate or "rej" for another
// rejection, then "of n" when the cell picked the best of n.
func scoreText(c *runview.Candidate, n int) string {
	s := runview.FormatTotal(c.Total)
	switch {
	case c.Rank > 0:
		s += fmt.Sprintf(" #%d", c.Rank)
	case c.RejectKind() == comfybatch.RejectNearDuplicate:
		s += " dup"
	case c.Rejected != "":
		s += " rej"
	}
	if n > 1 {
		s += fmt.Sprintf(" (best of %d)", n)
	}
	return s
}

// loadCells decodes and fits every non-empty cell's image, from the run's
// thumbnail when a cell is no larger than one; a nil entry means the
// image could not be read. Workers write only their own slot.
func loadCells(ctx context.Context, run *runview.Run, p *gridPlan, size int) ([]image.Image, error) {
	out := make([]image.Image, len(p.cells))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, cell := range p.cells {
		if cell.c == nil || gctx.Err() != nil {
			continue
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			if img := cellImage(run, *cell.c, size); img != nil {
				out[i] = imaging.Fit(img, size, size, imaging.Lanczos)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// cellImage returns the candidate's thumbnail when the cell is no larger
// than it, else (or when there is none) its decoded image; nil when
// neither can be read.
func cellImage(run *runview.Run, c runview.Candidate, size int) image.Image {
	if size <= store.ThumbSize && c.Thumb != "" {
		if f, err := os.Open(run.Abs(c.Thumb)); err == nil {
			img, err := jpeg.Decode(f)
			f.Close()
			if err == nil {
				return img
			}
		}
	}
	img, err := openImage(run.OutputDir, c.Path)
	if err != nil {
		return nil
	}
	return img
}

func drawGrid(p *gridPlan, imgs []image.Image, pn pen) *image.RGBA {
	var (
		ink       = color.RGBA{0x1f, 0x23, 0x28, 0xff}
		mute      = color.RGBA{0x57, 0x60, 0x6a, 0xff}
		empty     = color.RGBA{0xea, 0xee, 0xf2, 0xff}
		selected  = color.RGBA{0x1a, 0x7f, 0x37, 0xff}
		rejected  = color.RGBA{0xb4, 0x23, 0x18, 0xff}
		duplicate = color.RGBA{0x9a, 0x67, 0x00, 0xff}
	)
	dst := image.NewRGBA(image.Rect(0, 0, p.width, p.height))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	for i, cell := range p.cells {
		box := cell.box
		if box.Empty() {
			continue
		}
		if cell.c == nil || imgs[i] == nil {
			draw.Draw(dst, box, image.NewUniform(empty), image.Point{}, draw.Src)
			if cell.c != nil {
				pn.draw(dst, "unreadable", image.Pt(box.Min.X+8, box.Min.Y+box.Dy()/2), rejected)
			}
			continue
		}
		t := imgs[i]
		sz := t.Bounds().Size()
		at := image.Pt(box.Min.X+(box.Dx()-sz.X)/2, box.Min.Y+(box.Dy()-sz.Y)/2)
		draw.Draw(dst, image.Rectangle{at, at.Add(sz)}, t, t.Bounds().Min, draw.Over)
		switch {
		case cell.c.Rank > 0:
			frame(dst, box, 4, selected)
		case cell.c.RejectKind() == comfybatch.RejectNearDuplicate:
			frame(dst, box, 2, duplicate)
		case cell.c.Rejected != "":
			frame(dst, box, 2, rejected)
		}
	}
	for _, l := range p.labels {
		c := ink
		if l.Role == "empty" || l.Role == "note" || l.Role == "legend" {
			c = mute
		}
		pn.draw(dst, l.Text, l.Dot, c)
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

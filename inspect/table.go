package inspect

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Width is the most columns a text table takes unless --wide asks for
// everything: a terminal that is 100 columns wide shows it unwrapped.
const Width = 100

// column describes one column of a table.
type column struct {
	title string
	// right aligns the column right (numbers).
	right bool
	// min > 0 lets the column shrink to min runes when the table is too
	// wide; its cells are then cut with "…".
	min int
	// cutLeft cuts a cell at its start, keeping the end (file paths).
	cutLeft bool
	// drop lets the column go, rightmost first, when shrinking is not
	// enough.
	drop bool
}

// table is a text table fitted to a width: columns two spaces apart,
// shrinkable columns shrunk, then droppable ones dropped.
type table struct {
	cols []column
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func runes(s string) int { return utf8.RuneCountInString(s) }

// write writes the table fitted to width (0: no limit) and returns the
// titles of the columns it dropped.
func (t *table) write(w io.Writer, width int) (dropped []string) {
	widths := make([]int, len(t.cols))
	for i, c := range t.cols {
		widths[i] = runes(c.title)
		for _, r := range t.rows {
			if i < len(r) {
				widths[i] = max(widths[i], runes(r[i]))
			}
		}
	}
	keep := make([]bool, len(t.cols))
	for i := range keep {
		keep[i] = true
	}
	total := func() int {
		n, k := 0, 0
		for i, w := range widths {
			if keep[i] {
				n += w
				k++
			}
		}
		return n + 2*max(0, k-1)
	}
	if width > 0 {
		// Shrink the widest shrinkable column first, one rune at a
		// time, so long values give way before short ones.
		for total() > width {
			best := -1
			for i, c := range t.cols {
				if keep[i] && c.min > 0 && widths[i] > max(c.min, runes(c.title)) &&
					(best < 0 || widths[i] > widths[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			widths[best]--
		}
		for i := len(t.cols) - 1; i >= 0 && total() > width; i-- {
			if t.cols[i].drop {
				keep[i] = false
				dropped = append([]string{t.cols[i].title}, dropped...)
			}
		}
	}
	last := -1
	for i := range t.cols {
		if keep[i] {
			last = i
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		first := true
		for i, c := range t.cols {
			if !keep[i] {
				continue
			}
			if !first {
				b.WriteString("  ")
			}
			first = false
			cell := ""
			if i < len(cells) {
				cell = cut(cells[i], widths[i], c.cutLeft)
			}
			pad := strings.Repeat(" ", widths[i]-runes(cell))
			switch {
			case c.right:
				b.WriteString(pad + cell)
			case i == last:
				b.WriteString(cell)
			default:
				b.WriteString(cell + pad)
			}
		}
		io.WriteString(w, strings.TrimRight(b.String(), " ")+"\n")
	}
	titles := make([]string, len(t.cols))
	for i, c := range t.cols {
		titles[i] = c.title
	}
	line(titles)
	for _, r := range t.rows {
		line(r)
	}
	return dropped
}

// cut shortens s to n runes with "…" at the end, or at the start when
// left is set.
func cut(s string, n int, left bool) string {
	if runes(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	if left {
		return "…" + string(r[len(r)-(n-1):])
	}
	return string(r[:n-1]) + "…"
}

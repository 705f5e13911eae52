package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/comfybatch/comfybatch/pipeline"
)

// The progress display: one line on stderr that a run's commands (run,
// resume, demo) keep up to date.
//
// On a terminal the line is redrawn in place every liveEvery: a carriage
// return, the line cut to the terminal's width as it is at that moment
// (so a resized window gets a line that fits at the next redraw), and
// "erase to end of line". The line stays one column short of the width so
// that the cursor never sits in the pending-wrap state some terminals
// enter at the last column. Log records pass through the display, which
// erases the line, writes the record and redraws the line below it.
// A terminal that reflows its lines when the window narrows (tmux, VTE,
// iTerm2) leaves the first row of the wider line behind, once per
// shrink; moving up to erase it would erase a log line instead on a
// terminal that cuts lines (xterm), so the display does not guess.
//
// Otherwise (stderr a file or a pipe, or NO_COLOR or TERM=dumb set) it
// writes one plain line every plainEvery: no bar glyphs, no escape codes,
// nothing but ASCII, so a log file stays readable.
//
// A hand-written renderer rather than a progress library: the display is
// one line whose content changes shape with the width, the plain mode is
// ours in any case, and tests read the exact bytes written.

const (
	liveEvery  = 200 * time.Millisecond
	plainEvery = 10 * time.Second
	barMax     = 30 // widest bar, in columns
	barMin     = 10 // narrower than this, the bar is left out
	// plainDetailMax is the most instances the plain line lists one by
	// one; a bigger fleet is summed up, naming the instances that are down.
	plainDetailMax = 8
	defaultWidth   = 80 // when the terminal's width cannot be read
)

// progressDisplay renders a run's progress on w. Its methods are safe for
// concurrent use: the renderer goroutine draws while log records arrive
// from the pipeline's goroutines.
type progressDisplay struct {
	w     io.Writer
	live  bool
	width func() int // columns of the terminal now; <= 0 = unknown
	prog  *pipeline.Progress
	fleet *fleetView
	now   func() time.Time

	mu    sync.Mutex
	shown string // live: the line on screen, the cursor at its end ("" = none)
}

// liveOutput reports whether o.Err gets the live line: a terminal, and
// neither NO_COLOR (https://no-color.org: set and not empty) nor TERM=dumb.
func liveOutput(o IO) bool {
	if !o.ErrTTY {
		return false
	}
	if v, ok := o.lookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	if v, _ := o.lookupEnv("TERM"); v == "dumb" {
		return false
	}
	return true
}

func newProgressDisplay(o IO, p *pipeline.Progress, fleet *fleetView) *progressDisplay {
	width := o.ErrWidth
	if width == nil {
		width = func() int { return 0 }
	}
	return &progressDisplay{w: o.Err, live: liveOutput(o), width: width, prog: p, fleet: fleet, now: time.Now}
}

// startProgress shows p and fleet on o.Err until stop is called. Log
// records should be written to logs, so that they do not tear the live
// line. The renderer goroutine is owned here: stop returns after it has.
func startProgress(o IO, p *pipeline.Progress, fleet *fleetView) (logs io.Writer, stop func()) {
	d := newProgressDisplay(o, p, fleet)
	every := plainEvery
	if d.live {
		every = liveEvery
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				d.finish()
				return
			case <-t.C:
				d.draw()
			}
		}
	}()
	return d, func() { close(done); <-finished }
}

// line renders the progress line for the display's mode and width.
func (d *progressDisplay) line() string {
	s := d.prog.Snapshot(d.now())
	insts := d.fleet.snapshot()
	if !d.live {
		return plainLine(s, insts)
	}
	w := d.width()
	if w <= 0 {
		w = defaultWidth
	}
	return liveLine(s, insts, w)
}

// draw writes the progress line: redrawn in place, or one plain line.
func (d *progressDisplay) draw() {
	line := d.line()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live {
		io.WriteString(d.w, "\r"+line+"\x1b[K")
		d.shown = line
		return
	}
	io.WriteString(d.w, line+"\n")
}

// finish leaves the final state of the live line on screen and moves
// below it, so what is printed next starts on a line of its own.
func (d *progressDisplay) finish() {
	if !d.live {
		return
	}
	line := d.line()
	d.mu.Lock()
	defer d.mu.Unlock()
	io.WriteString(d.w, "\r"+line+"\x1b[K\n")
	d.shown = ""
}

// Write passes a log record through: on a terminal it erases the
// progress line, writes the record and draws the line again below it.
func (d *progressDisplay) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shown == "" {
		return d.w.Write(p)
	}
	if _, err := io.WriteString(d.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	n, err := d.w.Write(p)
	if err == nil && len(p) > 0 && p[len(p)-1] == '\n' {
		_, err = io.WriteString(d.w, d.shown+"\x1b[K")
	} else {
		d.shown = "" // the record left the cursor mid-line: draw anew next time
	}
	return n, err
}

// countsText is the progress in words: "12/48 done (25%), 1 failed,
// 3.1/s, ETA 12s, 8 done before".
func countsText(s pipeline.Snapshot) string {
	total := s.Total - s.Skipped
	pct := 0
	if total > 0 {
		pct = (s.Done + s.Failed) * 100 / total
	}
	eta := "--"
	if s.ETA > 0 {
		eta = s.ETA.Round(time.Second).String()
	}
	text := fmt.Sprintf("%d/%d done (%d%%), %d failed, %.1f/s, ETA %s", s.Done, total, pct, s.Failed, s.Rate, eta)
	if s.Skipped > 0 {
		text += fmt.Sprintf(", %d done before", s.Skipped)
	}
	return text
}

// instancesDetail names each instance's state: "gpu1 2/2 up, gpu2
// loading 1/2, gpu3 down" (prompts of ours queued or running / slots).
func instancesDetail(insts []instView) string {
	parts := make([]string, len(insts))
	for i, in := range insts {
		switch {
		case in.down:
			parts[i] = in.name + " down"
		case in.loading:
			parts[i] = fmt.Sprintf("%s %d/%d loading", in.name, in.inFlight, in.slots)
		default:
			parts[i] = fmt.Sprintf("%s %d/%d up", in.name, in.inFlight, in.slots)
		}
	}
	return strings.Join(parts, ", ")
}

// instancesSummary sums up the fleet: "256 instances: 250 up 498/512,
// 6 down". With names, it names the down instances (up to five).
func instancesSummary(insts []instView, names bool) string {
	if len(insts) == 0 {
		return ""
	}
	up, inFlight, slots := 0, 0, 0
	var down []string
	for _, in := range insts {
		if in.down {
			down = append(down, in.name)
			continue
		}
		up++
		inFlight += in.inFlight
		slots += in.slots
	}
	s := fmt.Sprintf("%d instances: %d up %d/%d", len(insts), up, inFlight, slots)
	if len(down) > 0 {
		s += fmt.Sprintf(", %d down", len(down))
		if names {
			if len(down) > 5 {
				down = append(down[:5], "...")
			}
			s += " (" + strings.Join(down, " ") + ")"
		}
	}
	return s
}

// plainLine is the line for logs: no glyphs, no escape codes.
func plainLine(s pipeline.Snapshot, insts []instView) string {
	line := "progress: " + countsText(s)
	fleet := instancesDetail(insts)
	if len(insts) > plainDetailMax {
		fleet = instancesSummary(insts, true)
	}
	if fleet != "" {
		line += " | " + fleet
	}
	return ascii(line)
}

// liveLine is the line for a terminal of width columns: a bar when there
// is room, the counts, and each instance's state, summed up when the
// list does not fit; cut to width-1 columns in any case.
func liveLine(s pipeline.Snapshot, insts []instView, width int) string {
	room := width - 1
	text := countsText(s)
	fleet := instancesDetail(insts)
	if columns(text)+3+columns(fleet) > room {
		fleet = instancesSummary(insts, false)
	}
	if fleet != "" {
		text += " | " + fleet
	}
	if barW := min(barMax, room-columns(text)-1); barW >= barMin {
		text = bar(s, barW) + " " + text
	}
	return fit(text, room)
}

// bar draws the finished share of the jobs in width columns.
func bar(s pipeline.Snapshot, width int) string {
	total := s.Total - s.Skipped
	fill := 0
	if total > 0 {
		fill = min(width, (s.Done+s.Failed)*width/total)
	}
	return strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
}

// runeColumns is how many terminal columns r takes, erring wide: ASCII
// and the bar's block elements take one, anything else may be a wide
// (East Asian) character and counts two, so a line never wraps.
func runeColumns(r rune) int {
	if r < utf8.RuneSelf || (r >= 0x2580 && r <= 0x259f) || r == '…' {
		return 1
	}
	return 2
}

func columns(s string) int {
	n := 0
	for _, r := range s {
		n += runeColumns(r)
	}
	return n
}

// fit cuts s to at most width columns, ending in "…" when cut, and
// replaces control characters (an instance name could hold an escape
// sequence) with '?'.
func fit(s string, width int) string {
	var b strings.Builder
	n := 0
	total := columns(s)
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			r = '?'
		}
		c := runeColumns(r)
		if total > width && n+c > width-1 {
			if width > 0 {
				b.WriteRune('…')
			}
			break
		}
		b.WriteRune(r)
		n += c
	}
	return b.String()
}

// ascii replaces everything outside printable ASCII with '?'.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}

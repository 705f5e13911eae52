package inspect

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// Text output is for people: tables fit Width columns unless wide is
// asked for, times are UTC to the second, durations rounded to the
// second, rates percentages, sizes in human units. Unlike the JSON, its
// layout may change.

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func durationText(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func percent(r float64, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(100*r, 'f', 1, 64) + "%"
}

// number writes a score or total: three decimals.
func number(x float64) string { return runview.FormatTotal(x) }

// errWriter remembers the first write error, so a table is written
// without checking every Fprintf.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// WriteRunsText writes runs as a table, one line per run.
func WriteRunsText(w io.Writer, runs []RunSummary) error {
	ew := &errWriter{w: w}
	if len(runs) == 0 {
		fmt.Fprintln(ew, "no runs")
		return ew.err
	}
	tw := newTable(ew)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tSTARTED (UTC)\tDURATION\tDONE\tFAILED\tTOTAL\tSELECTED")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.ID, r.Name, r.Status, timeText(r.Started),
			durationText(r.Duration), r.Jobs.Done, r.Jobs.Failed, r.Jobs.Total, r.Selected)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return ew.err
}

// writeRunHeader writes the lines that open show and compare.
func writeRunHeader(w io.Writer, r RunSummary) {
	fmt.Fprintf(w, "run %d %q: %s\n", r.ID, r.Name, r.Status)
	fmt.Fprintf(w, "manifest  %s\n", r.ManifestPath)
	fmt.Fprintf(w, "output    %s\n", r.OutputDir)
	if r.Finished.IsZero() {
		fmt.Fprintf(w, "started   %s UTC, not finished (%s so far)\n", timeText(r.Started), durationText(r.Duration))
		return
	}
	fmt.Fprintf(w, "started   %s UTC, finished %s, took %s\n", timeText(r.Started), timeText(r.Finished),
		durationText(r.Duration))
}

// width is the table width for wide: none, or Width.
func width(wide bool) int {
	if wide {
		return 0
	}
	return Width
}

// WriteText writes the report as a few tables: groups, rejections,
// selected candidates and failures. Unless wide is set, every table fits
// Width columns: the selected candidates show the params that tell them
// apart and their selected/ path, failures their first line; wide shows
// every param, the scores and absolute paths.
func (r *RunReport) WriteText(w io.Writer, wide bool) error {
	ew := &errWriter{w: w}
	writeRunHeader(ew, r.Run)
	if r.Group != "" {
		fmt.Fprintf(ew, "group     %s\n", r.Group)
	}

	fmt.Fprintln(ew)
	t := &table{cols: []column{{title: "GROUP", min: 8}, {title: "JOBS", right: true}, {title: "DONE", right: true},
		{title: "FAILED", right: true}}}
	if wide {
		t.cols = append(t.cols, column{title: "PENDING", right: true}, column{title: "SUBMITTED", right: true})
	} else {
		t.cols = append(t.cols, column{title: "UNFINISHED", right: true})
	}
	// Jobs are prompts; a prompt that saves several images yields as
	// many candidates, which the columns from here on count.
	if r.perImage() {
		t.cols = append(t.cols, column{title: "CANDIDATES", right: true})
	}
	t.cols = append(t.cols, column{title: "PASSED", right: true}, column{title: "REJECTED", right: true},
		column{title: "SELECTED"})
	for _, g := range r.Groups {
		row := []string{g.Name, strconv.Itoa(g.Jobs), strconv.Itoa(g.Done), strconv.Itoa(g.Failed)}
		if wide {
			row = append(row, strconv.Itoa(g.Pending), strconv.Itoa(g.Submitted))
		} else {
			row = append(row, strconv.Itoa(g.Unfinished()))
		}
		if r.perImage() {
			row = append(row, strconv.Itoa(g.Candidates))
		}
		sel := strconv.Itoa(g.Selected)
		if g.TopK > 0 {
			sel += " of " + strconv.Itoa(g.TopK)
			if g.Selected < g.TopK {
				sel += " (short)"
			}
		}
		t.add(append(row, strconv.Itoa(g.Passed), strconv.Itoa(g.Rejected), sel)...)
	}
	t.write(ew, width(wide))

	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "candidates: %d done, %d passed (%s), %d rejected", r.Candidates, r.Passed,
		percent(float64(r.Passed)/float64(max(r.Candidates, 1)), r.Candidates > 0), r.Candidates-r.Passed-r.Unscored)
	if r.Unscored > 0 {
		fmt.Fprintf(ew, ", %d waiting for a scorer", r.Unscored)
	}
	fmt.Fprintln(ew)
	if len(r.Rejections) > 0 {
		t = &table{cols: []column{{title: "REJECTED FOR", min: 20}, {title: "COUNT", right: true},
			{title: "PASS RATE", right: true}}}
		for _, x := range r.Rejections {
			t.add(x.Label(), strconv.Itoa(x.Count), percent(x.PassRate()))
		}
		t.write(ew, width(wide))
	}

	fmt.Fprintln(ew)
	r.writeSelected(ew, wide)

	fmt.Fprintln(ew)
	r.writeFailures(ew, wide)
	return ew.err
}

func (r *RunReport) writeSelected(w io.Writer, wide bool) {
	if len(r.Selected) == 0 {
		fmt.Fprintln(w, "selected: none")
		return
	}
	swept, fixed := sweptAmong(r.Selected)
	names := swept
	if wide {
		names = nil
		seen := map[string]bool{}
		for _, c := range r.Selected {
			for _, p := range c.Params {
				if !seen[p.Name] {
					seen[p.Name] = true
					names = append(names, p.Name)
				}
			}
		}
	}
	// In a run of batches the images of one prompt share its seed and
	// differ in batch index: both are columns, whatever the selection
	// shares, so that each row says which image to render again.
	multi := len(r.Outputs) > 1
	if r.Batched {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "seed" })
		fixed = slices.DeleteFunc(slices.Clone(fixed), func(p comfybatch.Param) bool { return p.Name == "seed" })
	}
	if wide {
		fmt.Fprintf(w, "selected: %d\n", len(r.Selected))
	} else {
		fmt.Fprintf(w, "selected: %d; image paths are inside the output folder above\n", len(r.Selected))
		if len(fixed) > 0 {
			fmt.Fprintln(w, cut("same for all: "+paramsText(fixed), Width, false))
		}
	}
	t := &table{cols: []column{{title: "GROUP", min: 8}, {title: "RANK", right: true}, {title: "JOB", right: true},
		{title: "TOTAL", right: true}}}
	if r.Batched {
		t.cols = append(t.cols, column{title: "SEED"}, column{title: "BATCH", right: true})
	}
	if multi {
		t.cols = append(t.cols, column{title: "OUTPUT", min: 8})
	}
	for _, n := range names {
		t.cols = append(t.cols, column{title: strings.ToUpper(n), min: 6, drop: true})
	}
	if wide {
		t.cols = append(t.cols, column{title: "SCORES"}, column{title: "INSTANCE"}, column{title: "IMAGE"})
	} else {
		t.cols = append(t.cols, column{title: "IMAGE", min: 24, cutLeft: true})
	}
	for _, c := range r.Selected {
		row := []string{c.Group, strconv.Itoa(c.Rank), strconv.Itoa(c.Index), number(c.Total)}
		if r.Batched {
			seed, _ := c.Param("seed")
			row = append(row, oneLine(runview.FormatValue(seed)), strconv.Itoa(c.BatchIndex))
		}
		if multi {
			row = append(row, dash(oneLine(r.outputLabel(c.Output))))
		}
		for _, n := range names {
			v, _ := c.Param(n)
			row = append(row, oneLine(runview.FormatValue(v)))
		}
		img := c.SelectedPath
		if img == "" {
			img = c.Path
		}
		if wide {
			row = append(row, scoresText(c.Scores), dash(c.Instance), dash(abs(r.OutputDir, img)))
		} else {
			row = append(row, dash(img))
		}
		t.add(row...)
	}
	if dropped := t.write(w, width(wide)); len(dropped) > 0 {
		fmt.Fprintf(w, "(not shown: %s; batch show --wide shows every column)\n", strings.ToLower(strings.Join(dropped, ", ")))
	}
}

func (r *RunReport) writeFailures(w io.Writer, wide bool) {
	if r.Failed == 0 {
		fmt.Fprintln(w, "failures: none")
		return
	}
	parts := make([]string, len(r.FailureClasses))
	for i, c := range r.FailureClasses {
		parts[i] = fmt.Sprintf("%s %d", dash(c.Class), c.Count)
	}
	fmt.Fprintf(w, "failures: %d (%s)\n", r.Failed, strings.Join(parts, ", "))
	if len(r.Failures) == 0 {
		return
	}
	t := &table{cols: []column{{title: "GROUP", min: 8}, {title: "JOB", right: true}, {title: "CLASS"},
		{title: "ATTEMPTS", right: true}, {title: "INSTANCE", min: 8}, {title: "MESSAGE", min: 20}}}
	for _, f := range r.Failures {
		t.add(f.Group, strconv.Itoa(f.Index), dash(f.Class), strconv.Itoa(f.Attempts), dash(f.Instance), oneLine(f.Message))
	}
	t.write(w, width(wide))
	if more := r.Failed - len(r.Failures); more > 0 {
		fmt.Fprintf(w, "… %d more; batch show --wide lists them all\n", more)
	}
}

// abs joins a path relative to the run folder to it.
func abs(dir, rel string) string {
	if rel == "" || dir == "" {
		return rel
	}
	return strings.TrimRight(dir, "/") + "/" + rel
}

// WriteText writes the comparison as a table: one line per value, or for
// two parameters one row per value of the first and one column per value
// of the second. Unless wide is set, it fits Width columns.
func (c *Comparison) WriteText(w io.Writer, wide bool) error {
	ew := &errWriter{w: w}
	writeRunHeader(ew, c.Run)
	scope := "all groups"
	if c.Group != "" {
		scope = "group " + c.Group
	}
	fmt.Fprintf(ew, "\n%d candidates by %s, %s\n", c.Candidates, strings.Join(c.By, " and "), scope)
	if c.Candidates == 0 {
		return ew.err
	}
	fmt.Fprintf(ew, "totals, with 95%% intervals from %d bootstrap resamples (seed %d)\n", c.Resamples, c.Seed)
	if len(c.By) == 1 {
		c.writeRows(ew, wide)
	} else {
		c.writeCells(ew, wide)
	}
	return ew.err
}

func interval(iv *Interval) string {
	if iv == nil {
		return "-"
	}
	return "[" + number(iv.Lo) + ", " + number(iv.Hi) + "]"
}

func signed(x float64) string {
	if x >= 0 {
		return "+" + number(x)
	}
	return number(x)
}

func (c *Comparison) writeRows(w io.Writer, wide bool) {
	t := &table{cols: []column{{title: strings.ToUpper(c.By[0]), min: 12}, {title: "N", right: true},
		{title: "MEAN", right: true}, {title: "95% CI"}, {title: "MEDIAN", right: true}, {title: "BEST", right: true},
		{title: "PASS", right: true}, {title: "SEL", right: true}, {title: "VS BEST", right: true}, {title: "95% CI"}}}
	var best *CompareRow
	for i, r := range c.Rows {
		vs, vsCI := "best", ""
		if !r.IsBest {
			vs, vsCI = signed(r.Diff), interval(r.DiffCI)
		} else {
			best = &c.Rows[i]
		}
		t.add(oneLine(c.label(0, r.Value)), strconv.Itoa(r.N), number(r.Mean), interval(r.MeanCI),
			number(r.Median), number(r.Best), percent(r.PassRate(), r.N > 0), strconv.Itoa(r.Selected), vs, vsCI)
	}
	t.write(w, width(wide))
	if best == nil {
		return
	}
	var behind, near []string
	for _, r := range c.Rows {
		switch {
		case r.IsBest:
		case r.Behind():
			behind = append(behind, runview.FormatValue(r.Value))
		case r.DiffCI != nil:
			near = append(near, runview.FormatValue(r.Value))
		}
	}
	c.verdict(w, c.By[0]+"="+runview.FormatValue(best.Value), best.Stats, behind, near)
}

func (c *Comparison) writeCells(w io.Writer, wide bool) {
	t := &table{cols: []column{{title: strings.ToUpper(c.By[0]) + " \\ " + strings.ToUpper(c.By[1]), min: 12}}}
	for _, v := range c.ColValues {
		t.cols = append(t.cols, column{title: oneLine(c.label(1, v)), right: true, drop: true})
	}
	var (
		best         string
		bestStats    Stats
		behind, near []string
	)
	for i, rv := range c.RowValues {
		row := []string{oneLine(c.label(0, rv))}
		for j, cv := range c.ColValues {
			s := c.Cells[i][j]
			if s == nil {
				row = append(row, "-")
				continue
			}
			row = append(row, fmt.Sprintf("%s (%d)", number(s.Mean), s.N))
			name := runview.FormatValue(rv) + "/" + runview.FormatValue(cv)
			switch {
			case s.IsBest:
				best, bestStats = c.By[0]+"="+runview.FormatValue(rv)+" "+c.By[1]+"="+runview.FormatValue(cv), *s
			case s.Behind():
				behind = append(behind, name)
			case s.DiffCI != nil:
				near = append(near, name)
			}
		}
		t.add(row...)
	}
	fmt.Fprintln(w, "mean total (candidates) per pair of values")
	if dropped := t.write(w, width(wide)); len(dropped) > 0 {
		fmt.Fprintf(w, "(not shown: %d columns; batch compare --wide or --json shows them)\n", len(dropped))
	}
	if best != "" {
		c.verdict(w, best, bestStats, behind, near)
	}
}

// verdict says which value has the best mean and which others are behind
// it beyond the bootstrap interval, so a reader can tell a real
// difference from seed-to-seed noise.
func (c *Comparison) verdict(w io.Writer, best string, s Stats, behind, near []string) {
	if s.MeanCI == nil {
		fmt.Fprintf(w, "\nbest mean: %s, %s; no value has two candidates, too few to tell noise from a difference\n",
			best, number(s.Mean))
		return
	}
	fmt.Fprintf(w, "\nbest mean: %s, %s %s over %d candidates\n", best, number(s.Mean), interval(s.MeanCI), s.N)
	if len(behind) > 0 {
		fmt.Fprintln(w, cut("clearly behind it (95% interval of the difference below 0): "+strings.Join(behind, ", "), Width, false))
	}
	if len(near) > 0 {
		fmt.Fprintln(w, cut("not clearly behind it (the interval includes 0): "+strings.Join(near, ", "), Width, false))
	}
}

// paramsText writes params as name=value pairs in manifest order.
func paramsText(params []comfybatch.Param) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Name + "=" + oneLine(runview.FormatValue(p.Value))
	}
	return dash(strings.Join(parts, " "))
}

// scoresText writes scores as scorer.metric=value pairs in the order the
// scorers ran, metrics by name, in human units.
func scoresText(scores []comfybatch.Score) string {
	var parts []string
	for _, s := range scores {
		for _, m := range s.MetricNames() {
			parts = append(parts, s.Scorer+"."+m+"="+strings.ReplaceAll(runview.FormatMetric(m, s.Metrics[m]), " ", ""))
		}
		if s.Err != "" {
			parts = append(parts, s.Scorer+"=error")
		}
	}
	return dash(strings.Join(parts, " "))
}

// oneLine keeps a value on its table row: a prompt or an error message may
// hold newlines and tabs.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

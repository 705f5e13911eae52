package inspect

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// Text output is for people: tables aligned by text/tabwriter, times in
// UTC to the second, durations rounded to the second, rates as percentages.
// Unlike the JSON, its layout may change.

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

// number writes a score or total compactly: four significant digits.
func number(x float64) string {
	return strconv.FormatFloat(x, 'g', 4, 64)
}

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

// WriteText writes the report as a few tables: groups, rejections,
// selected candidates and failures.
func (r *RunReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	writeRunHeader(ew, r.Run)
	if r.Group != "" {
		fmt.Fprintf(ew, "group     %s\n", r.Group)
	}

	fmt.Fprintln(ew)
	tw := newTable(ew)
	fmt.Fprintln(tw, "GROUP\tTOTAL\tDONE\tFAILED\tPENDING\tSUBMITTED\tREJECTED\tSELECTED")
	for _, g := range r.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", g.Name, g.Jobs.Total, g.Jobs.Done, g.Jobs.Failed,
			g.Jobs.Pending, g.Jobs.Submitted, g.Rejected, g.Selected)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "candidates: %d done, %d passed (%s), %d rejected\n", r.Candidates, r.Passed,
		percent(float64(r.Passed)/float64(max(r.Candidates, 1)), r.Candidates > 0), r.Candidates-r.Passed)
	if len(r.Rejections) > 0 {
		tw = newTable(ew)
		fmt.Fprintln(tw, "REJECTED FOR\tCOUNT\tPASS RATE")
		for _, x := range r.Rejections {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", x.Label(), x.Count, percent(x.PassRate()))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(ew)
	if len(r.Selected) == 0 {
		fmt.Fprintln(ew, "selected: none")
	} else {
		fmt.Fprintf(ew, "selected: %d\n", len(r.Selected))
		tw = newTable(ew)
		fmt.Fprintln(tw, "GROUP\tRANK\tJOB\tTOTAL\tPARAMS\tSCORES\tIMAGE")
		for _, s := range r.Selected {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Group, s.Rank, s.Index, number(s.Total),
				paramsText(s.Params), scoresText(s.Scores), s.Image(r.Run.OutputDir))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(ew)
	if len(r.Failures) == 0 {
		fmt.Fprintln(ew, "failures: none")
	} else {
		fmt.Fprintf(ew, "failures: %d (%s)\n", len(r.Failures), classesText(r.Failures))
		tw = newTable(ew)
		fmt.Fprintln(tw, "GROUP\tJOB\tCLASS\tATTEMPTS\tINSTANCE\tMESSAGE")
		for _, f := range r.Failures {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\n", f.Group, f.Index, f.Class, f.Attempts, dash(f.Instance),
				oneLine(f.Message))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return ew.err
}

// WriteText writes the comparison as a table, one line per value.
func (c *Comparison) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	writeRunHeader(ew, c.Run)
	scope := "all groups"
	if c.Group != "" {
		scope = "group " + c.Group
	}
	fmt.Fprintf(ew, "\ncandidates by %s, %s\n", c.Param, scope)
	if len(c.Rows) == 0 {
		fmt.Fprintln(ew, "no candidates")
		return ew.err
	}
	tw := newTable(ew)
	fmt.Fprintf(tw, "%s\tCOUNT\tMEAN\tMEDIAN\tBEST\tPASS RATE\tSELECTED\n", strings.ToUpper(c.Param))
	for _, r := range c.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\n", oneLine(FormatValue(r.Value)), r.Count, number(r.Mean),
			number(r.Median), number(r.Best), percent(r.PassRate(), r.Count > 0), r.Selected)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return ew.err
}

// classesText counts failures by error class: "transient 3, execution 1",
// most frequent first.
func classesText(failures []store.Failure) string {
	counts := map[string]int{}
	var classes []string
	for _, f := range failures {
		if counts[f.Class] == 0 {
			classes = append(classes, f.Class)
		}
		counts[f.Class]++
	}
	sort.SliceStable(classes, func(i, j int) bool {
		if counts[classes[i]] != counts[classes[j]] {
			return counts[classes[i]] > counts[classes[j]]
		}
		return classes[i] < classes[j]
	})
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%s %d", dash(c), counts[c])
	}
	return strings.Join(parts, ", ")
}

// paramsText writes params as name=value pairs in manifest order, long
// values (prompts) cut short; --json has them whole.
func paramsText(params []comfybatch.Param) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Name + "=" + shorten(oneLine(FormatValue(p.Value)), 40)
	}
	return dash(strings.Join(parts, " "))
}

// scoresText writes scores as name=value pairs sorted by name.
func scoresText(scores map[string]float64) string {
	names := make([]string, 0, len(scores))
	for n := range scores {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + number(scores[n])
	}
	return dash(strings.Join(parts, " "))
}

// oneLine keeps a value on its table row: a prompt or an error message may
// hold newlines and tabs.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
}

// shorten cuts s to at most n runes, marking the cut with "...".
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package inspect_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/internal/golden"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// runningSummary is a run still in progress, with no jobs done yet.
func runningSummary() inspect.RunSummary {
	return inspect.NewRunSummary(
		store.Run{ID: 7, Name: "live", Status: store.RunRunning, ManifestPath: "live.yaml", OutputDir: "/srv/runs/live",
			Started: base},
		store.Counts{All: store.Tally{Total: 2, Pending: 1, Submitted: 1},
			Groups: map[string]store.Tally{"only": {Total: 2, Pending: 1, Submitted: 1}}},
		0, base.Add(1500*time.Millisecond))
}

// TestGoldenRunning covers what the fixture's finished runs cannot: no
// finish time (null), no candidates (a null pass rate), empty lists ([]),
// a sub-second duration, and a comparison without rows.
func TestGoldenRunning(t *testing.T) {
	run := runningSummary()
	report := &inspect.RunReport{Run: run, OutputDir: run.OutputDir, Groups: []inspect.GroupReport{
		{Name: "only", Tally: runview.Tally{Jobs: 2, Pending: 1, Submitted: 1}}},
		Selected: []runview.Candidate{}, Failures: []runview.Failure{}}
	cmp := &inspect.Comparison{Run: run, By: []string{"seed"}}
	var text, js bytes.Buffer
	if err := inspect.WriteRunsText(&text, []inspect.RunSummary{run}); err != nil {
		t.Fatal(err)
	}
	if err := inspect.WriteRunsJSON(&js, []inspect.RunSummary{run}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, *update, "runs_running.txt.golden", text.Bytes())
	golden.Check(t, *update, "runs_running.json.golden", js.Bytes())
	t.Run("show_running", func(t *testing.T) { checkReport(t, "show_running", report) })
	t.Run("compare_running", func(t *testing.T) { checkReport(t, "compare_running", cmp) })
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrorsAreReturned(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	run := f.open(t, f.nightly.ID)
	report, err := inspect.Show(ctx, run, "", inspect.ShowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cmp, err := inspect.Compare(ctx, run, []string{"seed"}, "", inspect.CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := inspect.Runs(ctx, f.st)
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]func(w io.Writer) error{
		"runs text":    func(w io.Writer) error { return inspect.WriteRunsText(w, runs) },
		"runs json":    func(w io.Writer) error { return inspect.WriteRunsJSON(w, runs) },
		"show text":    func(w io.Writer) error { return report.WriteText(w, false) },
		"show wide":    func(w io.Writer) error { return report.WriteText(w, true) },
		"show json":    func(w io.Writer) error { return report.WriteJSON(w) },
		"compare text": func(w io.Writer) error { return cmp.WriteText(w, false) },
		"compare json": func(w io.Writer) error { return cmp.WriteJSON(w) },
	}
	for name, write := range writes {
		var full bytes.Buffer
		if err := write(&full); err != nil {
			t.Fatalf("%s = %v", name, err)
		}
		// Fail at the start, in the middle, and at the last byte.
		for _, n := range []int{0, full.Len() / 2, full.Len() - 1} {
			if err := write(&failAfter{n: n}); !errors.Is(err, errDiskFull) {
				t.Errorf("%s failing after %d of %d bytes = %v, want %v", name, n, full.Len(), err, errDiskFull)
			}
		}
	}
}

package inspect_test

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/internal/golden"
	"github.com/comfybatch/comfybatch/runview"
)

var update = flag.Bool("update", false, "rewrite golden files")

// report is what show and compare produce.
type report interface {
	WriteText(w io.Writer, wide bool) error
	WriteJSON(w io.Writer) error
}

// checkReport compares a report's text (fitted and --wide) and JSON with
// testdata/name.*.golden, and checks that the fitted text fits
// inspect.Width columns (but for the header lines naming paths).
func checkReport(t *testing.T, name string, r report) {
	t.Helper()
	var text, wide, js bytes.Buffer
	if err := r.WriteText(&text, false); err != nil {
		t.Fatalf("WriteText = %v", err)
	}
	if err := r.WriteText(&wide, true); err != nil {
		t.Fatalf("WriteText(wide) = %v", err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatalf("WriteJSON = %v", err)
	}
	for i, line := range strings.Split(text.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > inspect.Width &&
			!strings.HasPrefix(line, "output ") && !strings.HasPrefix(line, "manifest ") {
			t.Errorf("%s line %d is %d columns wide, more than %d:\n%s", name, i+1, n, inspect.Width, line)
		}
	}
	golden.Check(t, *update, name+".txt.golden", text.Bytes())
	golden.Check(t, *update, name+".wide.txt.golden", wide.Bytes())
	golden.Check(t, *update, name+".json.golden", js.Bytes())
}

// TestGolden writes every report of the fixture database and compares
// them with testdata/*.golden.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	nightly, smoke := f.open(t, f.nightly.ID), f.open(t, f.smoke.ID)
	runs, err := inspect.Runs(ctx, f.st)
	if err != nil {
		t.Fatalf("Runs = %v", err)
	}
	for name, list := range map[string][]inspect.RunSummary{"runs": runs, "runs_empty": nil} {
		var text, js bytes.Buffer
		if err := inspect.WriteRunsText(&text, list); err != nil {
			t.Fatal(err)
		}
		if err := inspect.WriteRunsJSON(&js, list); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, *update, name+".txt.golden", text.Bytes())
		golden.Check(t, *update, name+".json.golden", js.Bytes())
	}
	show := func(name string, r *runview.Run, group string) {
		rep, err := inspect.Show(ctx, r, group, inspect.ShowOptions{})
		if err != nil {
			t.Fatalf("Show(%q) = %v", group, err)
		}
		t.Run(name, func(t *testing.T) { checkReport(t, name, rep) })
	}
	compare := func(name, group string, by ...string) {
		c, err := inspect.Compare(ctx, nightly, by, group, inspect.CompareOptions{})
		if err != nil {
			t.Fatalf("Compare(%v, %q) = %v", by, group, err)
		}
		t.Run(name, func(t *testing.T) { checkReport(t, name, c) })
	}
	show("show", nightly, "")
	show("show_cats", nightly, "cats")
	show("show_smoke", smoke, "")
	compare("compare_sampler", "", "sampler_name")
	compare("compare_steps_dogs", "dogs", "steps")
	compare("compare_seed_cats", "cats", "seed")
	compare("compare_sampler_steps", "", "sampler_name", "steps")
}

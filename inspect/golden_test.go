package inspect_test

import (
	"bytes"
	"flag"
	"testing"

	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden writes every report of the fixture database as text and as
// JSON and compares them with testdata/*.golden.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	runs, err := inspect.Runs(ctx, f.st)
	if err != nil {
		t.Fatalf("Runs = %v", err)
	}
	show, err := inspect.Show(ctx, f.st, f.nightly.ID, "")
	if err != nil {
		t.Fatalf("Show = %v", err)
	}
	showCats, err := inspect.Show(ctx, f.st, f.nightly.ID, "cats")
	if err != nil {
		t.Fatalf("Show(cats) = %v", err)
	}
	showSmoke, err := inspect.Show(ctx, f.st, f.smoke.ID, "")
	if err != nil {
		t.Fatalf("Show(smoke) = %v", err)
	}
	bySampler, err := inspect.Compare(ctx, f.st, f.nightly.ID, "sampler_name", "")
	if err != nil {
		t.Fatalf("Compare(sampler_name) = %v", err)
	}
	bySteps, err := inspect.Compare(ctx, f.st, f.nightly.ID, "steps", "dogs")
	if err != nil {
		t.Fatalf("Compare(steps, dogs) = %v", err)
	}
	bySeed, err := inspect.Compare(ctx, f.st, f.nightly.ID, "seed", "cats")
	if err != nil {
		t.Fatalf("Compare(seed, cats) = %v", err)
	}
	for _, tc := range []struct {
		name       string
		text, json func(*bytes.Buffer) error
	}{
		{"runs", func(b *bytes.Buffer) error { return inspect.WriteRunsText(b, runs) },
			func(b *bytes.Buffer) error { return inspect.WriteRunsJSON(b, runs) }},
		{"runs_empty", func(b *bytes.Buffer) error { return inspect.WriteRunsText(b, nil) },
			func(b *bytes.Buffer) error { return inspect.WriteRunsJSON(b, nil) }},
		{"show", func(b *bytes.Buffer) error { return show.WriteText(b) },
			func(b *bytes.Buffer) error { return show.WriteJSON(b) }},
		{"show_cats", func(b *bytes.Buffer) error { return showCats.WriteText(b) },
			func(b *bytes.Buffer) error { return showCats.WriteJSON(b) }},
		{"show_smoke", func(b *bytes.Buffer) error { return showSmoke.WriteText(b) },
			func(b *bytes.Buffer) error { return showSmoke.WriteJSON(b) }},
		{"compare_sampler", func(b *bytes.Buffer) error { return bySampler.WriteText(b) },
			func(b *bytes.Buffer) error { return bySampler.WriteJSON(b) }},
		{"compare_steps_dogs", func(b *bytes.Buffer) error { return bySteps.WriteText(b) },
			func(b *bytes.Buffer) error { return bySteps.WriteJSON(b) }},
		{"compare_seed_cats", func(b *bytes.Buffer) error { return bySeed.WriteText(b) },
			func(b *bytes.Buffer) error { return bySeed.WriteJSON(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := tc.text(&text); err != nil {
				t.Fatalf("WriteText = %v", err)
			}
			if err := tc.json(&js); err != nil {
				t.Fatalf("WriteJSON = %v", err)
			}
			golden.Check(t, *update, tc.name+".txt.golden", text.Bytes())
			golden.Check(t, *update, tc.name+".json.golden", js.Bytes())
		})
	}
}

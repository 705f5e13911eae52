package inspect_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/runview"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		reason, kind, name string
	}{
		{"", "", ""},
		{"gate sharpness.laplacian_var: 12 < min 50", inspect.KindGate, "sharpness.laplacian_var"},
		{"gate clip.similarity: 0.9 > max 0.5", inspect.KindGate, "clip.similarity"},
		{"missing metric clip.similarity", inspect.KindMissingMetric, "clip.similarity"},
		{"scoring error: clip: connection refused; phash: bad image", inspect.KindScoringError, "clip"},
		{"near-duplicate of job 7", inspect.KindNearDuplicate, ""},
		{"near-duplicate of #7", inspect.KindNearDuplicate, ""},
		{"below min score", inspect.KindOther, ""},
		{"gateway timeout", inspect.KindOther, ""}, // "gate" without the space is not a gate
	} {
		kind, name := inspect.Classify(tc.reason)
		if kind != tc.kind || name != tc.name {
			t.Errorf("Classify(%q) = %q, %q; want %q, %q", tc.reason, kind, name, tc.kind, tc.name)
		}
	}
}

// rejected tallies reasons as the store's RejectionCounts does: one count
// per distinct text ("" for the candidates not rejected are left out), and
// returns them with the number of candidates.
func rejected(reasons ...string) ([]runview.Reason, int) {
	var out []runview.Reason
	for _, r := range reasons {
		if r == "" {
			continue
		}
		i := slices.IndexFunc(out, func(x runview.Reason) bool { return x.Text == r })
		if i < 0 {
			out = append(out, runview.Reason{Text: r})
			i = len(out) - 1
		}
		out[i].Count++
	}
	return out, len(reasons)
}

func TestRejections(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   func() ([]runview.Reason, int)
		want []inspect.Rejection
	}{
		{"none", func() ([]runview.Reason, int) { return rejected() }, []inspect.Rejection{}},
		{"all passed", func() ([]runview.Reason, int) { return rejected("", "") }, []inspect.Rejection{}},
		{
			"every kind, in order",
			func() ([]runview.Reason, int) {
				return rejected(
					"near-duplicate of job 1",
					"something else",
					"gate size.width: 512 < min 1024",
					"scoring error: clip: timeout",
					"gate sharpness.laplacian_var: 3 < min 50",
					"missing metric clip.similarity",
					"gate sharpness.laplacian_var: 4 < min 50",
					"",
					"",
					"",
					"near-duplicate of job 4",
				)
			},
			[]inspect.Rejection{
				{Kind: inspect.KindGate, Name: "sharpness.laplacian_var", Count: 2, Considered: 11},
				{Kind: inspect.KindGate, Name: "size.width", Count: 1, Considered: 11},
				{Kind: inspect.KindMissingMetric, Name: "clip.similarity", Count: 1, Considered: 11},
				{Kind: inspect.KindScoringError, Name: "clip", Count: 1, Considered: 11},
				{Kind: inspect.KindNearDuplicate, Count: 2, Considered: 11},
				{Kind: inspect.KindOther, Count: 1, Considered: 11},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inspect.Rejections(tc.in()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Rejections = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRejectionPassRateAndLabel(t *testing.T) {
	for _, tc := range []struct {
		r     inspect.Rejection
		label string
		rate  float64
		ok    bool
	}{
		{inspect.Rejection{Kind: inspect.KindGate, Name: "a.b", Count: 1, Considered: 4}, "gate a.b", 0.75, true},
		{inspect.Rejection{Kind: inspect.KindMissingMetric, Name: "a.b", Count: 4, Considered: 4}, "missing metric a.b", 0, true},
		{inspect.Rejection{Kind: inspect.KindScoringError, Name: "clip", Count: 1, Considered: 2}, "scoring error clip", 0.5, true},
		{inspect.Rejection{Kind: inspect.KindNearDuplicate, Count: 1, Considered: 2}, "near-duplicate", 0.5, true},
		{inspect.Rejection{Kind: inspect.KindOther}, "other", 0, false},
	} {
		if got := tc.r.Label(); got != tc.label {
			t.Errorf("%+v.Label() = %q, want %q", tc.r, got, tc.label)
		}
		if rate, ok := tc.r.PassRate(); rate != tc.rate || ok != tc.ok {
			t.Errorf("%+v.PassRate() = %v, %v; want %v, %v", tc.r, rate, ok, tc.rate, tc.ok)
		}
	}
}

package inspect

import (
	"encoding/json"
	"io"
	"math"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// The JSON forms below are an API: keys are snake_case and never renamed,
// times are RFC 3339 in UTC (null when unset), durations are whole
// milliseconds, lists are [] rather than null when empty, and a rate with
// nothing to divide by is null.

type runJSON struct {
	ID           int64    `json:"id"`
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	ManifestPath string   `json:"manifest_path"`
	OutputDir    string   `json:"output_dir"`
	MasterSeed   uint64   `json:"master_seed"`
	Started      *string  `json:"started"`
	Finished     *string  `json:"finished"`
	DurationMS   int64    `json:"duration_ms"`
	Jobs         jobsJSON `json:"jobs"`
	Selected     int      `json:"selected"`
}

type jobsJSON struct {
	Total     int `json:"total"`
	Pending   int `json:"pending"`
	Submitted int `json:"submitted"`
	Done      int `json:"done"`
	Failed    int `json:"failed"`
}

type groupJSON struct {
	Name string   `json:"name"`
	TopK *int     `json:"top_k"` // null when the manifest is unreadable
	Jobs jobsJSON `json:"jobs"`
	// Candidates counts images: a job (one prompt) may yield several.
	Candidates int `json:"candidates"`
	Passed     int `json:"passed"`
	Rejected   int `json:"rejected"`
	Selected   int `json:"selected"`
}

type candidatesJSON struct {
	Done     int      `json:"done"`
	Passed   int      `json:"passed"`
	Rejected int      `json:"rejected"`
	Unscored int      `json:"unscored"`
	PassRate *float64 `json:"pass_rate"`
}

type rejectionJSON struct {
	Reason   string   `json:"reason"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Count    int      `json:"count"`
	PassRate *float64 `json:"pass_rate"`
}

type selectedJSON struct {
	Group    string `json:"group"`
	Rank     int    `json:"rank"`
	JobKey   string `json:"job_key"`
	JobIndex int    `json:"job_index"`
	// Output is the id of the output node that saved the image ("" in
	// runs recorded before images had an identity), BatchIndex its index
	// in that node's batch of BatchSize images: with the job's seed, what
	// renders this image again.
	Output     string             `json:"output"`
	BatchIndex int                `json:"batch_index"`
	BatchSize  int                `json:"batch_size"`
	Total      float64            `json:"total"`
	Params     []comfybatch.Param `json:"params"`
	Scores     map[string]float64 `json:"scores"`
	Values     map[string]string  `json:"values"`
	// Path is the stored image and SelectedPath its selected/ link, both
	// relative to the run folder; Image and SelectedImage are absolute.
	Path          string `json:"path"`
	Image         string `json:"image"`
	SelectedPath  string `json:"selected_path"`
	SelectedImage string `json:"selected_image"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	Bytes         int64  `json:"bytes"`
	SHA256        string `json:"sha256"`
	Instance      string `json:"instance"`
}

type failureJSON struct {
	Group    string             `json:"group"`
	JobKey   string             `json:"job_key"`
	JobIndex int                `json:"job_index"`
	Params   []comfybatch.Param `json:"params"`
	Class    string             `json:"class"`
	Message  string             `json:"message"`
	Attempts int                `json:"attempts"`
	Instance string             `json:"instance"`
	PromptID string             `json:"prompt_id"`
	Finished *string            `json:"finished"`
}

type classJSON struct {
	Class string `json:"class"`
	Count int    `json:"count"`
}

type reportJSON struct {
	Run            runJSON         `json:"run"`
	Group          string          `json:"group"`
	Groups         []groupJSON     `json:"groups"`
	Candidates     candidatesJSON  `json:"candidates"`
	Rejections     []rejectionJSON `json:"rejections"`
	Selected       []selectedJSON  `json:"selected"`
	FailedCount    int             `json:"failed"`
	FailureClasses []classJSON     `json:"failure_classes"`
	Failures       []failureJSON   `json:"failures"`
}

type intervalJSON struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

type statsJSON struct {
	Count        int           `json:"count"`
	Passed       int           `json:"passed"`
	PassRate     *float64      `json:"pass_rate"`
	Selected     int           `json:"selected"`
	Mean         float64       `json:"mean_total"`
	MeanCI       *intervalJSON `json:"mean_total_ci"`
	Median       float64       `json:"median_total"`
	Best         float64       `json:"best_total"`
	IsBest       bool          `json:"best_mean"`
	DiffFromBest float64       `json:"diff_from_best"`
	DiffCI       *intervalJSON `json:"diff_from_best_ci"`
}

type compareRowJSON struct {
	Value any `json:"value"`
	statsJSON
}

type cellJSON struct {
	Row    any `json:"row"`
	Column any `json:"column"`
	statsJSON
}

type comparisonJSON struct {
	Run        runJSON          `json:"run"`
	Param      string           `json:"param"`
	By         []string         `json:"by"`
	Group      string           `json:"group"`
	Candidates int              `json:"candidates"`
	Resamples  int              `json:"resamples"`
	Seed       uint64           `json:"seed"`
	Rows       []compareRowJSON `json:"values"`
	RowValues  []any            `json:"rows,omitempty"`
	ColValues  []any            `json:"columns,omitempty"`
	Cells      []cellJSON       `json:"cells,omitempty"`
}

func timeJSON(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func rate(r float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &r
}

func toJobsJSON(t store.Tally) jobsJSON {
	return jobsJSON{Total: t.Total, Pending: t.Pending, Submitted: t.Submitted, Done: t.Done, Failed: t.Failed}
}

func toRunJSON(r RunSummary) runJSON {
	return runJSON{
		ID: r.ID, Name: r.Name, Status: r.Status, ManifestPath: r.ManifestPath, OutputDir: r.OutputDir,
		MasterSeed: r.MasterSeed, Started: timeJSON(r.Started), Finished: timeJSON(r.Finished),
		DurationMS: r.Duration.Milliseconds(), Jobs: toJobsJSON(r.Jobs), Selected: r.Selected,
	}
}

// writeJSON writes v indented, without HTML escaping (messages keep their
// < and >), followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteRunsJSON writes runs as a JSON array, one object per run.
func WriteRunsJSON(w io.Writer, runs []RunSummary) error {
	out := make([]runJSON, len(runs))
	for i, r := range runs {
		out[i] = toRunJSON(r)
	}
	return writeJSON(w, out)
}

func nonNilParams(ps []comfybatch.Param) []comfybatch.Param {
	if ps == nil {
		return []comfybatch.Param{}
	}
	return ps
}

// WriteJSON writes the report as one JSON object.
func (r *RunReport) WriteJSON(w io.Writer) error {
	out := reportJSON{
		Run: toRunJSON(r.Run), Group: r.Group,
		Groups:         make([]groupJSON, len(r.Groups)),
		Rejections:     make([]rejectionJSON, len(r.Rejections)),
		Selected:       make([]selectedJSON, len(r.Selected)),
		FailedCount:    r.Failed,
		FailureClasses: make([]classJSON, len(r.FailureClasses)),
		Failures:       make([]failureJSON, len(r.Failures)),
		Candidates: candidatesJSON{Done: r.Candidates, Passed: r.Passed, Rejected: r.Candidates - r.Passed - r.Unscored,
			Unscored: r.Unscored},
	}
	if r.Candidates > 0 {
		out.Candidates.PassRate = rate(float64(r.Passed)/float64(r.Candidates), true)
	}
	for i, g := range r.Groups {
		gj := groupJSON{Name: g.Name, Candidates: g.Candidates, Passed: g.Passed, Rejected: g.Rejected, Selected: g.Selected,
			Jobs: jobsJSON{Total: g.Jobs, Pending: g.Pending, Submitted: g.Submitted, Done: g.Done, Failed: g.Failed}}
		if g.TopK > 0 {
			k := g.TopK
			gj.TopK = &k
		}
		out.Groups[i] = gj
	}
	for i, x := range r.Rejections {
		out.Rejections[i] = rejectionJSON{Reason: x.Label(), Kind: x.Kind, Name: x.Name, Count: x.Count,
			PassRate: rate(x.PassRate())}
	}
	for i, c := range r.Selected {
		s := selectedJSON{
			Group: c.Group, Rank: c.Rank, JobKey: c.JobKey, JobIndex: c.Index, Output: c.Output,
			BatchIndex: c.BatchIndex, BatchSize: c.BatchSize, Total: c.Total,
			Params: nonNilParams(c.Params), Scores: map[string]float64{}, Values: map[string]string{},
			Path: c.Path, Image: abs(r.OutputDir, c.Path), SelectedPath: c.SelectedPath,
			SelectedImage: abs(r.OutputDir, c.SelectedPath), Width: c.Width, Height: c.Height, Bytes: c.Bytes,
			SHA256: c.SHA256, Instance: c.Instance,
		}
		for _, sc := range c.Scores {
			for m, v := range sc.Metrics {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					s.Scores[sc.Scorer+"."+m] = v
				}
			}
			for m, v := range sc.Values {
				s.Values[sc.Scorer+"."+m] = v
			}
		}
		out.Selected[i] = s
	}
	for i, c := range r.FailureClasses {
		out.FailureClasses[i] = classJSON{Class: c.Class, Count: c.Count}
	}
	for i, f := range r.Failures {
		out.Failures[i] = failureJSON{
			Group: f.Group, JobKey: f.JobKey, JobIndex: f.Index, Params: nonNilParams(f.Params), Class: f.Class,
			Message: f.Message, Attempts: f.Attempts, Instance: f.Instance, PromptID: f.PromptID,
			Finished: timeJSON(f.Finished),
		}
	}
	return writeJSON(w, out)
}

func toIntervalJSON(iv *Interval) *intervalJSON {
	if iv == nil {
		return nil
	}
	return &intervalJSON{Lo: iv.Lo, Hi: iv.Hi}
}

func toStatsJSON(s Stats) statsJSON {
	return statsJSON{
		Count: s.N, Passed: s.Passed, PassRate: rate(s.PassRate(), s.N > 0), Selected: s.Selected,
		Mean: s.Mean, MeanCI: toIntervalJSON(s.MeanCI), Median: s.Median, Best: s.Best, IsBest: s.IsBest,
		DiffFromBest: s.Diff, DiffCI: toIntervalJSON(s.DiffCI),
	}
}

// WriteJSON writes the comparison as one JSON object. One parameter: its
// "values" list has one entry per value, in natural order. Two: "rows"
// and "columns" list their values and "cells" has one entry per pair that
// has candidates, row by row.
func (c *Comparison) WriteJSON(w io.Writer) error {
	out := comparisonJSON{Run: toRunJSON(c.Run), By: c.By, Group: c.Group, Candidates: c.Candidates,
		Resamples: c.Resamples, Seed: c.Seed, Rows: make([]compareRowJSON, len(c.Rows))}
	if out.By == nil {
		out.By = []string{}
	}
	if len(c.By) > 0 {
		out.Param = c.By[0]
	}
	for i, r := range c.Rows {
		out.Rows[i] = compareRowJSON{Value: r.Value, statsJSON: toStatsJSON(r.Stats)}
	}
	if len(c.By) == 2 {
		out.RowValues, out.ColValues = c.RowValues, c.ColValues
		out.Cells = []cellJSON{}
		for i, rv := range c.RowValues {
			for j, cv := range c.ColValues {
				if s := c.Cells[i][j]; s != nil {
					out.Cells = append(out.Cells, cellJSON{Row: rv, Column: cv, statsJSON: toStatsJSON(*s)})
				}
			}
		}
	}
	return writeJSON(w, out)
}

package inspect

import (
	"encoding/json"
	"io"
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
	Name     string   `json:"name"`
	Jobs     jobsJSON `json:"jobs"`
	Rejected int      `json:"rejected"`
	Selected int      `json:"selected"`
}

type candidatesJSON struct {
	Done     int      `json:"done"`
	Passed   int      `json:"passed"`
	Rejected int      `json:"rejected"`
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
	Group    string             `json:"group"`
	Rank     int                `json:"rank"`
	JobKey   string             `json:"job_key"`
	JobIndex int                `json:"job_index"`
	Total    float64            `json:"total"`
	Reason   string             `json:"reason"`
	Params   []comfybatch.Param `json:"params"`
	Scores   map[string]float64 `json:"scores"`
	Values   map[string]string  `json:"values"`
	Path     string             `json:"path"`
	Image    string             `json:"image"`
	SHA256   string             `json:"sha256"`
	Instance string             `json:"instance"`
}

type failureJSON struct {
	Group    string  `json:"group"`
	JobKey   string  `json:"job_key"`
	JobIndex int     `json:"job_index"`
	Class    string  `json:"class"`
	Message  string  `json:"message"`
	Attempts int     `json:"attempts"`
	Instance string  `json:"instance"`
	PromptID string  `json:"prompt_id"`
	Finished *string `json:"finished"`
}

type reportJSON struct {
	Run        runJSON         `json:"run"`
	Group      string          `json:"group"`
	Groups     []groupJSON     `json:"groups"`
	Candidates candidatesJSON  `json:"candidates"`
	Rejections []rejectionJSON `json:"rejections"`
	Selected   []selectedJSON  `json:"selected"`
	Failures   []failureJSON   `json:"failures"`
}

type compareRowJSON struct {
	Value    any      `json:"value"`
	Count    int      `json:"count"`
	Passed   int      `json:"passed"`
	PassRate *float64 `json:"pass_rate"`
	Selected int      `json:"selected"`
	Mean     float64  `json:"mean_total"`
	Median   float64  `json:"median_total"`
	Best     float64  `json:"best_total"`
}

type comparisonJSON struct {
	Run   runJSON          `json:"run"`
	Param string           `json:"param"`
	Group string           `json:"group"`
	Rows  []compareRowJSON `json:"values"`
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
		Started: timeJSON(r.Started), Finished: timeJSON(r.Finished), DurationMS: r.Duration.Milliseconds(),
		Jobs: toJobsJSON(r.Jobs), Selected: r.Selected,
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

// WriteJSON writes the report as one JSON object.
func (r *RunReport) WriteJSON(w io.Writer) error {
	out := reportJSON{
		Run: toRunJSON(r.Run), Group: r.Group,
		Groups:     make([]groupJSON, len(r.Groups)),
		Rejections: make([]rejectionJSON, len(r.Rejections)),
		Selected:   make([]selectedJSON, len(r.Selected)),
		Failures:   make([]failureJSON, len(r.Failures)),
		Candidates: candidatesJSON{Done: r.Candidates, Passed: r.Passed, Rejected: r.Candidates - r.Passed},
	}
	if r.Candidates > 0 {
		out.Candidates.PassRate = rate(float64(r.Passed)/float64(r.Candidates), true)
	}
	for i, g := range r.Groups {
		out.Groups[i] = groupJSON{Name: g.Name, Jobs: toJobsJSON(g.Jobs), Rejected: g.Rejected, Selected: g.Selected}
	}
	for i, x := range r.Rejections {
		out.Rejections[i] = rejectionJSON{Reason: x.Label(), Kind: x.Kind, Name: x.Name, Count: x.Count,
			PassRate: rate(x.PassRate())}
	}
	for i, s := range r.Selected {
		params := s.Params
		if params == nil {
			params = []comfybatch.Param{}
		}
		scores, values := s.Scores, s.Values
		if scores == nil {
			scores = map[string]float64{}
		}
		if values == nil {
			values = map[string]string{}
		}
		out.Selected[i] = selectedJSON{
			Group: s.Group, Rank: s.Rank, JobKey: s.JobKey, JobIndex: s.Index, Total: s.Total, Reason: s.Reason,
			Params: params, Scores: scores, Values: values, Path: s.Path, Image: s.Image(r.Run.OutputDir),
			SHA256: s.SHA256, Instance: s.Instance,
		}
	}
	for i, f := range r.Failures {
		out.Failures[i] = failureJSON{
			Group: f.Group, JobKey: f.JobKey, JobIndex: f.Index, Class: f.Class, Message: f.Message,
			Attempts: f.Attempts, Instance: f.Instance, PromptID: f.PromptID, Finished: timeJSON(f.Finished),
		}
	}
	return writeJSON(w, out)
}

// WriteJSON writes the comparison as one JSON object whose "values" list
// has one entry per parameter value, in natural order.
func (c *Comparison) WriteJSON(w io.Writer) error {
	out := comparisonJSON{Run: toRunJSON(c.Run), Param: c.Param, Group: c.Group,
		Rows: make([]compareRowJSON, len(c.Rows))}
	for i, r := range c.Rows {
		out.Rows[i] = compareRowJSON{
			Value: r.Value, Count: r.Count, Passed: r.Passed, PassRate: rate(r.PassRate(), r.Count > 0),
			Selected: r.Selected, Mean: r.Mean, Median: r.Median, Best: r.Best,
		}
	}
	return writeJSON(w, out)
}

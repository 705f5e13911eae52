package report

import (
	"time"

	"github.com/comfybatch/comfybatch"
)

// Run is everything the report and the exports need to know about one
// finished (or interrupted) run. The caller fills it, usually from the
// store; nothing here reads a database.
type Run struct {
	ID           int64
	Name         string
	ManifestPath string
	Started      time.Time
	Finished     time.Time // zero while running
	Status       string
	// OutputDir is the absolute run folder. Candidate images are read from
	// filepath.Join(OutputDir, Candidate.Path).
	OutputDir string
	Counts    Counts
	Instances []Instance
	// Gates names the gated metrics ("sharpness.laplacian_var"), so that a
	// gate nobody failed still shows a 100% pass rate. Gates that appear
	// only in Rejected reasons are added automatically.
	Gates  []string
	Groups []Group
	// Selections are the run's chosen candidates; Selection.JobKey matches
	// Candidate.Job.Key and Selection.Group matches Group.Name.
	Selections []comfybatch.Selection
	Failed     []Failure
}

// Counts are the run's job totals.
type Counts struct {
	Jobs    int // planned
	Done    int // generated and scored
	Failed  int // ended without an image
	Pending int // never finished (interrupted runs)
}

// Instance is what one ComfyUI instance did during the run.
type Instance struct {
	Name       string
	Prompts    int           // prompts submitted
	Failures   int           // prompts that failed
	Busy       time.Duration // time spent executing our prompts
	ModelLoads int           // affinity changes (checkpoint loads)
	// CostPerGPUHour is the instance's price in dollars per GPU-hour; 0
	// leaves it out of the cost estimate.
	CostPerGPUHour float64
}

// Group is one selection group with every candidate it produced.
type Group struct {
	Name string
	TopK int
	// Candidates carry Candidate.Path (relative to Run.OutputDir),
	// Candidate.Job (Key, Index, Params), Scores, Total and Rejected.
	// Order does not matter: the report sorts by Total.
	Candidates []comfybatch.Scored
	// NearDuplicates maps the job key of a candidate that was skipped as a
	// near-duplicate to the job key of the selected candidate it resembles
	// (selectors.TopK.NearDuplicates). It may be nil.
	NearDuplicates map[string]string
}

// Failure is a job that ended without an image.
type Failure struct {
	JobIndex int
	JobKey   string
	Group    string
	Params   []comfybatch.Param
	Class    string // comfybatch.Class* constant
	Message  string
	Attempts int
}

// Selected returns the selection of the candidate with job key key in
// group g, and whether there is one.
func (r Run) Selected(g, key string) (comfybatch.Selection, bool) {
	for _, s := range r.Selections {
		if s.Group == g && s.JobKey == key {
			return s, true
		}
	}
	return comfybatch.Selection{}, false
}

// Wall returns how long the run took: Finished-Started, or zero when
// either is unknown.
func (r Run) Wall() time.Duration {
	if r.Started.IsZero() || r.Finished.IsZero() || r.Finished.Before(r.Started) {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

package export

import (
	"encoding/json"
	"fmt"
	"time"
)

// Stats summarises an export; it is also written to _stats.json.
type Stats struct {
	Format Format `json:"format"`
	// Count is the number of candidates considered, Successes those
	// written and Failed those whose image could not be read.
	Count     int `json:"count"`
	Successes int `json:"successes"`
	Failed    int `json:"failed"`
	// FailedJobs counts the run's jobs that produced no image at all.
	FailedJobs int       `json:"failed_jobs"`
	Failures   []Failure `json:"failures,omitempty"`
	// Groups are per-group counts by group name.
	Groups map[string]GroupStats `json:"groups"`
	// Bytes is the total size of the exported images.
	Bytes  int64  `json:"bytes"`
	Width  Extent `json:"width"`
	Height Extent `json:"height"`
	// Files are the data files written besides _stats.json and the
	// images, relative to the destination and sorted: metadata.jsonl for
	// imagefolder, the shards for webdataset, candidates.jsonl for jsonl.
	Files []string `json:"files"`
	// Duration is how long Export took; DurationSeconds is the same,
	// rounded to milliseconds, for JSON.
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"duration"`
}

// GroupStats counts one group's samples.
type GroupStats struct {
	Count     int `json:"count"`
	Successes int `json:"successes"`
	Selected  int `json:"selected"`
}

// Failure is a candidate that could not be exported.
type Failure struct {
	Key   string `json:"key"`
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Extent is the smallest and largest of a set of image dimensions.
type Extent struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

func (e *Extent) add(v int) {
	if e.Max == 0 || v < e.Min {
		e.Min = v
	}
	e.Max = max(e.Max, v)
}

func writeStats(dir string, st Stats) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode export stats: %w", err)
	}
	return writeFile(dir, "_stats.json", append(data, '\n'))
}

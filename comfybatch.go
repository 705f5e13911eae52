package comfybatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"sort"
	"time"
)

// Job is one candidate to generate: a patched API-format workflow plus the
// named parameter values that produced it. Jobs are values; the engine never
// mutates one it was given.
type Job struct {
	// Key identifies the job across runs and machines; see KeyOf. Resume
	// and de-duplication key on it.
	Key string
	// Index is the job's position in the plan (0-based).
	Index int
	// Group is the group the job belongs to; selection is per group.
	Group string
	// Params are the named values that distinguish this job (seed,
	// sampler_name, prompt, ...), in manifest order.
	Params []Param
	// Workflow is the patched API-format prompt, canonical JSON.
	Workflow json.RawMessage
	// Inputs are local files the engine uploads before submitting; each
	// upload's server-side name is written into Node's Input.
	Inputs []Input
	// Affinity names the expensive state the job needs loaded (usually the
	// checkpoint). The engine prefers an instance whose last job had the
	// same affinity.
	Affinity string
	// Tags are required instance tags: only an instance carrying all of
	// them may run the job.
	Tags []string
	// Outputs are the ids of the output nodes whose images are the job's
	// candidates, in id order; empty means the first image the prompt
	// saved. Images is how many candidates the prompt yields (its batch
	// size times len(Outputs)); 0 means 1.
	Outputs []string
	Images  int
}

// ImageCount is how many candidates the job yields (at least 1).
func (j Job) ImageCount() int { return max(j.Images, 1) }

// Param is one named parameter value of a job. Value is one of string,
// bool, int64, uint64 (seeds, which may exceed 2^63) or float64.
type Param struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
	// Raw is the JSON literal the manifest wrote into the workflow for
	// this value (empty when not known). The store keeps it instead of the
	// patched workflow, which it rebuilds from the run's base workflow.
	Raw json.RawMessage `json:"-"`
}

// String writes the param as name=value.
func (p Param) String() string { return p.Name + "=" + FormatValue(p.Value) }

// Input is a local image that must be uploaded to an instance and bound to
// a node input (typically LoadImage.image) before the job is submitted.
type Input struct {
	Node   string `json:"node"`
	Input  string `json:"input"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Param returns the value of the named parameter and whether it is set.
func (j Job) Param(name string) (any, bool) {
	for _, p := range j.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// Seed returns the job's seed parameter (named "seed") as a uint64, and
// false when the job has none.
func (j Job) Seed() (uint64, bool) {
	v, ok := j.Param("seed")
	if !ok {
		return 0, false
	}
	switch s := v.(type) {
	case uint64:
		return s, true
	case int64:
		return uint64(s), s >= 0
	case int:
		return uint64(s), s >= 0
	case float64:
		return uint64(s), s >= 0
	case json.Number:
		var u uint64
		_, err := fmt.Sscan(s.String(), &u)
		return u, err == nil
	}
	return 0, false
}

// KeyOf returns the stable key of a job: the hex SHA-256 of the canonical
// form of its patched workflow (keys sorted, insignificant whitespace
// removed, numbers kept exactly as written) followed by the content hashes
// of its input files. Two jobs with the same key produce the same image.
func KeyOf(workflow []byte, inputs []Input) (string, error) {
	canon, err := Canonical(workflow)
	if err != nil {
		return "", err
	}
	return KeyOfCanonical(canon, inputs), nil
}

// KeyOfCanonical is KeyOf for a workflow already in canonical form (the
// bytes Canonical returns), without encoding it again.
func KeyOfCanonical(canon []byte, inputs []Input) string {
	h := sha256.New()
	h.Write(canon)
	for _, in := range inputs {
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s", in.Node, in.Input, in.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Canonical re-encodes a JSON document with object keys sorted and no
// insignificant whitespace. Numbers keep their literal text, so seeds above
// 2^53 survive unchanged.
func Canonical(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("canonical json: trailing data after the document")
	}
	// encoding/json writes map keys sorted and json.Number verbatim.
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return out, nil
}

// Candidate is what an instance produced for a job: the downloaded image
// and where and when it was made.
type Candidate struct {
	Job Job
	// Instance is the name of the instance that generated the image.
	Instance string
	// PromptID is the client-chosen ComfyUI prompt id of the attempt that
	// succeeded.
	PromptID string
	// Attempt counts submissions of this job, starting at 1.
	Attempt int
	// Image holds the encoded image bytes exactly as downloaded.
	Image []byte
	// Filename is the server's file name, kept for reference only; it is
	// never used as a local path.
	Filename string
	// Pixels is the decoded image. The pipeline decodes once and every
	// scorer reads it; nil until then.
	Pixels image.Image
	// Path is where the image was stored, relative to the run folder.
	Path string
	// SHA256 is the hex content hash of Image.
	SHA256 string

	Queued   time.Time // when the job was submitted
	Started  time.Time // when the instance started executing it
	Finished time.Time // when the instance finished it
	// Download is how long fetching the image took.
	Download time.Duration
	// Output is the id of the workflow node that saved the image, and
	// BatchIndex its position in that node's batch: with the job key they
	// identify the candidate, since one prompt can save several images.
	Output     string
	BatchIndex int
}

// Ref identifies one candidate image: its job, the output node that saved
// it and its index in that node's batch. Output "" names the job's first
// saved image (candidates recorded before images had an identity).
type Ref struct {
	JobKey     string `json:"job_key"`
	Output     string `json:"output,omitempty"`
	BatchIndex int    `json:"batch_index,omitempty"`
}

// String writes the ref as key, key/output or key/output/index.
func (r Ref) String() string {
	switch {
	case r.BatchIndex != 0:
		return fmt.Sprintf("%s/%s/%d", r.JobKey, r.Output, r.BatchIndex)
	case r.Output != "":
		return r.JobKey + "/" + r.Output
	}
	return r.JobKey
}

// Ref returns the candidate's identity.
func (c Candidate) Ref() Ref {
	return Ref{JobKey: c.Job.Key, Output: c.Output, BatchIndex: c.BatchIndex}
}

// Score is what one scorer said about one candidate: one or more named
// metrics. A scorer that could not score a candidate sets Err instead.
type Score struct {
	Scorer  string             `json:"scorer"`
	Metrics map[string]float64 `json:"metrics"`
	// Values holds non-numeric results, such as a perceptual hash in hex
	// ("phash" scorer, value "hash").
	Values map[string]string `json:"values,omitempty"`
	Err    string            `json:"error,omitempty"`
}

// MetricNames returns the score's metric names, sorted.
func (s Score) MetricNames() []string {
	names := make([]string, 0, len(s.Metrics))
	for n := range s.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Scored is a candidate with every score it received, the weighted total
// and, when it must not be selected, the reason why.
type Scored struct {
	Candidate Candidate
	Scores    []Score
	// Total is the weighted sum of the candidate's normalised metrics.
	Total float64
	// Rejected is empty for a candidate that may be selected, otherwise a
	// short reason ("gate sharpness.laplacian_var < 50", "scoring error: ...").
	Rejected string
	// Pending names the scorers that could not score the candidate because
	// they were unavailable (an outage, not a verdict). A pending candidate
	// is neither selected nor rejected until they have scored it.
	Pending []string
}

// Metric returns the value of a metric named "scorer.metric" and whether
// the candidate has it.
func (s Scored) Metric(scorer, metric string) (float64, bool) {
	for _, sc := range s.Scores {
		if sc.Scorer == scorer {
			v, ok := sc.Metrics[metric]
			return v, ok
		}
	}
	return 0, false
}

// Selection records that a candidate was chosen for delivery.
type Selection struct {
	Group  string `json:"group"`
	Rank   int    `json:"rank"` // 1-based within the group
	JobKey string `json:"job_key"`
	// Output and BatchIndex complete the candidate's identity (see Ref).
	Output     string  `json:"output,omitempty"`
	BatchIndex int     `json:"batch_index,omitempty"`
	Total      float64 `json:"total"`
	Reason     string  `json:"reason,omitempty"`
}

// Ref returns the selected candidate's identity.
func (s Selection) Ref() Ref {
	return Ref{JobKey: s.JobKey, Output: s.Output, BatchIndex: s.BatchIndex}
}

// Job states as recorded in the store.
const (
	StatusPending   = "pending"   // planned, never submitted
	StatusSubmitted = "submitted" // a prompt id was recorded and sent to an instance
	StatusDone      = "done"      // generated, downloaded and scored
	StatusFailed    = "failed"    // ended without an image; see the error class
)

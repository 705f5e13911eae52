package export

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// Sample is one exported candidate: a line of metadata.jsonl or
// candidates.jsonl, or the <key>.json member of a WebDataset shard.
type Sample struct {
	// Key names the sample: "<group slug>-<job index, 6 digits>". The
	// image is Key+".png" (".jpg" for a JPEG candidate).
	Key string `json:"key"`
	// FileName is the image's name in an imagefolder export.
	FileName string `json:"file_name,omitempty"`
	// Image is the absolute path of the image in the run folder, in a
	// jsonl export.
	Image string `json:"image,omitempty"`
	// Path is the image's path relative to the run folder.
	Path     string `json:"path"`
	RunID    int64  `json:"run_id"`
	Run      string `json:"run"`
	Group    string `json:"group"`
	JobIndex int    `json:"job_index"`
	JobKey   string `json:"job_key"`
	// Prompt is the value of Options.PromptParam, when the job has it.
	Prompt string `json:"prompt,omitempty"`
	// Params are the job's parameters by name; seeds stay exact integers.
	Params map[string]any `json:"params"`
	// Scores are the metrics by "scorer.metric"; NaN and infinite values
	// are left out (JSON cannot carry them).
	Scores   map[string]float64 `json:"scores"`
	Total    float64            `json:"total"`
	Selected bool               `json:"selected"`
	Rank     int                `json:"rank,omitempty"`
	Rejected string             `json:"rejected,omitempty"`
	// NearDuplicateOf is the job key of the selected candidate this one
	// was skipped for.
	NearDuplicateOf string `json:"near_duplicate_of,omitempty"`
	Instance        string `json:"instance,omitempty"`
	SHA256          string `json:"sha256,omitempty"`
	Width           int    `json:"width"`
	Height          int    `json:"height"`
	Bytes           int64  `json:"bytes"`
}

// walk calls add with every sample to export in output order: groups in
// the run's order, then selected candidates by rank, then the others in
// plan order. It streams the unselected candidates from the store.
func walk(ctx context.Context, run *runview.Run, opts Options, add func(Sample) error) error {
	slugs := map[string]bool{}
	for _, g := range run.Groups {
		slug := uniqueSlug(g.Name, slugs)
		sel, err := run.SelectedCandidates(ctx, g.Name)
		if err != nil {
			return err
		}
		keyOf := make(map[int]string, len(sel)) // plan index -> job key, for near-duplicates
		for _, c := range sel {
			keyOf[c.Index] = c.JobKey
		}
		for _, c := range sel {
			if err := add(sample(run, slug, c, keyOf, opts.PromptParam)); err != nil {
				return err
			}
		}
		if opts.SelectedOnly {
			continue
		}
		err = run.Each(ctx, runview.Filter{Group: g.Name}, func(c runview.Candidate) error {
			if c.Selected() {
				return nil
			}
			return add(sample(run, slug, c, keyOf, opts.PromptParam))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sampleKey names a sample: "<group slug>-<job index, 6 digits>", with
// "-<output node>-<batch index>" for a candidate that shares its job with
// others.
func sampleKey(slug string, id runview.ID, index int) string {
	key := fmt.Sprintf("%s-%06d", slug, index)
	if id.Output != "" || id.BatchIndex != 0 {
		node := uniqueSlug(id.Output, map[string]bool{})
		key += fmt.Sprintf("-%s-%d", node, id.BatchIndex)
	}
	return key
}

func sample(run *runview.Run, slug string, c runview.Candidate, keyOf map[int]string, promptParam string) Sample {
	s := Sample{
		Key:      sampleKey(slug, c.ID, c.Index),
		Path:     c.Path,
		RunID:    run.ID,
		Run:      run.Name,
		Group:    c.Group,
		JobIndex: c.Index,
		JobKey:   c.JobKey,
		Params:   make(map[string]any, len(c.Params)),
		Scores:   map[string]float64{},
		Total:    finite(c.Total),
		Selected: c.Selected(),
		Rank:     c.Rank,
		Rejected: c.Rejected,
		Instance: c.Instance,
		SHA256:   c.SHA256,
	}
	if of, ok := c.NearDuplicateOf(); ok {
		s.NearDuplicateOf = keyOf[of]
	}
	for _, p := range c.Params {
		s.Params[p.Name] = p.Value
	}
	if v, ok := c.Param(promptParam); ok {
		s.Prompt = comfybatch.FormatValue(v)
	}
	for _, sc := range c.Scores {
		for m, v := range sc.Metrics {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				s.Scores[sc.Scorer+"."+m] = v
			}
		}
	}
	return s
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// uniqueSlug turns a group name into a file-name-safe key prefix (lower
// case letters, digits and '-'; no dots, which WebDataset reads as the
// start of an extension), distinct from the slugs already in used.
func uniqueSlug(name string, used map[string]bool) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.TrimRight(b.String(), "-")
	if len(slug) > 40 {
		slug = strings.TrimRight(slug[:40], "-")
	}
	if slug == "" {
		slug = "group"
	}
	base := slug
	for n := 2; used[slug]; n++ {
		slug = fmt.Sprintf("%s-%d", base, n)
	}
	used[slug] = true
	return slug
}

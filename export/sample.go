package export

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
)

// Sample is one exported candidate: a line of metadata.jsonl or
// candidates.jsonl, or the <key>.json member of a WebDataset shard.
type Sample struct {
	// Key names the sample: "<group slug>-<job index, 6 digits>", and for
	// a job that yielded several images "-<output node>-<batch index>"
	// after it. The image is Key+".png" (".jpg" for a JPEG candidate).
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
	// Seed is the job's seed param, when it has one. Output is the id of
	// the output node that saved the image ("" in runs recorded before
	// images had an identity), with its title and class in the run's
	// workflow; BatchIndex is the image's index in that node's batch of
	// BatchSize images. Together they render this image again, and
	// Reproduce says how for an image of a batch of more than one.
	Seed        *uint64 `json:"seed,omitempty"`
	Output      string  `json:"output,omitempty"`
	OutputTitle string  `json:"output_title,omitempty"`
	OutputClass string  `json:"output_class,omitempty"`
	BatchIndex  int     `json:"batch_index"`
	BatchSize   int     `json:"batch_size"`
	Reproduce   string  `json:"reproduce,omitempty"`
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
	link, linked := run.BatchLink()
	sample := func(slug string, c runview.Candidate, keyOf map[int]string) Sample {
		s := newSample(run, slug, c, keyOf, opts.PromptParam)
		if s.BatchSize > 1 {
			s.Reproduce = reproduce(s, link, linked)
		}
		return s
	}
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
			if err := add(sample(slug, c, keyOf)); err != nil {
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
			return add(sample(slug, c, keyOf))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sampleKey names a sample: "<group slug>-<job index, 6 digits>", with
// "-<output node>-<batch index>" for a job that yielded several images.
// A key depends only on the candidate's identity and its job's image
// count, so exporting a run again gives the same keys.
func sampleKey(slug string, c runview.Candidate) string {
	key := fmt.Sprintf("%s-%06d", slug, c.Index)
	if c.Images > 1 {
		key += "-" + nodeSlug(c.Output) + "-" + strconv.Itoa(c.BatchIndex)
	}
	return key
}

// nodeSlug writes a node id ("9", or "12:3" inside a subgraph) for a
// sample key: letters and digits as they are, any other byte as '_' and
// two hex digits, so distinct ids stay distinct and keys hold no dots
// (WebDataset reads the first dot as the start of an extension). The
// id "" is "_".
func nodeSlug(id string) string {
	if id == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

func newSample(run *runview.Run, slug string, c runview.Candidate, keyOf map[int]string, promptParam string) Sample {
	s := Sample{
		Key:        sampleKey(slug, c),
		Path:       c.Path,
		RunID:      run.ID,
		Run:        run.Name,
		Group:      c.Group,
		JobIndex:   c.Index,
		JobKey:     c.JobKey,
		Params:     make(map[string]any, len(c.Params)),
		Output:     c.Output,
		BatchIndex: c.BatchIndex,
		BatchSize:  max(c.BatchSize, 1),
		Scores:     map[string]float64{},
		Total:      finite(c.Total),
		Selected:   c.Selected(),
		Rank:       c.Rank,
		Rejected:   c.Rejected,
		Instance:   c.Instance,
		SHA256:     c.SHA256,
	}
	if seed, ok := c.Seed(); ok {
		s.Seed = &seed
	}
	if c.Output != "" {
		o := run.Output(c.Output)
		s.OutputTitle, s.OutputClass = o.Title, o.Class
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

// reproduce says how to render the image of s, one of a batch, on its
// own: the same workflow, seed and batch size, with a LatentFromBatch
// node picking its batch index, on link when the run's workflow has one
// (see runview.BatchLink).
func reproduce(s Sample, link runview.BatchLink, linked bool) string {
	seed := "its seed"
	if s.Seed != nil {
		seed = "seed " + strconv.FormatUint(*s.Seed, 10)
	}
	where := "between the empty latent and the sampler"
	if linked {
		where = fmt.Sprintf("between node %s (%s) and input %s of node %s (%s)", link.Latent, link.LatentClass,
			link.Input, link.Sampler, link.SamplerClass)
	}
	return fmt.Sprintf("to render this image alone, keep the workflow, %s and batch_size %d, and insert LatentFromBatch "+
		"(batch_index %d, length 1) %s; exact for samplers that add no noise while sampling (not ancestral or SDE ones)",
		seed, s.BatchSize, s.BatchIndex, where)
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

package export

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/report"
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

// plan lists the samples to export in output order: groups as in the
// run, then selected candidates by rank, then the others by job index.
func plan(run report.Run, opts Options) []Sample {
	var out []Sample
	slugs := map[string]bool{}
	for _, g := range run.Groups {
		slug := uniqueSlug(g.Name, slugs)
		cands := append([]comfybatch.Scored(nil), g.Candidates...)
		rank := make(map[string]int, len(cands))
		for _, c := range cands {
			if s, ok := run.Selected(g.Name, c.Candidate.Job.Key); ok {
				rank[c.Candidate.Job.Key] = s.Rank
			}
		}
		sort.SliceStable(cands, func(i, j int) bool {
			ri, rj := rank[cands[i].Candidate.Job.Key], rank[cands[j].Candidate.Job.Key]
			if (ri > 0) != (rj > 0) {
				return ri > 0
			}
			if ri != rj {
				return ri < rj
			}
			return cands[i].Candidate.Job.Index < cands[j].Candidate.Job.Index
		})
		for _, c := range cands {
			r := rank[c.Candidate.Job.Key]
			if opts.SelectedOnly && r == 0 {
				continue
			}
			out = append(out, sample(run, g, slug, c, r, opts.PromptParam))
		}
	}
	return out
}

func sample(run report.Run, g report.Group, slug string, c comfybatch.Scored, rank int, promptParam string) Sample {
	job := c.Candidate.Job
	s := Sample{
		Key:             fmt.Sprintf("%s-%06d", slug, job.Index),
		Path:            c.Candidate.Path,
		RunID:           run.ID,
		Run:             run.Name,
		Group:           g.Name,
		JobIndex:        job.Index,
		JobKey:          job.Key,
		Params:          make(map[string]any, len(job.Params)),
		Scores:          map[string]float64{},
		Total:           finite(c.Total),
		Selected:        rank > 0,
		Rank:            rank,
		Rejected:        c.Rejected,
		NearDuplicateOf: g.NearDuplicates[job.Key],
		Instance:        c.Candidate.Instance,
		SHA256:          c.Candidate.SHA256,
	}
	for _, p := range job.Params {
		s.Params[p.Name] = p.Value
	}
	if v, ok := job.Param(promptParam); ok {
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

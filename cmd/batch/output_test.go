package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/pipeline"
	"github.com/comfybatch/comfybatch/store"
)

// TestOutcomeNamesImagesOfAPrompt: when prompts save batches at two
// output nodes, the end-of-run table shows the seed, batch index and
// output node of each selected image; a run of one image per prompt
// shows neither column.
func TestOutcomeNamesImagesOfAPrompt(t *testing.T) {
	job := comfybatch.Job{Key: "k2", Index: 2, Group: "fox",
		Params: []comfybatch.Param{{Name: "prompt", Value: "a fox"}, {Name: "seed", Value: uint64(7)}}}
	scored := func(out string, i int, total float64) comfybatch.Scored {
		return comfybatch.Scored{Candidate: comfybatch.Candidate{Job: job, Instance: "gpu-1", Output: out, BatchIndex: i},
			Total: total}
	}
	ranked := []comfybatch.Scored{scored("12", 1, 0.9), scored("9", 0, 0.8), scored("9", 1, 0.5)}
	out := &pipeline.Outcome{Run: store.Run{ID: 1, OutputDir: "/runs/fox"}, Groups: []pipeline.GroupResult{{
		Name: "fox", Ranked: ranked, Selection: []comfybatch.Selection{
			{Group: "fox", Rank: 1, JobKey: "k2", Output: "12", BatchIndex: 1, Total: 0.9},
			{Group: "fox", Rank: 2, JobKey: "k2", Output: "9", Total: 0.8},
		}}}}
	var b bytes.Buffer
	printOutcome(&b, out, false)
	for _, re := range []string{`(?m)^GROUP +RANK +JOB +SEED +BATCH +OUTPUT +INSTANCE +TOTAL$`,
		`(?m)^fox +1 +2 +7 +1 +12 +gpu-1 +0\.900$`, `(?m)^fox +2 +2 +7 +0 +9 +gpu-1 +0\.800$`} {
		if !regexp.MustCompile(re).MatchString(b.String()) {
			t.Errorf("outcome lacks %s:\n%s", re, b.String())
		}
	}

	one := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: job, Instance: "gpu-1", Output: "9"}, Total: 0.8}
	out.Groups[0].Ranked = []comfybatch.Scored{one}
	out.Groups[0].Selection = out.Groups[0].Selection[1:]
	b.Reset()
	printOutcome(&b, out, false)
	if head, _, _ := strings.Cut(b.String(), "\n"); strings.Contains(head, "BATCH") || strings.Contains(head, "OUTPUT") {
		t.Errorf("one image per prompt, header %q names batches or outputs", head)
	}
}

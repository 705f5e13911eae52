package pipeline

import (
	"fmt"
	"slices"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// TestKeepBest: a group's result keeps its best candidates and every
// selected one, in a slice of its own, so that the rest of a large group
// (and its scores) can be freed once the group is selected.
func TestKeepBest(t *testing.T) {
	ordered := make([]comfybatch.Scored, 1000)
	for i := range ordered {
		ordered[i].Candidate.Job = comfybatch.Job{Key: fmt.Sprintf("k%04d", i), Index: i}
		ordered[i].Total = float64(len(ordered) - i)
	}
	// Selected: two in the first keepRanked, two after them (the ones
	// between were rejected).
	var sel []comfybatch.Selection
	for _, i := range []int{0, 5, keepRanked + 7, 900} {
		sel = append(sel, comfybatch.Selection{JobKey: ordered[i].Candidate.Job.Key})
	}
	got := keepBest(ordered, sel)
	if len(got) != keepRanked+2 {
		t.Fatalf("kept %d candidates, want %d", len(got), keepRanked+2)
	}
	if cap(got) > keepRanked+len(sel) {
		t.Errorf("kept a slice of capacity %d, want at most %d", cap(got), keepRanked+len(sel))
	}
	if got[keepRanked].Candidate.Job.Index != keepRanked+7 || got[keepRanked+1].Candidate.Job.Index != 900 {
		t.Errorf("kept after the best: jobs %d and %d, want %d and 900",
			got[keepRanked].Candidate.Job.Index, got[keepRanked+1].Candidate.Job.Index, keepRanked+7)
	}
	ordered[0].Total = -1
	if got[0].Total == -1 {
		t.Error("the kept candidates share the group's array: it stays alive as long as they do")
	}
	if small := keepBest(ordered[:3], sel[:1]); len(small) != 3 {
		t.Errorf("a group of 3 kept %d", len(small))
	}
}

// TestSelectRecordsNearDuplicates: re-selecting a stored group skips a
// candidate whose perceptual hash is within phash_distance of a selected
// one, and records why with its total.
func TestSelectRecordsNearDuplicates(t *testing.T) {
	m := loadManifest(t, t.TempDir(), "dups.yaml", `name: dups
workflow: txt2img.json
params:
  prompt: {title: Positive, input: text}
groups:
  - name: fox
    set: {prompt: "a fox"}
sweep:
  seed: [1, 2, 3, 4]
scorers:
  - type: sharpness
  - type: phash
select:
  top_k: 2
  phash_distance: 4
`, nil)
	st, run := startRun(t, m)
	// Sharpest last, so that ranking reorders the plan: job 3, then job 2
	// (2 bits from job 3's hash), job 1 and job 0.
	hashes := []string{"0f0f0f0f0f0f0f0f", "ffffffff00000000", "00000000000000fc", "00000000000000ff"}
	var jobs []comfybatch.Job
	for j, err := range m.Jobs() {
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	if err := st.PlanJobs(t.Context(), run.ID, jobs); err != nil {
		t.Fatal(err)
	}
	img, sha, err := st.WriteImage(t.Context(), run, tinyPNG(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		sc := comfybatch.Scored{Candidate: comfybatch.Candidate{Job: j, Output: "9", Path: img, SHA256: sha}, Scores: []comfybatch.Score{
			{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": float64(100 + i)}},
			{Scorer: "phash", Metrics: map[string]float64{}, Values: map[string]string{"hash": hashes[i]}},
		}}
		if err := st.RecordCandidate(t.Context(), run.ID, sc); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	groups, err := Select(t.Context(), m, run.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var picked []int
	for _, s := range groups[0].Selection {
		for _, j := range jobs {
			if j.Key == s.JobKey {
				picked = append(picked, j.Index)
			}
		}
	}
	if !slices.Equal(picked, []int{3, 1}) {
		t.Errorf("selected jobs %v, want [3 1] (job 2 is a near-duplicate of job 3)", picked)
	}
	stored, err := openStore(t, m.Output.Database).Candidates(t.Context(), run.ID, "fox")
	if err != nil || len(stored) != 4 {
		t.Fatalf("Candidates = %d, %v", len(stored), err)
	}
	for i, c := range stored {
		want := ""
		if i == 2 {
			want = comfybatch.NearDuplicateReason(3)
		}
		if c.Rejected != want {
			t.Errorf("job %d stored as rejected %q, want %q", i, c.Rejected, want)
		}
		if (i == 3 && c.Total != 1) || (i > 0 && c.Total <= stored[i-1].Total) {
			t.Errorf("job %d stored with total %v after %v: want totals that rise with sharpness, 1 for the sharpest",
				i, c.Total, stored[max(i-1, 0)].Total)
		}
	}
	for _, c := range groups[0].Ranked {
		if c.Candidate.Job.Index == 2 && c.Rejected != comfybatch.NearDuplicateReason(3) {
			t.Errorf("the group's ranked job 2 reads rejected %q", c.Rejected)
		}
	}
}

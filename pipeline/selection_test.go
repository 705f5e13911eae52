package pipeline

import (
	"fmt"
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

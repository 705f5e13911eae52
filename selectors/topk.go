package selectors

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// A Selector picks the delivered candidates of one group from candidates
// already ranked by Rank. Implementations must be deterministic: the same
// input gives the same selection.
type Selector interface {
	Select(group string, ranked []comfybatch.Scored) []comfybatch.Selection
}

// TopK selects up to K candidates of a group by descending Total, skipping
// rejected ones, ones under MinScore and near-duplicates. Ties are broken by
// plan order (Job.Index), then by the candidate's identity (job key, output
// node, batch index), so reruns select the same.
type TopK struct {
	K        int
	MinScore *float64
	// HashScorer names the scorer whose Values["hash"] holds a 64-bit
	// perceptual hash in hex; with Distance > 0, a candidate whose hash is
	// within Distance bits of an already selected one is skipped.
	HashScorer string
	Distance   int
}

// Select implements Selector.
func (t TopK) Select(group string, ranked []comfybatch.Scored) []comfybatch.Selection {
	order := Order(ranked)
	var sel []comfybatch.Selection
	var picked []uint64
	for _, c := range order {
		if len(sel) >= t.K {
			break
		}
		if c.Rejected != "" || (t.MinScore != nil && c.Total < *t.MinScore) {
			continue
		}
		if t.Distance > 0 {
			if h, ok := hashOf(c, t.HashScorer); ok {
				if nearDuplicate(h, picked, t.Distance) {
					continue
				}
				picked = append(picked, h)
			}
		}
		sel = append(sel, comfybatch.Selection{
			Group:      group,
			Rank:       len(sel) + 1,
			JobKey:     c.Candidate.Job.Key,
			Output:     c.Candidate.Output,
			BatchIndex: c.Candidate.BatchIndex,
			Total:      c.Total,
			Reason:     fmt.Sprintf("top %d by total", t.K),
		})
	}
	return sel
}

// NearDuplicates reports, for each candidate that TopK skipped as a
// near-duplicate, the selected candidate it resembles.
func (t TopK) NearDuplicates(ranked []comfybatch.Scored, sel []comfybatch.Selection) map[comfybatch.Ref]comfybatch.Ref {
	out := map[comfybatch.Ref]comfybatch.Ref{}
	if t.Distance <= 0 {
		return out
	}
	chosen := map[comfybatch.Ref]bool{}
	for _, s := range sel {
		chosen[s.Ref()] = true
	}
	var refs []comfybatch.Ref
	var hashes []uint64
	for _, c := range Order(ranked) {
		h, ok := hashOf(c, t.HashScorer)
		if !ok {
			continue
		}
		r := c.Candidate.Ref()
		if chosen[r] {
			refs, hashes = append(refs, r), append(hashes, h)
			continue
		}
		if c.Rejected != "" {
			continue
		}
		for i, p := range hashes {
			if bits.OnesCount64(h^p) <= t.Distance {
				out[r] = refs[i]
				break
			}
		}
	}
	return out
}

// Order returns the candidates sorted best first: by Total descending, then
// Job.Index, then job key, output node and batch index. Candidates already
// in that order are returned as they are, without a copy.
func Order(ranked []comfybatch.Scored) []comfybatch.Scored {
	if slices.IsSortedFunc(ranked, compare) {
		return ranked
	}
	// A Scored is a few hundred bytes: sort positions, then copy each
	// candidate once.
	idx := make([]int32, len(ranked))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := compare(ranked[a], ranked[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b) // stable: equal candidates keep their order
	})
	out := make([]comfybatch.Scored, len(ranked))
	for i, j := range idx {
		out[i] = ranked[j]
	}
	return out
}

// compare orders two candidates as Order does.
func compare(a, b comfybatch.Scored) int {
	if a.Total != b.Total {
		if a.Total > b.Total {
			return -1
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(a.Candidate.Job.Index, b.Candidate.Job.Index),
		strings.Compare(a.Candidate.Job.Key, b.Candidate.Job.Key),
		strings.Compare(a.Candidate.Output, b.Candidate.Output),
		cmp.Compare(a.Candidate.BatchIndex, b.Candidate.BatchIndex),
	)
}

func hashOf(c comfybatch.Scored, scorer string) (uint64, bool) {
	for _, s := range c.Scores {
		if s.Scorer != scorer {
			continue
		}
		h, err := strconv.ParseUint(s.Values["hash"], 16, 64)
		return h, err == nil
	}
	return 0, false
}

func nearDuplicate(h uint64, picked []uint64, dist int) bool {
	for _, p := range picked {
		if bits.OnesCount64(h^p) <= dist {
			return true
		}
	}
	return false
}

package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/selectors"
	"github.com/comfybatch/comfybatch/store"
	"golang.org/x/sync/errgroup"
)

// selectOptions override the manifest's selection settings (batch select).
type selectOptions struct {
	TopK int // 0 = the manifest's (per group)
}

// selectRun ranks every group of a run from its stored scores, selects the
// top K, and records totals, selections and the selected/ folder. It reads,
// ranks and records one group at a time (a group's candidates, without
// their params, are what it holds), and writes only the totals and
// rejections that changed.
func selectRun(ctx context.Context, st *store.Store, run store.Run, m *manifests.Manifest, so selectOptions) ([]GroupResult, error) {
	names := map[string]bool{}
	for _, g := range m.Groups {
		names[g.Name] = true // a group with nothing to select from is a shortfall too
	}
	recorded, err := st.Groups(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	for _, g := range recorded {
		names[g.Name] = true
	}
	rules := Rules(m)
	hashScorer := ""
	for _, s := range m.Scorers {
		if s.Type == "phash" {
			hashScorer = s.Name
		}
	}
	// Groups are independent: a few at a time overlap one group's reads and
	// ranking with another's writes (the store has one writer, and readers
	// that never block it).
	sorted := slices.Sorted(maps.Keys(names))
	groups := make([]GroupResult, len(sorted))
	sels := make([][]comfybatch.Selection, len(sorted))
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(selectWorkers)
	for i, name := range sorted {
		eg.Go(func() error {
			var err error
			groups[i], sels[i], err = selectGroup(gctx, st, run, m, name, rules, hashScorer, so)
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	all := slices.Concat(sels...)
	if err := st.LayoutSelected(ctx, run, all); err != nil {
		return nil, fmt.Errorf("lay out selected images: %w", err)
	}
	return groups, nil
}

// selectWorkers is how many groups selectRun selects at once.
const selectWorkers = 3

// keepRanked is how many of a group's ranked candidates, besides the
// selected ones, a GroupResult keeps.
const keepRanked = 32

// selectGroup ranks and selects one group and records the outcome.
func selectGroup(ctx context.Context, st *store.Store, run store.Run, m *manifests.Manifest, name string,
	rules []selectors.Rule, hashScorer string, so selectOptions) (GroupResult, []comfybatch.Selection, error) {
	cands, ids, err := st.RankingCandidates(ctx, run.ID, name)
	if err != nil {
		return GroupResult{}, nil, fmt.Errorf("read candidates of group %s: %w", name, err)
	}
	scored, kept := cands[:0], ids[:0]
	for i, c := range cands {
		if len(c.Pending) > 0 {
			continue // neither selected nor rejected until every scorer has scored it
		}
		scored, kept = append(scored, c), append(kept, ids[i])
	}
	k := m.TopKFor(name)
	if so.TopK > 0 {
		k = so.TopK
	}
	tk := selectors.TopK{K: k, MinScore: m.Select.MinScore, HashScorer: hashScorer, Distance: m.Select.PhashDistance}
	// ranked is in scored's order, which keeps each candidate's id and
	// recorded total at hand. Ordered once: Select and NearDuplicates take
	// candidates already in order as they are.
	ranked := selectors.Rank(scored, rules)
	ordered := selectors.Order(ranked)
	sel := tk.Select(name, ordered)
	if dups := tk.NearDuplicates(ordered, sel); len(dups) > 0 {
		markNearDuplicates(dups, ranked, ordered)
	}
	var changed []store.Total
	for i, c := range ranked {
		if was := scored[i]; was.Total != c.Total || was.Rejected != c.Rejected {
			changed = append(changed, store.Total{Candidate: kept[i], Total: c.Total, Rejected: c.Rejected})
		}
	}
	if err := st.SetTotals(ctx, changed); err != nil {
		return GroupResult{}, nil, fmt.Errorf("record totals of group %s: %w", name, err)
	}
	if err := st.SaveSelections(ctx, run.ID, name, sel); err != nil {
		return GroupResult{}, nil, fmt.Errorf("record selection of group %s: %w", name, err)
	}
	g := GroupResult{Name: name, TopK: k, Candidates: len(ranked), Selection: sel}
	g.Reason, g.Rejected = mainRejection(ranked)
	g.Ranked = keepBest(ordered, sel)
	if err := st.FillJobs(ctx, run, g.Ranked); err != nil {
		return GroupResult{}, nil, fmt.Errorf("read jobs of group %s: %w", name, err)
	}
	return g, sel, nil
}

// markNearDuplicates gives each candidate that dups names (a candidate
// skipped as a near-duplicate of a selected one, see
// selectors.TopK.NearDuplicates) its rejection reason, in each of the
// lists of one group's candidates.
func markNearDuplicates(dups map[comfybatch.Ref]comfybatch.Ref, lists ...[]comfybatch.Scored) {
	idx := map[string]int{}
	images := map[string]int{} // candidates per job
	for _, c := range lists[0] {
		idx[c.Candidate.Job.Key] = c.Candidate.Job.Index
		images[c.Candidate.Job.Key]++
	}
	for _, list := range lists {
		for i := range list {
			of, ok := dups[list[i].Candidate.Ref()]
			switch {
			case !ok:
			case images[of.JobKey] > 1: // say which image of that job
				list[i].Rejected = comfybatch.NearDuplicateImageReason(idx[of.JobKey], of.Output, of.BatchIndex)
			default:
				list[i].Rejected = comfybatch.NearDuplicateReason(idx[of.JobKey])
			}
		}
	}
}

// keepBest returns the first keepRanked of the ordered candidates and
// every selected one after them, in a new slice: a slice of ordered would
// keep the whole group, and its scores, alive as long as the result.
func keepBest(ordered []comfybatch.Scored, sel []comfybatch.Selection) []comfybatch.Scored {
	n := min(len(ordered), keepRanked)
	out := make([]comfybatch.Scored, n, n+len(sel))
	copy(out, ordered)
	missing := map[comfybatch.Ref]bool{}
	for _, s := range sel {
		missing[s.Ref()] = true
	}
	for _, c := range out {
		delete(missing, c.Candidate.Ref())
	}
	for _, c := range ordered[n:] {
		if len(missing) == 0 {
			break
		}
		if r := c.Candidate.Ref(); missing[r] {
			out = append(out, c)
			delete(missing, r)
		}
	}
	return out
}

// Rules turns the manifest's scorer declarations into ranking rules: one
// per declared metric, with its weight, normalisation and gate.
func Rules(m *manifests.Manifest) []selectors.Rule {
	var rules []selectors.Rule
	for _, s := range m.Scorers {
		metrics := make([]string, 0, len(s.Metrics))
		for name := range s.Metrics {
			metrics = append(metrics, name)
		}
		sort.Strings(metrics)
		for _, name := range metrics {
			ms := s.Metrics[name]
			norm := ms.Normalize
			if norm == "" {
				norm = s.Normalize
			}
			rules = append(rules, selectors.Rule{
				Scorer: s.Name, Metric: name, Weight: ms.Weight, Normalize: norm, Min: ms.Min, Max: ms.Max,
			})
		}
	}
	return rules
}

// Select re-ranks and re-selects a stored run from its scores, without
// generating or scoring anything. topK > 0 overrides the manifest's top_k
// for every group.
func Select(ctx context.Context, m *manifests.Manifest, runID int64, topK int) ([]GroupResult, error) {
	st, err := store.Open(ctx, m.Output.Database, store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	run, err := st.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	return selectRun(ctx, st, run, m, selectOptions{TopK: topK})
}

package pipeline

import (
	"context"
	"fmt"
	"sort"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/selectors"
	"github.com/comfybatch/comfybatch/store"
)

// selectOptions override the manifest's selection settings (batch select).
type selectOptions struct {
	TopK int // 0 = the manifest's (per group)
}

// selectRun ranks every group of a run from its stored scores, selects the
// top K, and records totals, selections and the selected/ folder.
func selectRun(ctx context.Context, st *store.Store, run store.Run, m *manifests.Manifest, so selectOptions) ([]GroupResult, error) {
	cands, err := st.Candidates(ctx, run.ID, "")
	if err != nil {
		return nil, fmt.Errorf("read candidates: %w", err)
	}
	byGroup := map[string][]comfybatch.Scored{}
	var names []string
	for _, c := range cands {
		if len(c.Pending) > 0 {
			continue // neither selected nor rejected until every scorer has scored it
		}
		g := c.Candidate.Job.Group
		if _, ok := byGroup[g]; !ok {
			names = append(names, g)
		}
		byGroup[g] = append(byGroup[g], c)
	}
	for _, g := range m.Groups {
		if _, ok := byGroup[g.Name]; !ok {
			names = append(names, g.Name) // nothing to select from is a shortfall too
			byGroup[g.Name] = nil
		}
	}
	sort.Strings(names)
	rules := Rules(m)
	hashScorer := ""
	for _, s := range m.Scorers {
		if s.Type == "phash" {
			hashScorer = s.Name
		}
	}
	var all []comfybatch.Selection
	var groups []GroupResult
	var ranking []comfybatch.Scored
	for _, name := range names {
		k := m.TopKFor(name)
		if so.TopK > 0 {
			k = so.TopK
		}
		tk := selectors.TopK{K: k, MinScore: m.Select.MinScore, HashScorer: hashScorer, Distance: m.Select.PhashDistance}
		ranked := selectors.Rank(byGroup[name], rules)
		sel := tk.Select(name, ranked)
		dups := tk.NearDuplicates(ranked, sel)
		idx := map[string]int{}
		images := map[string]int{} // candidates per job
		for _, c := range ranked {
			idx[c.Candidate.Job.Key] = c.Candidate.Job.Index
			images[c.Candidate.Job.Key]++
		}
		for i := range ranked {
			of, ok := dups[ranked[i].Candidate.Ref()]
			switch {
			case !ok:
			case images[of.JobKey] > 1: // say which image of that job
				ranked[i].Rejected = comfybatch.NearDuplicateImageReason(idx[of.JobKey], of.Output, of.BatchIndex)
			default:
				ranked[i].Rejected = comfybatch.NearDuplicateReason(idx[of.JobKey])
			}
		}
		if err := st.SaveSelections(ctx, run.ID, name, sel); err != nil {
			return nil, fmt.Errorf("record selection of group %s: %w", name, err)
		}
		ranking = append(ranking, ranked...)
		all = append(all, sel...)
		groups = append(groups, GroupResult{Name: name, TopK: k, Ranked: selectors.Order(ranked), Selection: sel})
	}
	if err := st.UpdateRanking(ctx, run.ID, ranking); err != nil {
		return nil, fmt.Errorf("record totals: %w", err)
	}
	if err := st.LayoutSelected(ctx, run, all); err != nil {
		return nil, fmt.Errorf("lay out selected images: %w", err)
	}
	return groups, nil
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

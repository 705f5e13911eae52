package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// Rescore runs the manifest's scorers again on a stored run's images,
// without generating anything, then re-selects. only names the scorers to
// run (empty = all); the other scorers' stored results are kept. It
// returns the new selection and how many candidates were rescored.
func Rescore(ctx context.Context, m *manifests.Manifest, runID int64, only []string, opts Options) ([]GroupResult, int, error) {
	scorers, err := buildScorers(m, opts)
	if err != nil {
		return nil, 0, err
	}
	if len(only) > 0 {
		var names []string
		var picked []namedScorer
		for _, s := range scorers {
			names = append(names, s.name)
			if slices.Contains(only, s.name) {
				picked = append(picked, s)
			}
		}
		for _, n := range only {
			if !slices.Contains(names, n) {
				return nil, 0, fmt.Errorf("no scorer named %q in %s (it has: %s): %w", n, m.Path, strings.Join(names, ", "), comfybatch.ErrInvalid)
			}
		}
		scorers = picked
	}
	st, err := store.Open(ctx, m.Output.Database, store.Options{Logger: opts.Logger})
	if err != nil {
		return nil, 0, fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	run, err := st.Run(ctx, runID)
	if err != nil {
		return nil, 0, err
	}
	cands, err := st.Candidates(ctx, runID, "")
	if err != nil {
		return nil, 0, err
	}
	var g errgroup.Group
	g.SetLimit(64)
	cpu := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, c := range cands {
		g.Go(func() error {
			data, err := os.ReadFile(filepath.Join(run.OutputDir, c.Candidate.Path))
			if err != nil {
				return fmt.Errorf("image of job %d: %w", c.Candidate.Job.Index, err)
			}
			cand := c.Candidate
			cand.Image = data
			fresh := scoreCandidate(ctx, cand, scorers, cpu)
			c.Scores = mergeScores(c.Scores, fresh.Scores)
			return st.RecordCandidate(ctx, runID, c)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	if err := st.Flush(ctx); err != nil {
		return nil, 0, err
	}
	groups, err := selectRun(ctx, st, run, m, selectOptions{})
	return groups, len(cands), err
}

// mergeScores replaces the old results of every scorer that produced a
// fresh one and keeps the rest, in the old order with new scorers last.
func mergeScores(old, fresh []comfybatch.Score) []comfybatch.Score {
	out := make([]comfybatch.Score, 0, len(old)+len(fresh))
	used := map[string]bool{}
	for _, o := range old {
		i := slices.IndexFunc(fresh, func(f comfybatch.Score) bool { return f.Scorer == o.Scorer })
		if i >= 0 {
			out = append(out, fresh[i])
			used[o.Scorer] = true
			continue
		}
		out = append(out, o)
	}
	for _, f := range fresh {
		if !used[f.Scorer] {
			out = append(out, f)
		}
	}
	return out
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// RescoreOptions choose what Rescore scores again.
type RescoreOptions struct {
	// Only names the scorers to run (empty = all of the manifest's); the
	// other scorers' stored results are kept.
	Only []string
	// Pending scores only the candidates that wait for a scorer, with the
	// scorers they wait for.
	Pending bool
}

// Rescore runs the manifest's scorers again on a stored run's images,
// without generating anything, then re-selects. It is all or nothing:
// every scorer is checked first, and the new scores replace the stored
// ones in one transaction only when every candidate got a complete,
// successful set; an outage on the way (an error wrapping
// comfybatch.ErrOutage) leaves everything stored as it was. It returns the
// new selection and how many candidates were rescored.
func Rescore(ctx context.Context, m *manifests.Manifest, runID int64, ro RescoreOptions, opts Options) ([]GroupResult, int, error) {
	scorers, err := buildScorers(m, opts)
	if err != nil {
		return nil, 0, err
	}
	if len(ro.Only) > 0 {
		var names []string
		var picked []namedScorer
		for _, s := range scorers {
			names = append(names, s.name)
			if slices.Contains(ro.Only, s.name) {
				picked = append(picked, s)
			}
		}
		for _, n := range ro.Only {
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
	var cands []comfybatch.Scored
	if ro.Pending {
		cands, err = st.UnscoredCandidates(ctx, runID)
	} else {
		cands, err = st.Candidates(ctx, runID, "")
	}
	if err != nil {
		return nil, 0, err
	}
	if len(cands) > 0 {
		if err := preflightScorers(ctx, scorers, m.Path); err != nil {
			return nil, 0, err
		}
	}
	fresh, err := rescoreAll(ctx, run, cands, newScoring(scorers, newScorerWatch(0, 0, 0)), ro.Pending)
	if err != nil {
		return nil, 0, err
	}
	if err := st.ReplaceScores(ctx, runID, fresh); err != nil {
		return nil, 0, err
	}
	groups, err := selectRun(ctx, st, run, m, selectOptions{})
	return groups, len(fresh), err
}

// rescoreAll scores every candidate again and returns them with their
// merged scores, or the first outage (nothing is stored here).
func rescoreAll(ctx context.Context, run store.Run, cands []comfybatch.Scored, sc *scoring, pendingOnly bool) ([]comfybatch.Scored, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var names []string
	for _, s := range sc.scorers {
		names = append(names, s.name)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	out := make([]comfybatch.Scored, len(cands)) // goroutine i writes out[i] only
	for i, c := range cands {
		g.Go(func() error {
			data, err := os.ReadFile(filepath.Join(run.OutputDir, c.Candidate.Path))
			if err != nil {
				return fmt.Errorf("image of job %d: %w", c.Candidate.Job.Index, err)
			}
			cand := c.Candidate
			cand.Image = data
			only := names
			if pendingOnly {
				only = slices.DeleteFunc(slices.Clone(c.Pending), func(n string) bool { return !slices.Contains(names, n) })
			}
			fresh := sc.score(gctx, cand, only, sc.decodeNeed(only))
			releasePixels(fresh)
			if len(fresh.Pending) > 0 {
				err := fmt.Errorf("scorer %s became unavailable while rescoring; nothing was changed: %w",
					strings.Join(fresh.Pending, ", "), comfybatch.ErrOutage)
				if cause := context.Cause(gctx); cause != nil && !errors.Is(cause, context.Canceled) {
					err = cause
				}
				return err
			}
			c.Scores = mergeScores(c.Scores, fresh.Scores)
			c.Pending = slices.DeleteFunc(c.Pending, func(n string) bool { return slices.Contains(only, n) })
			if len(c.Pending) == 0 {
				c.Pending = nil
			}
			out[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
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

package pipeline

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

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
	// The scorers are checked once there is a candidate to score.
	check := func(ctx context.Context) error { return preflightScorers(ctx, scorers, m.Path) }
	n, err := rescoreStream(ctx, st, run, m.Output.Database, newScoring(scorers, newScorerWatch(0, 0, 0)), ro.Pending, check)
	if err != nil {
		return nil, 0, err
	}
	groups, err := selectRun(ctx, st, run, m, selectOptions{})
	return groups, n, err
}

// rescoreWorkers is how many candidates Rescore scores at once (the
// local scorers share the CPUs through scoring's own limit).
const rescoreWorkers = 64

// rescoreStream scores the candidates of run again as they are read
// (pendingOnly: those that wait for a scorer, with those scorers), spools
// each result to a file next to the database, and once every candidate is
// rescored replaces their stored scores in one transaction read back from
// the spool: memory holds the candidates in flight, not the run, and the
// database is locked for writing only while the scores are written, not
// while they are computed (another process's run may share the database).
// The first outage or error leaves every stored score as it was. It
// returns how many candidates were rescored.
func rescoreStream(ctx context.Context, st *store.Store, run store.Run, dbPath string, sc *scoring, pendingOnly bool, check func(context.Context) error) (int, error) {
	spool, err := os.CreateTemp(filepath.Dir(dbPath), ".comfybatch-rescore-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("rescore: spool file: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	n, err := rescoreToSpool(ctx, st, run, sc, pendingOnly, check, spool)
	if err != nil {
		return 0, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("rescore: spool file: %w", err)
	}
	dec := gob.NewDecoder(bufio.NewReader(spool))
	return st.ReplaceScoresSeq(ctx, run.ID, func(yield func(comfybatch.Scored, error) bool) {
		for range n {
			var r spooled
			if err := dec.Decode(&r); err != nil {
				yield(comfybatch.Scored{}, fmt.Errorf("rescore: read the spool file back: %w", err))
				return
			}
			if !yield(r.scored(), nil) {
				return
			}
		}
	})
}

// rescoreToSpool is rescoreStream's first part: read, score and spool
// every candidate, 64 at a time, once check has passed when the first
// candidate was read (a run with none checks nothing). It returns how
// many it spooled.
func rescoreToSpool(ctx context.Context, st *store.Store, run store.Run, sc *scoring, pendingOnly bool, check func(context.Context) error, spool io.Writer) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var names []string
	for _, s := range sc.scorers {
		names = append(names, s.name)
	}
	g, gctx := errgroup.WithContext(ctx)
	in := make(chan comfybatch.Scored, rescoreWorkers)
	out := make(chan comfybatch.Scored, rescoreWorkers)
	g.Go(func() error {
		defer close(in)
		checked := false
		return st.EachScored(gctx, run.ID, pendingOnly, func(c comfybatch.Scored) error {
			if !checked {
				checked = true
				if err := check(gctx); err != nil {
					return err
				}
			}
			select {
			case in <- c:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	var workers sync.WaitGroup
	for range rescoreWorkers {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for c := range in {
				fresh, err := rescoreOne(gctx, run, c, sc, names, pendingOnly)
				if err != nil {
					return err
				}
				select {
				case out <- fresh:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		workers.Wait()
		close(out)
		return nil
	})
	bw := bufio.NewWriter(spool)
	enc := gob.NewEncoder(bw)
	n := 0
	var werr error
	for c := range out {
		if werr = enc.Encode(spoolOf(c)); werr != nil {
			cancel() // the readers and scorers stop
			break
		}
		n++
	}
	if err := g.Wait(); err != nil && (werr == nil || !errors.Is(err, context.Canceled)) {
		return 0, err
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		return 0, fmt.Errorf("rescore: write the spool file: %w", werr)
	}
	return n, nil
}

// spooled is what ReplaceScoresSeq reads of a rescored candidate, as the
// spool file holds it (gob, which keeps NaN and infinite metrics).
type spooled struct {
	Key        string
	Output     string
	BatchIndex int
	Scores     []comfybatch.Score
	Pending    []string
	Rejected   string
	Total      float64
}

func spoolOf(c comfybatch.Scored) spooled {
	return spooled{Key: c.Candidate.Job.Key, Output: c.Candidate.Output,
		BatchIndex: c.Candidate.BatchIndex, Scores: c.Scores, Pending: c.Pending, Rejected: c.Rejected, Total: c.Total}
}

func (r spooled) scored() comfybatch.Scored {
	return comfybatch.Scored{
		Candidate: comfybatch.Candidate{Job: comfybatch.Job{Key: r.Key}, Output: r.Output, BatchIndex: r.BatchIndex},
		Scores:    r.Scores, Pending: r.Pending, Rejected: r.Rejected, Total: r.Total,
	}
}

// rescoreOne scores one stored candidate again with the scorers named
// (pendingOnly: those it waits for) and returns it with its merged
// scores, or an outage error when a scorer is unavailable.
func rescoreOne(ctx context.Context, run store.Run, c comfybatch.Scored, sc *scoring, names []string, pendingOnly bool) (comfybatch.Scored, error) {
	only := names
	if pendingOnly {
		only = slices.DeleteFunc(slices.Clone(c.Pending), func(n string) bool { return !slices.Contains(names, n) })
	}
	fresh, err := sc.scoreStored(ctx, run, c.Candidate, only)
	if err != nil {
		return c, fmt.Errorf("image of job %d: %w", c.Candidate.Job.Index, err)
	}
	if len(fresh.Pending) > 0 {
		err := fmt.Errorf("scorer %s became unavailable while rescoring; nothing was changed: %w",
			strings.Join(fresh.Pending, ", "), comfybatch.ErrOutage)
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		return c, err
	}
	c.Scores = mergeScores(c.Scores, fresh.Scores)
	c.Pending = slices.DeleteFunc(c.Pending, func(n string) bool { return slices.Contains(only, n) })
	if len(c.Pending) == 0 {
		c.Pending = nil
	}
	return c, nil
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

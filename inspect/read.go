package inspect

import (
	"context"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/store"
)

// snapshot is what Show and Compare read about a run.
type snapshot struct {
	run      store.Run
	counts   store.Counts
	cands    []comfybatch.Scored // of the group, or all
	sel      []comfybatch.Selection
	failures []store.Failure
}

// readAttempts bounds how often readRun starts over when the run changed
// while it read.
const readAttempts = 3

// readRun reads run runID for Show and Compare. The store has no read
// transaction to offer, so the queries are separate and a run that is
// being written can change between them (a candidate recorded after the
// counts were read). readRun reads the counts again at the end and starts
// over when they changed, up to readAttempts times; after that it returns
// the last read, which is then off by the records committed meanwhile.
func readRun(ctx context.Context, st *store.Store, runID int64, group string) (snapshot, error) {
	var s snapshot
	var err error
	if s.run, err = st.Run(ctx, runID); err != nil {
		return snapshot{}, err
	}
	if s.counts, err = st.Counts(ctx, runID); err != nil {
		return snapshot{}, err
	}
	if err := checkGroup(runID, s.counts, group); err != nil {
		return snapshot{}, err
	}
	for range readAttempts {
		if s.cands, err = st.Candidates(ctx, runID, group); err != nil {
			return snapshot{}, err
		}
		if s.sel, err = st.Selections(ctx, runID); err != nil {
			return snapshot{}, err
		}
		if s.failures, err = st.Failures(ctx, runID); err != nil {
			return snapshot{}, err
		}
		after, err := st.Counts(ctx, runID)
		if err != nil {
			return snapshot{}, err
		}
		if sameCounts(s.counts, after) {
			break
		}
		s.counts = after
	}
	return s, nil
}

func sameCounts(a, b store.Counts) bool {
	if a.All != b.All || len(a.Groups) != len(b.Groups) {
		return false
	}
	for g, t := range a.Groups {
		if b.Groups[g] != t {
			return false
		}
	}
	return true
}

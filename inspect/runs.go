package inspect

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// RunSummary is one line of batch runs: a run with its job counts and how
// many candidates it selected.
type RunSummary struct {
	ID           int64
	Name         string
	Status       string // one of the store.Run* statuses
	ManifestPath string
	OutputDir    string
	MasterSeed   uint64
	Started      time.Time
	Finished     time.Time // zero while running
	// Duration is Finished-Started, or the time elapsed so far while the
	// run has no finish time.
	Duration time.Duration
	Jobs     store.Tally
	Selected int
}

// NewRunSummary summarises run r from its job counts and the number of
// candidates it selected. now is used only for a run without a finish time.
func NewRunSummary(r store.Run, c store.Counts, selected int, now time.Time) RunSummary {
	s := RunSummary{
		ID: r.ID, Name: r.Name, Status: r.Status, ManifestPath: r.ManifestPath, OutputDir: r.OutputDir,
		MasterSeed: r.MasterSeed, Started: r.Started, Finished: r.Finished, Jobs: c.All, Selected: selected,
	}
	end := r.Finished
	if end.IsZero() {
		end = now
	}
	if !r.Started.IsZero() && end.After(r.Started) {
		s.Duration = end.Sub(r.Started)
	}
	return s
}

// Summary summarises an opened run as NewRunSummary does.
func Summary(r *runview.Run, now time.Time) RunSummary {
	return RunSummary{
		ID: r.ID, Name: r.Name, Status: r.Status, ManifestPath: r.ManifestPath, OutputDir: r.OutputDir,
		MasterSeed: r.MasterSeed, Started: r.Started, Finished: r.Finished, Duration: r.Duration(now),
		Jobs:     store.Tally{Total: r.Jobs, Pending: r.Pending, Submitted: r.Submitted, Done: r.Done, Failed: r.Failed},
		Selected: r.Selected,
	}
}

// Runs returns a summary of every run in the database, newest first.
func Runs(ctx context.Context, st *store.Store) ([]RunSummary, error) {
	runs, err := st.Runs(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]RunSummary, 0, len(runs))
	for _, r := range runs {
		s, err := summarise(ctx, st, r, now)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// summarise reads what NewRunSummary needs about r.
func summarise(ctx context.Context, st *store.Store, r store.Run, now time.Time) (RunSummary, error) {
	c, err := st.Counts(ctx, r.ID)
	if err != nil {
		return RunSummary{}, fmt.Errorf("summarise run %d: %w", r.ID, err)
	}
	sel, err := st.Selections(ctx, r.ID)
	if err != nil {
		return RunSummary{}, fmt.Errorf("summarise run %d: %w", r.ID, err)
	}
	return NewRunSummary(r, c, len(sel), now), nil
}

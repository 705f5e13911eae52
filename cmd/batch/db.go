package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/pipeline"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// defaultDB is where a manifest without output: settings keeps its
// database, relative to the manifest (and so to the current folder for
// manifests in it).
const defaultDB = "comfybatch-runs/comfybatch.db"

// dbFlag registers --db, the database of the stored runs, on fs.
func dbFlag(fs *pflag.FlagSet, db *string) {
	fs.StringVar(db, "db", defaultDB, "SQLite database of the runs (a manifest's output.database)")
}

// openDB opens an existing database; a missing file is a usage mistake,
// not an empty database to create.
func openDB(ctx context.Context, path string) (*store.Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s: pass --db with a run's database (see a manifest's output: section): %w", path, comfybatch.ErrInvalid)
	}
	return store.Open(ctx, path, store.Options{})
}

// parseRunID parses the RUN argument of a command.
func parseRunID(arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErr("%q is not a run id; batch runs lists them", arg)
	}
	return id, nil
}

// openRun opens the database and reads run id through the one read view
// every presentation uses; close the store when done.
func openRun(ctx context.Context, db string, id int64) (*store.Store, *runview.Run, error) {
	st, err := openDB(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	run, err := runview.Open(ctx, st, id)
	if err != nil {
		st.Close()
		return nil, nil, notFound(err)
	}
	return st, run, nil
}

// notFound turns the store's not-found errors into bad input (exit 2).
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, comfybatch.ErrInvalid)
	}
	return err
}

// printGroups prints how many candidates each group selected.
func printGroups(o IO, groups []pipeline.GroupResult) {
	for _, g := range groups {
		fmt.Fprintf(o.Out, "%s: %d selected of %d\n", g.Name, len(g.Selection), g.Candidates)
	}
}

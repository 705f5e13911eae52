package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/export"
	"github.com/comfybatch/comfybatch/inspect"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/pipeline"
	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/store"
)

// defaultDB is where a manifest without output: settings keeps its
// database, relative to the manifest (and so to the current folder for
// manifests in it).
const defaultDB = "comfybatch-runs/comfybatch.db"

// dbFlag registers --db on fs.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", defaultDB, "SQLite database of the runs (a manifest's output.database)")
}

// openDB opens an existing database; a missing file is a usage mistake,
// not an empty database to create.
func openDB(ctx context.Context, path string) (*store.Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s: pass --db with a run's database (see a manifest's output: section): %w", path, comfybatch.ErrInvalid)
	}
	return store.Open(ctx, path, store.Options{})
}

// parseRun parses the flags and the one RUN argument of a command that
// reads a stored run; usage says how to call it.
func parseRun(fs *flag.FlagSet, args []string, usage string) (int64, error) {
	if err := parse(fs, args); err != nil {
		return 0, err
	}
	if fs.NArg() != 1 {
		return 0, usageErr("%s", usage)
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErr("%q is not a run id; batch runs lists them", fs.Arg(0))
	}
	return id, nil
}

// printGroups prints how many candidates each group selected.
func printGroups(o IO, groups []pipeline.GroupResult) {
	for _, g := range groups {
		fmt.Fprintf(o.Out, "%s: %d selected of %d\n", g.Name, len(g.Selection), len(g.Ranked))
	}
}

// notFound turns the store's not-found errors into bad input (exit 2).
func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, comfybatch.ErrInvalid)
	}
	return err
}

func cmdRuns(ctx context.Context, args []string, o IO) error {
	fs := newFlags("runs", "", o)
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := openDB(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	runs, err := inspect.Runs(ctx, st)
	if err != nil {
		return err
	}
	if *asJSON {
		return inspect.WriteRunsJSON(o.Out, runs)
	}
	return inspect.WriteRunsText(o.Out, runs)
}

func cmdShow(ctx context.Context, args []string, o IO) error {
	fs := newFlags("show", "RUN", o)
	db := dbFlag(fs)
	group := fs.String("group", "", "only this group")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := parseRun(fs, args, "show takes one run id")
	if err != nil {
		return err
	}
	st, err := openDB(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := inspect.Show(ctx, st, id, *group)
	if err != nil {
		return notFound(err)
	}
	if *asJSON {
		return r.WriteJSON(o.Out)
	}
	return r.WriteText(o.Out)
}

func cmdCompare(ctx context.Context, args []string, o IO) error {
	fs := newFlags("compare", "RUN", o)
	db := dbFlag(fs)
	by := fs.String("by", "", "parameter to compare by, e.g. sampler_name or seed (required)")
	group := fs.String("group", "", "only this group")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := parseRun(fs, args, "compare takes one run id and --by PARAM, e.g. batch compare 3 --by sampler_name")
	if err != nil {
		return err
	}
	if *by == "" {
		return usageErr("compare takes one run id and --by PARAM, e.g. batch compare 3 --by sampler_name")
	}
	st, err := openDB(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := inspect.Compare(ctx, st, id, *by, *group)
	if err != nil {
		return notFound(err)
	}
	if *asJSON {
		return c.WriteJSON(o.Out)
	}
	return c.WriteText(o.Out)
}

// loadRunData opens the database and reads run id for reports and exports.
func loadRunData(ctx context.Context, db string, id int64, cost float64) (report.Run, error) {
	st, err := openDB(ctx, db)
	if err != nil {
		return report.Run{}, err
	}
	defer st.Close()
	run, err := pipeline.RunData(ctx, st, id, cost)
	return run, notFound(err)
}

func cmdReport(ctx context.Context, args []string, o IO) error {
	fs := newFlags("report", "RUN", o)
	db := dbFlag(fs)
	outDir := fs.String("o", "", "folder for report.html and its thumbnails (default: the run folder)")
	cost := fs.Float64("cost-per-gpu-hour", 0, "price of one instance-hour in dollars, for the cost per delivered image")
	id, err := parseRun(fs, args, "report takes one run id")
	if err != nil {
		return err
	}
	run, err := loadRunData(ctx, *db, id, *cost)
	if err != nil {
		return err
	}
	dir := *outDir
	if dir == "" {
		dir = run.OutputDir
	}
	path, err := report.WriteHTMLFile(ctx, dir, run, report.HTMLOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, path)
	return nil
}

func cmdGrid(ctx context.Context, args []string, o IO) error {
	fs := newFlags("grid", "RUN", o)
	db := dbFlag(fs)
	x := fs.String("x", "seed", "parameter along the columns")
	y := fs.String("y", "", "parameter along the rows (empty = one row)")
	group := fs.String("group", "", "only this group")
	cell := fs.Int("cell", 256, "longest side of a cell's image in pixels")
	out := fs.String("o", "grid.png", "PNG file to write")
	id, err := parseRun(fs, args, "grid takes one run id, e.g. batch grid 3 --x seed --y sampler_name")
	if err != nil {
		return err
	}
	run, err := loadRunData(ctx, *db, id, 0)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(*out), ".grid-*.png")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := report.WriteGridPNG(ctx, f, run, report.GridOptions{X: *x, Y: *y, Group: *group, CellSize: *cell}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintln(o.Out, *out)
	return nil
}

func cmdExport(ctx context.Context, args []string, o IO) error {
	fs := newFlags("export", "RUN", o)
	db := dbFlag(fs)
	format := fs.String("format", "imagefolder", "imagefolder, webdataset or jsonl")
	selected := fs.Bool("selected-only", false, "export only the selected candidates")
	shard := fs.Int("shard-size", 1000, "samples per webdataset shard")
	out := fs.String("o", "", "destination folder (required)")
	id, err := parseRun(fs, args, "export takes one run id and -o DIR, e.g. batch export 3 --format webdataset -o shards/")
	if err != nil {
		return err
	}
	if *out == "" {
		return usageErr("export takes one run id and -o DIR, e.g. batch export 3 --format webdataset -o shards/")
	}
	f, err := export.ParseFormat(*format)
	if err != nil {
		return err
	}
	run, err := loadRunData(ctx, *db, id, 0)
	if err != nil {
		return err
	}
	st, err := export.Export(ctx, run, export.Options{Format: f, Dir: *out, SelectedOnly: *selected, ShardSize: *shard})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "%s: %d samples (%d failed jobs) in %s\n", *format, st.Count, st.Failed, *out)
	return nil
}

// cmdResume continues a stored run by id, with the manifest it was started
// from.
func cmdResume(ctx context.Context, args []string, o IO) error {
	fs := newFlags("resume", "RUN", o)
	db := dbFlag(fs)
	var f runFlags
	f.register(fs)
	id, err := parseRun(fs, args, "resume takes one run id")
	if err != nil {
		return err
	}
	m, err := runManifest(ctx, *db, id)
	if err != nil {
		return err
	}
	f.runID = id
	return runWith(ctx, m, f, o)
}

// runManifest loads the manifest that run id of database db was started
// from, with its output pointed at that database.
func runManifest(ctx context.Context, db string, id int64) (*manifests.Manifest, error) {
	st, err := openDB(ctx, db)
	if err != nil {
		return nil, err
	}
	run, err := st.Run(ctx, id)
	st.Close()
	if err != nil {
		return nil, notFound(err)
	}
	m, err := manifests.Load(run.ManifestPath)
	if err != nil {
		return nil, fmt.Errorf("run %d's manifest: %w", id, err)
	}
	m.Output.Database = db
	return m, nil
}

// cmdSelect re-selects a stored run from its scores.
func cmdSelect(ctx context.Context, args []string, o IO) error {
	fs := newFlags("select", "RUN", o)
	db := dbFlag(fs)
	topK := fs.Int("top-k", 0, "candidates to select per group (0 = the manifest's top_k)")
	id, err := parseRun(fs, args, "select takes one run id, e.g. batch select 3 --top-k 10")
	if err != nil {
		return err
	}
	m, err := runManifest(ctx, *db, id)
	if err != nil {
		return err
	}
	groups, err := pipeline.Select(ctx, m, id, *topK)
	if err != nil {
		return notFound(err)
	}
	printGroups(o, groups)
	return nil
}

// cmdRescore scores a stored run's images again and re-selects.
func cmdRescore(ctx context.Context, args []string, o IO) error {
	fs := newFlags("rescore", "RUN", o)
	db := dbFlag(fs)
	only := fs.String("scorers", "", "comma-separated scorer names to run again (default: all)")
	pending := fs.Bool("pending", false, "score only the candidates waiting for a scorer that was unavailable")
	id, err := parseRun(fs, args, "rescore takes one run id, e.g. batch rescore 3 --scorers clip")
	if err != nil {
		return err
	}
	m, err := runManifest(ctx, *db, id)
	if err != nil {
		return err
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	groups, n, err := pipeline.Rescore(ctx, m, id, pipeline.RescoreOptions{Only: names, Pending: *pending}, pipeline.Options{Env: o.lookupEnv})
	if err != nil {
		return notFound(err)
	}
	fmt.Fprintf(o.Out, "rescored %d candidates\n", n)
	printGroups(o, groups)
	return nil
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// Scorer rates one decoded candidate. It must be safe for concurrent use;
// an error means "this candidate could not be scored", never "stop the run".
type Scorer interface {
	Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error)
}

// Generator turns the tasks it receives into results, one result per
// task, sent as each finishes, until tasks is closed. generate.Fleet is the
// production Generator.
type Generator interface {
	RunStream(ctx context.Context, tasks <-chan generate.Task, results chan<- generate.Result) error
}

// Options configure Run. The zero value of every field but Manifest is
// usable.
type Options struct {
	// Manifest is the loaded manifest to run.
	Manifest *manifests.Manifest
	// Instances, when set, replace the manifest's instances.
	Instances []generate.Instance
	// NewRun starts a new run even when an earlier run of the same
	// manifest exists; Force continues the earlier run even though the
	// manifest changed since.
	NewRun, Force bool
	// RetryFailed retries every failed job of a continued run. Without it
	// a rerun retries the failures that may succeed now (transient,
	// outage, interrupted) but not bad input or a node's own exception.
	RetryFailed bool
	// LimitPerGroup, when positive, runs only the first that many jobs of
	// each group: a smoke test of a new manifest. A later run without the
	// limit continues the same run with the rest.
	LimitPerGroup int
	// Grace is how long a canceled run waits for its running prompts to
	// finish before interrupting them (default 30s). Cleanup, when set, is
	// the context of that wait: canceling it (a second Ctrl-C) interrupts
	// at once.
	Grace   time.Duration
	Cleanup context.Context
	// RunID, when set, names the run to resume (batch resume RUN) instead
	// of the newest run of the manifest.
	RunID int64
	// MaxAttempts and JobTimeout are passed to the fleet (0 = its default).
	MaxAttempts int
	JobTimeout  time.Duration
	// OutageDeadline is how long a scorer may stay unavailable before the
	// run stops with an ErrOutage (default 10m). While it is out, at most
	// MaxUnscored candidates (default 64) wait for it before generation
	// pauses.
	OutageDeadline time.Duration
	MaxUnscored    int
	// HTTPClient is used for ComfyUI and HTTP scorers (nil = a default).
	HTTPClient *http.Client
	// Logger receives run milestones and retried faults.
	Logger *slog.Logger
	// Progress, when set, is updated as the run goes; a renderer may read
	// it concurrently.
	Progress *Progress
	// OnFleetEvent, when set, receives every fleet event (progress bars,
	// --json event streams). It must be fast.
	OnFleetEvent func(generate.Event)
	// ToolVersion is recorded in the run.
	ToolVersion string
	// Env looks up environment variables for scorer tokens (nil = none set).
	Env func(string) (string, bool)
	// NewGenerator builds the generator from the instances (nil = a
	// generate.Fleet). Tests use it to inject faults.
	NewGenerator func([]generate.Instance, generate.Options) (Generator, error)

	// wrapScorer, when set, wraps every scorer built from the manifest
	// (tests inject outages with it).
	wrapScorer func(name string, s Scorer) Scorer
}

// Outcome is what a finished (or interrupted) run produced.
type Outcome struct {
	Run      store.Run
	Database string
	Resumed  bool // an earlier run of the same manifest was continued
	Skipped  int  // jobs already finished by an earlier process
	Total    int  // jobs in the plan
	Done     int  // jobs done in this process
	Failed   int  // jobs failed in this process
	// Groups lists each group's ranked candidates, best first, and its
	// selection (empty when the run stopped before selecting).
	Groups []GroupResult
	// Instances are the fleet's per-instance statistics.
	Instances []generate.InstanceStats
	// Summary is the state of the whole run: what it delivered, what is
	// missing, why, and what this process retried.
	Summary Summary
	// Elapsed is the wall time of this process's part of the run.
	Elapsed time.Duration
}

// GroupResult is one group's ranked candidates and selection.
type GroupResult struct {
	Name string
	TopK int
	// Candidates counts the group's ranked candidates (those waiting for
	// a scorer are left out). Ranked holds them best first, up to 32 of
	// them plus every selected one, so that a group of a million costs
	// no more once ranked.
	Candidates int
	Ranked     []comfybatch.Scored
	Selection  []comfybatch.Selection
	// Reason names what rejected most of the group's candidates ("gate
	// size.ok", ...; "" when none was), and Rejected how many it rejected.
	Reason   string
	Rejected int
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run executes or resumes the manifest's run end to end. Start-up checks
// (the instances answer and can run the jobs, the scorers work) come
// before anything is written to the database.
//
// It returns nil only when every job is done, every candidate scored and
// every group delivered its top_k (or the manifest accepts shortfalls).
// Otherwise the outcome comes with an error wrapping
// comfybatch.ErrIncomplete (failed jobs, unscored candidates, shortfalls:
// Outcome.Summary says which), comfybatch.ErrOutage (the run stopped
// because every instance or a scorer stayed unavailable), ctx's error
// (interrupted), or comfybatch.ErrInvalid (bad input). Everything finished
// is recorded; running Run again continues the run.
func Run(ctx context.Context, opts Options) (*Outcome, error) {
	start := time.Now()
	m := opts.Manifest
	if m == nil {
		return nil, fmt.Errorf("no manifest: %w", comfybatch.ErrInvalid)
	}
	log := opts.logger().With("manifest", m.Name)

	// What an earlier process left, read without writing anything.
	var st *store.Store
	if _, err := os.Stat(m.Output.Database); err == nil {
		if st, err = store.Open(ctx, m.Output.Database, store.Options{Logger: opts.Logger}); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		defer func() { st.Close() }()
	}
	prev, resumed, err := findRun(ctx, st, m, opts)
	if err != nil {
		return nil, err
	}
	if resumed {
		// The run's master seed decides its random seeds: keep it.
		m.MasterSeed = prev.MasterSeed
	}
	shape, err := m.Shape()
	if err != nil {
		return nil, err
	}
	total := plannedTotal(shape, opts.LimitPerGroup)
	unscored := 0
	hasWork := total > 0    // a new run generates its whole plan
	var stored store.Counts // of the run resumed
	if resumed {
		if stored, err = st.Counts(ctx, prev.ID); err != nil {
			return nil, err
		}
		unscored = stored.All.Unscored
	}
	// Rereading a run planned from this very manifest passes over its
	// finished jobs by plan index, without expanding them.
	reader := func(st *store.Store, runID int64) *planReader {
		return &planReader{st: st, runID: runID, m: m, limit: opts.LimitPerGroup, fresh: !resumed,
			byIndex: resumed && prev.ManifestHash == m.Hash, finished: finishedFor(opts.RetryFailed)}
	}
	if resumed {
		if hasWork, err = anyWork(ctx, reader(st, prev.ID), stored, total, opts.RetryFailed); err != nil {
			return nil, fmt.Errorf("read job states: %w", err)
		}
	}
	scorers, err := buildScorers(m, opts)
	if err != nil {
		return nil, err
	}
	instances := opts.Instances
	if len(instances) == 0 {
		instances = FleetInstances(m.Instances)
	}
	if hasWork {
		if len(instances) == 0 {
			return nil, fmt.Errorf("%s: no ComfyUI instances: add an instances: list to the manifest or pass --instances URL,...: %w", m.Path, comfybatch.ErrInvalid)
		}
		todo := jobsToDo(ctx, reader(st, prev.ID), opts.RetryFailed)
		if instances, err = preflight(ctx, m, todo, instances, opts.HTTPClient, opts.logger()); err != nil {
			return nil, err
		}
	}
	if hasWork || unscored > 0 {
		if err := preflightScorers(ctx, scorers, m.Path); err != nil {
			return nil, err
		}
	}

	// The checks passed: record the run.
	if st == nil {
		if st, err = store.Open(ctx, m.Output.Database, store.Options{Logger: opts.Logger}); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	run := prev
	if !resumed {
		if run, err = createRun(ctx, st, m, opts); err != nil {
			return nil, err
		}
	}
	log = log.With("run", run.ID)
	if err := st.SaveGroups(ctx, run.ID, groupsOf(m)); err != nil {
		return nil, err
	}
	if err := st.SetRunStatus(ctx, run.ID, store.RunRunning); err != nil {
		return nil, err
	}
	out := &Outcome{Run: run, Database: m.Output.Database, Resumed: resumed, Total: total}
	prog := opts.Progress
	if prog == nil {
		prog = &Progress{}
	}
	prog.start(total)
	log.Info("run started", "jobs", total, "resumed", resumed, "unscored", unscored)

	sc := newScoring(scorers, newScorerWatch(opts.MaxUnscored, opts.OutageDeadline, unscored))
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	bgCtx, stopBg := context.WithCancel(runCtx)
	var bg sync.WaitGroup
	bg.Go(func() { sc.recoverScorers(bgCtx, st, run, log, stopRun) })
	tidied := make(chan error, 1)
	if resumed {
		// A killed process may have left a partial or unrecorded file. A
		// run of a million images takes seconds to walk: it is tidied
		// while generation starts, leaving this process's files alone.
		bg.Go(func() {
			n, err := st.TidyBefore(runCtx, run, start)
			if n > 0 {
				log.Info("removed files a previous process left half-written", "files", n)
			}
			tidied <- err
		})
	} else {
		tidied <- nil
	}
	finish := func(err error) (*Outcome, error) {
		stopBg()
		bg.Wait()
		out.Summary.Rescored = sc.rescoredCount()
		return out, err
	}

	if unscored > 0 {
		if _, err := sc.rescorePending(runCtx, st, run); err != nil && runCtx.Err() == nil {
			return finish(fmt.Errorf("score pending candidates: %w", err))
		}
	}
	var counts produced
	if hasWork {
		err := runFleet(runCtx, st, run, instances, reader(st, run.ID), sc, prog, log, out, &counts, opts)
		out.Done, out.Failed = int(prog.Done.Load()), int(prog.Failed.Load())
		out.Skipped, out.Summary.Retried = int(prog.Skipped.Load()), counts.retried
		if err == nil {
			err = sc.await(runCtx, st, run)
		}
		if err != nil {
			return finish(stopped(ctx, runCtx, st, run, out, start, err))
		}
	} else {
		out.Skipped = total
		if err := sc.await(runCtx, st, run); err != nil {
			return finish(stopped(ctx, runCtx, st, run, out, start, err))
		}
	}
	if err := <-tidied; err != nil {
		return finish(fmt.Errorf("tidy the run folder: %w", err))
	}
	stopBg()
	bg.Wait()
	out.Summary.Rescored = sc.rescoredCount()
	if err := st.Flush(ctx); err != nil {
		return out, fmt.Errorf("record candidates: %w", err)
	}
	groups, err := selectRun(ctx, st, run, m, selectOptions{})
	if err != nil {
		return out, err
	}
	out.Groups = groups
	if out.Summary, err = summarize(ctx, st, run, m, groups, out.Summary); err != nil {
		return out, err
	}
	status := store.RunDone
	if out.Summary.Problems() > 0 {
		status = store.RunIncomplete
	}
	if err := st.SetRunStatus(ctx, run.ID, status); err != nil {
		return out, err
	}
	out.Run, _ = st.Run(ctx, run.ID)
	out.Elapsed = time.Since(start)
	log.Info("run finished", "done", out.Done, "failed", out.Failed, "status", status, "elapsed", out.Elapsed)
	if status == store.RunIncomplete {
		return out, out.Summary.err(run.ID)
	}
	return out, nil
}

// stopped records a run that ended early (interrupted, an outage, a store
// failure) and returns the error to report: the outage that stopped it
// when there was one.
func stopped(ctx, runCtx context.Context, st *store.Store, run store.Run, out *Outcome, start time.Time, err error) error {
	if cause := context.Cause(runCtx); errors.Is(cause, comfybatch.ErrOutage) {
		err = cause
	}
	cctx := context.WithoutCancel(ctx)
	if ferr := st.Flush(cctx); ferr != nil {
		err = errors.Join(err, ferr)
	}
	status := store.RunFailed
	switch {
	case errors.Is(err, comfybatch.ErrOutage):
		status = store.RunStopped
	case ctx.Err() != nil:
		status = store.RunInterrupted
	}
	_ = st.SetRunStatus(cctx, run.ID, status)
	if s, serr := summarize(cctx, st, run, nil, nil, out.Summary); serr == nil {
		out.Summary = s
	}
	out.Run, _ = st.Run(cctx, run.ID)
	out.Elapsed = time.Since(start)
	return err
}

// runFleet generates the tasks on the instances, scoring and recording
// every result; the fleet's statistics go into out.
func runFleet(ctx context.Context, st *store.Store, run store.Run, instances []generate.Instance, plan *planReader,
	sc *scoring, prog *Progress, log *slog.Logger, out *Outcome, counts *produced, opts Options) error {
	fopts := generate.Options{
		HTTPClient:  opts.HTTPClient,
		Logger:      opts.Logger,
		MaxAttempts: opts.MaxAttempts,
		JobTimeout:  opts.JobTimeout,
		BeforeSubmit: func(ctx context.Context, a generate.Attempt) error {
			// While a scorer is out, stop once enough candidates wait for it.
			if err := sc.watch.waitToSubmit(ctx); err != nil {
				return err
			}
			return st.RecordAttempt(ctx, run.ID, a.JobKey, store.Attempt{
				Instance: a.Instance, PromptID: a.PromptID, Number: a.Number, Submitted: time.Now(),
			})
		},
		OnEvent: attemptEvents(ctx, st, run.ID, log, opts.OnFleetEvent),
		Check:   opts.Manifest.InstanceCheck,
	}
	newGen := opts.NewGenerator
	if newGen == nil {
		newGen = func(in []generate.Instance, o generate.Options) (Generator, error) {
			f, err := generate.NewFleet(in, o)
			if err != nil {
				return nil, err // not a nil *Fleet inside a non-nil interface
			}
			return f, nil
		}
	}
	gen, err := newGen(instances, fopts)
	if err != nil {
		return fmt.Errorf("set up instances: %w", err)
	}
	producer := func(ctx context.Context, tasks chan<- generate.Task) error {
		return produce(ctx, st, plan, opts.RetryFailed, tasks, prog, counts)
	}
	err = generateAndScore(ctx, gen, producer, sc, st, run, prog, log, opts.shutdownContext(ctx))
	if sr, ok := gen.(statsReporter); ok {
		out.Instances = sr.Stats()
		if err := st.SaveInstanceStats(context.WithoutCancel(ctx), run.ID, instanceStats(out.Instances)); err != nil {
			log.Warn("instance statistics not recorded", "err", err)
		}
	}
	return err
}

// findRun finds the run to continue, if any, without writing anything.
func findRun(ctx context.Context, st *store.Store, m *manifests.Manifest, opts Options) (store.Run, bool, error) {
	if st == nil {
		if opts.RunID != 0 {
			return store.Run{}, false, fmt.Errorf("run %d: no database at %s: %w", opts.RunID, m.Output.Database, comfybatch.ErrInvalid)
		}
		return store.Run{}, false, nil
	}
	var prev store.Run
	var ok bool
	var err error
	if opts.RunID != 0 {
		prev, err = st.Run(ctx, opts.RunID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Run{}, false, fmt.Errorf("%w: %w", err, comfybatch.ErrInvalid)
		}
		ok = err == nil
	} else if !opts.NewRun {
		prev, ok, err = st.LatestRun(ctx, m.Path)
	}
	if err != nil {
		return store.Run{}, false, fmt.Errorf("look up earlier runs: %w", err)
	}
	if !ok {
		return store.Run{}, false, nil
	}
	if prev.ManifestHash != m.Hash && !opts.Force {
		return store.Run{}, false, fmt.Errorf("%s changed since run %d: pass --new-run to start a new run, or --force to continue run %d with the new manifest: %w",
			m.Path, prev.ID, prev.ID, comfybatch.ErrInvalid)
	}
	return prev, true, nil
}

// createRun records a new run of m.
func createRun(ctx context.Context, st *store.Store, m *manifests.Manifest, opts Options) (store.Run, error) {
	bindings := map[string]store.Binding{}
	for _, b := range m.Bindings() {
		bindings[b.Name] = store.Binding{Node: b.Node, Input: b.Input, Kind: b.Kind}
	}
	run, err := st.CreateRun(ctx, store.Run{
		Name:         m.Name,
		ManifestPath: m.Path,
		ManifestText: string(m.Text),
		ManifestHash: m.Hash,
		MasterSeed:   m.MasterSeed,
		Status:       store.RunRunning,
		OutputDir:    runDir(m.Output.Dir, m.Name, time.Now()),
		ToolVersion:  opts.ToolVersion,
		Workflow:     m.Workflow,
		Sweep:        m.SweptParams(),
		Bindings:     bindings,
	})
	if err != nil {
		return store.Run{}, fmt.Errorf("create run: %w", err)
	}
	return run, nil
}

// groupsOf returns the manifest's groups as the store records them.
func groupsOf(m *manifests.Manifest) []store.Group {
	out := make([]store.Group, len(m.Groups))
	for i, g := range m.Groups {
		out[i] = store.Group{Name: g.Name, TopK: m.TopKFor(g.Name), Planned: g.Count, Tags: g.Tags}
	}
	return out
}

// generateAndScore streams the producer's tasks through the generator and
// every result through decoding, scoring and the store. Results keep being
// recorded after ctx is canceled (a prompt that finished during the
// shutdown grace is not thrown away); only a store or plan failure stops the
// generator early. It returns when the producer and the generator have
// returned and every result the generator sent is recorded.
func generateAndScore(ctx context.Context, gen Generator, producer func(context.Context, chan<- generate.Task) error, sc *scoring,
	st *store.Store, run store.Run, prog *Progress, log *slog.Logger, shutdownCtx func() (context.Context, context.CancelFunc)) error {
	// A generator that can shut down gracefully keeps running past ctx:
	// when ctx ends it stops submitting, deletes our queued prompts and
	// delivers what finishes within the grace period, then returns.
	sd, graceful := gen.(shutdowner)
	genParent := ctx
	if graceful {
		genParent = context.WithoutCancel(ctx)
	}
	genCtx, stopGen := context.WithCancel(genParent)
	defer stopGen()
	if graceful {
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { // waited for below
			defer close(done)
			grace, cancel := shutdownCtx()
			defer cancel()
			log.Warn("stopping: no new prompts; waiting for running ones (Ctrl-C again to interrupt them)")
			if err := sd.Shutdown(grace); err != nil {
				log.Warn("shutdown", "err", err)
			}
			stopGen()
		})
		defer func() {
			if !stop() {
				<-done
			}
		}()
	}
	tasks := make(chan generate.Task)
	results := make(chan generate.Result, 16)
	var genErr, prodErr error
	var wg sync.WaitGroup
	// The producer stops with ctx (Ctrl-C: no new jobs) or when the store
	// fails (stopProd), and closes tasks when it returns.
	prodCtx, stopProd := context.WithCancel(ctx)
	defer stopProd()
	wg.Go(func() {
		prodErr = producer(prodCtx, tasks)
		if prodErr != nil && prodCtx.Err() == nil {
			stopGen() // the plan cannot be recorded: stop
		}
	})
	wg.Go(func() {
		defer close(results) // the generator never closes it; its owner does
		genErr = gen.RunStream(genCtx, tasks, results)
		stopProd() // a generator that gave up takes no more tasks
		for range tasks {
			// Let the producer finish: it closes tasks when it sees prodCtx.
		}
	})
	recErr := consume(context.WithoutCancel(ctx), results, sc, st, run, prog, log, func() { stopGen(); stopProd() })
	wg.Wait()
	switch {
	case recErr != nil:
		return recErr
	case prodErr != nil && ctx.Err() == nil:
		return fmt.Errorf("plan: %w", prodErr)
	case genErr != nil:
		return fmt.Errorf("generate: %w", genErr)
	}
	return ctx.Err()
}

// statsReporter is a generator that reports per-instance statistics
// (generate.Fleet).
type statsReporter interface {
	Stats() []generate.InstanceStats
}

// shutdowner is a generator that can stop gracefully (generate.Fleet).
type shutdowner interface {
	Shutdown(ctx context.Context) error
}

// shutdownContext returns the context a canceled run's shutdown waits in.
func (o *Options) shutdownContext(ctx context.Context) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) {
		parent := o.Cleanup
		if parent == nil {
			parent = context.WithoutCancel(ctx)
		}
		grace := o.Grace
		if grace <= 0 {
			grace = 30 * time.Second
		}
		return context.WithTimeout(parent, grace)
	}
}

// runDir picks a new run's folder: <dir>/<name>-<UTC time>, with a suffix
// when a run of the same second already took it.
func runDir(dir, name string, now time.Time) string {
	base := filepath.Join(dir, safeName(name)+"-"+now.UTC().Format("20060102-150405"))
	p := base
	for i := 2; ; i++ {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return p
		}
		p = fmt.Sprintf("%s-%d", base, i)
	}
}

// safeName keeps letters, digits, '-' and '_' of a run name for a folder.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "run"
	}
	return string(b)
}

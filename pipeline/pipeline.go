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
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/score"
	"github.com/comfybatch/comfybatch/store"
)

// Scorer rates one decoded candidate. It must be safe for concurrent use;
// an error means "this candidate could not be scored", never "stop the run".
type Scorer interface {
	Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error)
}

// Generator turns tasks into results, one result per task, sent as each
// finishes. generate.Fleet is the production Generator.
type Generator interface {
	Run(ctx context.Context, tasks []generate.Task, results chan<- generate.Result) error
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
	// selection.
	Groups []GroupResult
	// Instances are the fleet's per-instance statistics.
	Instances []generate.InstanceStats
	// Elapsed is the wall time of this process's part of the run.
	Elapsed time.Duration
}

// GroupResult is one group's ranked candidates and selection.
type GroupResult struct {
	Name      string
	TopK      int
	Ranked    []comfybatch.Scored // best first
	Selection []comfybatch.Selection
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run executes or resumes the manifest's run end to end. It returns the
// outcome so far together with ctx's error when interrupted: everything
// finished before that is recorded, and running Run again resumes.
func Run(ctx context.Context, opts Options) (*Outcome, error) {
	start := time.Now()
	m := opts.Manifest
	if m == nil {
		return nil, fmt.Errorf("no manifest: %w", comfybatch.ErrInvalid)
	}
	log := opts.logger().With("manifest", m.Name)

	st, err := store.Open(ctx, m.Output.Database, store.Options{Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	defer st.Close()

	run, resumed, err := openRun(ctx, st, m, opts)
	if err != nil {
		return nil, err
	}
	log = log.With("run", run.ID)
	if resumed {
		// A killed process may have left a partial or unrecorded file.
		if n, err := st.Tidy(ctx, run); err != nil {
			return nil, err
		} else if n > 0 {
			log.Info("removed files a previous process left half-written", "files", n)
		}
	}
	plan, err := m.Plan()
	if err != nil {
		return nil, err
	}
	if opts.LimitPerGroup > 0 {
		plan.Jobs = firstPerGroup(plan.Jobs, opts.LimitPerGroup)
	}
	if err := st.PlanJobs(ctx, run.ID, plan.Jobs); err != nil {
		return nil, fmt.Errorf("record plan: %w", err)
	}
	states, err := st.JobStates(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("read job states: %w", err)
	}
	tasks, skipped := pendingTasks(plan.Jobs, states)
	out := &Outcome{Run: run, Database: m.Output.Database, Resumed: resumed, Skipped: skipped, Total: len(plan.Jobs)}
	prog := opts.Progress
	if prog == nil {
		prog = &Progress{}
	}
	prog.start(len(plan.Jobs), skipped)
	log.Info("run started", "jobs", len(plan.Jobs), "to_generate", len(tasks), "resumed", resumed)

	scorers, err := buildScorers(m, opts)
	if err != nil {
		return nil, err
	}
	instances := opts.Instances
	if len(instances) == 0 {
		instances = FleetInstances(m.Instances)
	}
	if len(tasks) > 0 && len(instances) == 0 {
		return nil, fmt.Errorf("%s: no ComfyUI instances: add an instances: list to the manifest or pass --instances URL,...: %w", m.Path, comfybatch.ErrInvalid)
	}

	if len(tasks) > 0 {
		if instances, err = preflight(ctx, m, tasks, instances, opts.HTTPClient, opts.logger()); err != nil {
			return nil, err
		}
		if err := preflightScorers(ctx, scorers, m.Path); err != nil {
			return nil, err
		}
		if err := st.SetRunStatus(ctx, run.ID, store.RunRunning); err != nil {
			return nil, err
		}
		fopts := generate.Options{
			HTTPClient:  opts.HTTPClient,
			Logger:      opts.Logger,
			MaxAttempts: opts.MaxAttempts,
			JobTimeout:  opts.JobTimeout,
			BeforeSubmit: func(ctx context.Context, a generate.Attempt) error {
				return st.RecordAttempt(ctx, run.ID, a.JobKey, store.Attempt{
					Instance: a.Instance, PromptID: a.PromptID, Number: a.Number, Submitted: time.Now(),
				})
			},
			OnEvent: attemptEvents(ctx, st, run.ID, log, opts.OnFleetEvent),
			Check:   m.InstanceCheck,
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
			return nil, fmt.Errorf("set up instances: %w", err)
		}
		err = generateAndScore(ctx, gen, tasks, scorers, st, run, prog, log, opts.shutdownContext(ctx))
		if sr, ok := gen.(statsReporter); ok {
			out.Instances = sr.Stats()
			if err := st.SaveInstanceStats(context.WithoutCancel(ctx), run.ID, instanceStats(out.Instances)); err != nil {
				log.Warn("instance statistics not recorded", "err", err)
			}
		}
		out.Done, out.Failed = int(prog.Done.Load()), int(prog.Failed.Load())
		if err != nil {
			// Whatever finished is recorded; say so and let the caller exit.
			cctx := context.WithoutCancel(ctx)
			if ferr := st.Flush(cctx); ferr != nil {
				err = errors.Join(err, ferr)
			}
			status := store.RunFailed
			if ctx.Err() != nil {
				status = store.RunInterrupted
			}
			_ = st.SetRunStatus(cctx, run.ID, status)
			out.Elapsed = time.Since(start)
			return out, err
		}
	}
	if err := st.Flush(ctx); err != nil {
		return out, fmt.Errorf("record candidates: %w", err)
	}
	groups, err := selectRun(ctx, st, run, m, selectOptions{})
	if err != nil {
		return out, err
	}
	out.Groups = groups
	if err := st.SetRunStatus(ctx, run.ID, store.RunDone); err != nil {
		return out, err
	}
	out.Run, _ = st.Run(ctx, run.ID)
	out.Elapsed = time.Since(start)
	log.Info("run finished", "done", out.Done, "failed", out.Failed, "elapsed", out.Elapsed)
	return out, nil
}

// openRun finds the run to continue, or creates a new one.
func openRun(ctx context.Context, st *store.Store, m *manifests.Manifest, opts Options) (store.Run, bool, error) {
	var prev store.Run
	var ok bool
	var err error
	if opts.RunID != 0 {
		prev, err = st.Run(ctx, opts.RunID)
		ok = err == nil
	} else {
		prev, ok, err = st.LatestRun(ctx, m.Path)
	}
	if err != nil {
		return store.Run{}, false, fmt.Errorf("look up earlier runs: %w", err)
	}
	if ok && !opts.NewRun {
		if prev.ManifestHash != m.Hash && !opts.Force {
			return store.Run{}, false, fmt.Errorf("%s changed since run %d: pass --new-run to start a new run, or --force to continue run %d with the new manifest: %w",
				m.Path, prev.ID, prev.ID, comfybatch.ErrInvalid)
		}
		// The run's master seed decides its random seeds: keep it.
		m.MasterSeed = prev.MasterSeed
		return prev, true, nil
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
	})
	if err != nil {
		return store.Run{}, false, fmt.Errorf("create run: %w", err)
	}
	return run, false, nil
}

// firstPerGroup keeps the first n jobs of each group, in plan order.
func firstPerGroup(jobs []comfybatch.Job, n int) []comfybatch.Job {
	seen := map[string]int{}
	var out []comfybatch.Job
	for _, j := range jobs {
		if seen[j.Group] < n {
			seen[j.Group]++
			out = append(out, j)
		}
	}
	return out
}

// pendingTasks returns the jobs still to generate, with the prompt ids an
// earlier process recorded for them, and how many are already finished.
// Jobs that failed permanently (bad input) are not retried.
func pendingTasks(jobs []comfybatch.Job, states map[string]store.JobState) ([]generate.Task, int) {
	var tasks []generate.Task
	skipped := 0
	for _, j := range jobs {
		s := states[j.Key]
		switch {
		case s.Status == comfybatch.StatusDone:
			skipped++
			continue
		case s.Status == comfybatch.StatusFailed && s.ErrorClass == comfybatch.ClassInvalid:
			skipped++
			continue
		}
		t := generate.Task{Job: j}
		for _, a := range s.Attempts {
			t.Prior = append(t.Prior, generate.Attempt{JobKey: j.Key, Instance: a.Instance, PromptID: a.PromptID, Number: a.Number})
		}
		tasks = append(tasks, t)
	}
	return tasks, skipped
}

// generateAndScore streams tasks through the generator and every result
// through decoding, scoring and the store. Results keep being recorded after
// ctx is canceled (a prompt that finished during the shutdown grace is not
// thrown away); only a store failure stops the generator early. It returns
// when the generator has returned and every result it sent is recorded.
func generateAndScore(ctx context.Context, gen Generator, tasks []generate.Task, scorers []namedScorer, st *store.Store, run store.Run, prog *Progress, log *slog.Logger, shutdownCtx func() (context.Context, context.CancelFunc)) error {
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
	results := make(chan generate.Result, 16)
	var genErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(results) // the generator never closes it; its owner does
		genErr = gen.Run(genCtx, tasks, results)
	})
	recErr := consume(context.WithoutCancel(ctx), results, scorers, st, run, prog, log, stopGen)
	wg.Wait()
	if recErr != nil {
		return recErr
	}
	if genErr != nil {
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

// consume records every result until results is closed. Candidates are
// scored concurrently: CPU work (decode, local scorers) is bounded by
// GOMAXPROCS, network scorers by the number of candidates in flight, so a
// CLIP server can batch them. On the first store error it calls fatal (to
// stop the generator), keeps draining results so the generator can return,
// and returns that error.
func consume(ctx context.Context, results <-chan generate.Result, scorers []namedScorer, st *store.Store, run store.Run, prog *Progress, log *slog.Logger, fatal func()) error {
	var g errgroup.Group
	g.SetLimit(64)
	cpu := make(chan struct{}, runtime.GOMAXPROCS(0))
	var mu sync.Mutex
	var first error
	failed := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
			fatal()
		}
	}
	stopped := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	for r := range results {
		if stopped() {
			continue // drain so the generator can return
		}
		if r.Err != nil {
			prog.Failed.Add(1)
			log.Warn("job failed", "job", r.Candidate.Job.Key, "group", r.Candidate.Job.Group, "attempts", r.Attempts, "err", r.Err)
			if err := st.RecordFailure(ctx, run.ID, r.Candidate.Job.Key, r.Attempts, r.Err); err != nil {
				failed(fmt.Errorf("record failure: %w", err))
			}
			continue
		}
		g.Go(func() error {
			if err := record(ctx, r, scorers, st, run, cpu); err != nil {
				failed(err)
				return nil
			}
			prog.Done.Add(1)
			return nil
		})
	}
	_ = g.Wait() // workers report through failed
	return first
}

// record scores one generated candidate and stores its image, then its row.
func record(ctx context.Context, r generate.Result, scorers []namedScorer, st *store.Store, run store.Run, cpu chan struct{}) error {
	scored := scoreCandidate(ctx, r.Candidate, scorers, cpu)
	path, sha, err := st.WriteImage(ctx, run, r.Candidate.Image)
	if err != nil {
		return fmt.Errorf("store image of job %s: %w", r.Candidate.Job.Key, err)
	}
	scored.Candidate.Path, scored.Candidate.SHA256 = path, sha
	scored.Candidate.Attempt = max(scored.Candidate.Attempt, r.Attempts)
	if err := st.RecordCandidate(ctx, run.ID, scored); err != nil {
		return fmt.Errorf("record job %s: %w", r.Candidate.Job.Key, err)
	}
	return nil
}

// scoreCandidate decodes the image once and runs every scorer on it.
// Failures become per-scorer errors on the candidate, never run errors.
func scoreCandidate(ctx context.Context, c comfybatch.Candidate, scorers []namedScorer, cpu chan struct{}) comfybatch.Scored {
	scored := comfybatch.Scored{Candidate: c}
	select {
	case cpu <- struct{}{}:
	case <-ctx.Done():
		scored.Scores = []comfybatch.Score{{Scorer: "decode", Err: ctx.Err().Error()}}
		return scored
	}
	px, err := score.Decode(c.Image, score.Limits{})
	if err != nil {
		<-cpu
		scored.Scores = []comfybatch.Score{{Scorer: "decode", Err: err.Error()}}
		return scored
	}
	scored.Candidate.Pixels = px
	c = scored.Candidate
	scores := make([]comfybatch.Score, len(scorers)) // goroutine i writes scores[i] only
	for i, s := range scorers {
		if !s.network {
			scores[i] = runScorer(ctx, s, c)
		}
	}
	<-cpu
	var wg sync.WaitGroup
	for i, s := range scorers {
		if s.network {
			wg.Go(func() { scores[i] = runScorer(ctx, s, c) })
		}
	}
	wg.Wait()
	scored.Scores = scores
	scored.Candidate.Pixels = nil // decoded pixels are not kept past scoring
	return scored
}

func runScorer(ctx context.Context, s namedScorer, c comfybatch.Candidate) comfybatch.Score {
	sc, err := s.scorer.Score(ctx, c)
	sc.Scorer = s.name
	if err != nil {
		sc.Err = err.Error()
	}
	return sc
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

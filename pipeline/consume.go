package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/score"
	"github.com/comfybatch/comfybatch/store"
)

// scoring scores candidates during a run: decode once, then every scorer,
// CPU-bound ones within a GOMAXPROCS limit, network ones concurrently. An
// unavailable scorer (an outage) leaves the candidate scoring pending; its
// watch decides when to try again.
type scoring struct {
	scorers []namedScorer
	// need is what a candidate is decoded into for all the scorers and
	// its thumbnail (decodeNeed).
	need score.Need
	// dec decodes every candidate, reusing its buffers.
	dec   score.Decoder
	cpu   chan struct{}
	watch *scorerWatch
	// rescoring serializes rescorePending, so two callers never score the
	// same pending candidates (and count them) twice; rescored counts the
	// candidates it completed.
	rescoring sync.Mutex
	rescored  int
}

func newScoring(scorers []namedScorer, watch *scorerWatch) *scoring {
	s := &scoring{scorers: scorers, cpu: make(chan struct{}, runtime.GOMAXPROCS(0)), watch: watch}
	s.need = s.decodeNeed(nil).Union(score.Need{Thumb: store.ThumbSize})
	return s
}

// needer is a scorer that says what it reads of a decoded candidate.
type needer interface {
	Needs() score.Need
}

// decodeNeed is what a candidate must be decoded into for the scorers
// named in only (all when only is nil): the union of what each reads. It
// is the one place that decides, per run, whether the full colour image
// is built: only for a scorer that does not say what it reads.
func (s *scoring) decodeNeed(only []string) score.Need {
	var need score.Need
	for _, ns := range s.scorers {
		if only != nil && !slices.Contains(only, ns.name) {
			continue
		}
		if n, ok := ns.scorer.(needer); ok {
			need = need.Union(n.Needs())
		} else {
			need.Full = true
		}
	}
	return need
}

// score decodes the candidate's image once, into what need asks for, and
// runs the scorers named in only (all when only is nil) on it. A scorer
// that is known to be out, or that answers with an outage, is named in
// Pending; any other failure is that scorer's verdict on the candidate
// (Score.Err).
func (s *scoring) score(ctx context.Context, c comfybatch.Candidate, only []string, need score.Need) comfybatch.Scored {
	scored := comfybatch.Scored{Candidate: c}
	select {
	case s.cpu <- struct{}{}:
	case <-ctx.Done():
		scored.Scores = []comfybatch.Score{{Scorer: "decode", Err: ctx.Err().Error()}}
		return scored
	}
	px, err := s.dec.DecodeFrame(c.Image, score.Limits{}, need)
	if err != nil {
		<-s.cpu
		scored.Scores = []comfybatch.Score{{Scorer: "decode", Err: err.Error()}}
		return scored
	}
	c.Pixels = px
	scored.Candidate.Pixels = px // for record's thumbnail
	run := func(i int) bool { return only == nil || slices.Contains(only, s.scorers[i].name) }
	scores := make([]comfybatch.Score, len(s.scorers)) // goroutine i writes scores[i] only
	outages := make([]bool, len(s.scorers))
	for i, ns := range s.scorers {
		if !ns.network && run(i) {
			scores[i], outages[i] = s.runScorer(ctx, ns, c)
		}
	}
	<-s.cpu
	var wg sync.WaitGroup
	for i, ns := range s.scorers {
		if ns.network && run(i) {
			wg.Go(func() { scores[i], outages[i] = s.runScorer(ctx, ns, c) })
		}
	}
	wg.Wait()
	for i, ns := range s.scorers {
		switch {
		case !run(i):
		case outages[i]:
			scored.Pending = append(scored.Pending, ns.name)
		default:
			scored.Scores = append(scored.Scores, scores[i])
		}
	}
	return scored
}

// runScorer runs one scorer, unless it is known to be out; it reports
// whether the candidate must wait for that scorer.
func (s *scoring) runScorer(ctx context.Context, ns namedScorer, c comfybatch.Candidate) (comfybatch.Score, bool) {
	if s.watch.isDown(ns.name) {
		return comfybatch.Score{Scorer: ns.name}, true
	}
	sc, err := ns.scorer.Score(ctx, c)
	sc.Scorer = ns.name
	switch {
	case err == nil:
		s.watch.recovered(ns.name)
	case errors.Is(err, comfybatch.ErrOutage):
		s.watch.fail(ns.name, err)
		return sc, true
	case ctx.Err() != nil:
		// The run is stopping: not a verdict on this image.
		return sc, true
	default:
		sc.Err = err.Error()
	}
	return sc, false
}

// consume records every result until results is closed. Candidates are
// scored concurrently (see scoring). On the first store error it calls
// fatal (to stop the generator), keeps draining results so the generator
// can return, and returns that error.
func consume(ctx context.Context, results <-chan generate.Result, sc *scoring, st *store.Store, run store.Run, prog *Progress, log *slog.Logger, fatal func()) error {
	var g errgroup.Group
	g.SetLimit(64)
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
			if err := record(ctx, r, sc, st, run); err != nil {
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

// record scores every candidate of one finished job and stores their
// images, then the job and all its candidates in one record: a batch is
// never half recorded.
func record(ctx context.Context, r generate.Result, sc *scoring, st *store.Store, run store.Run) error {
	cands := r.Candidates
	if len(cands) == 0 {
		cands = []comfybatch.Candidate{r.Candidate}
	}
	all := make([]comfybatch.Scored, len(cands))
	pending := 0
	for i, c := range cands {
		scored := sc.score(ctx, c, nil, sc.need)
		path, sha, err := st.WriteImage(ctx, run, c.Image)
		if err != nil {
			return fmt.Errorf("store image of candidate %s: %w", c.Ref(), err)
		}
		if f, ok := scored.Candidate.Pixels.(*score.Frame); ok {
			// The image is decoded already, and its reduced copy made: a
			// thumbnail now saves the report a decode.
			th, err := f.Thumbnail()
			if err == nil {
				err = st.WriteThumbnail(ctx, run, sha, th)
			}
			f.Release() // its planes serve the next candidate
			if err != nil {
				return fmt.Errorf("store thumbnail of candidate %s: %w", c.Ref(), err)
			}
		}
		scored.Candidate.Pixels = nil // decoded pixels are not kept past recording
		scored.Candidate.Image = nil  // nor the bytes, now in their file
		scored.Candidate.Path, scored.Candidate.SHA256 = path, sha
		scored.Candidate.Attempt = max(scored.Candidate.Attempt, r.Attempts)
		if len(scored.Pending) > 0 {
			pending++
		}
		all[i] = scored
	}
	if err := st.RecordCandidates(ctx, run.ID, all); err != nil {
		return fmt.Errorf("record job %s: %w", r.Candidate.Job.Key, err)
	}
	sc.watch.addUnscored(pending)
	return nil
}

// scoreStored scores a recorded candidate again, from its image file,
// with the scorers named in only. Only the scores are kept: the decoded
// Frame's planes go back to the decoder for the next candidate.
func (s *scoring) scoreStored(ctx context.Context, run store.Run, c comfybatch.Candidate, only []string) (comfybatch.Scored, error) {
	data, err := os.ReadFile(filepath.Join(run.OutputDir, c.Path))
	if err != nil {
		return comfybatch.Scored{}, err
	}
	c.Image = data
	fresh := s.score(ctx, c, only, s.decodeNeed(only))
	if f, ok := fresh.Candidate.Pixels.(*score.Frame); ok {
		f.Release()
	}
	fresh.Candidate.Pixels, fresh.Candidate.Image = nil, nil
	return fresh, nil
}

// rescorePending scores the candidates of run that wait for a scorer, with
// the scorers they wait for that are not known to be out, and records each
// one whose new scores are complete or changed. It returns how many
// candidates are now fully scored.
func (s *scoring) rescorePending(ctx context.Context, st *store.Store, run store.Run) (int, error) {
	s.rescoring.Lock()
	defer s.rescoring.Unlock()
	if err := st.Flush(ctx); err != nil {
		return 0, err
	}
	var g errgroup.Group
	g.SetLimit(16)
	var mu sync.Mutex
	var batch []comfybatch.Scored
	scored := 0
	flush := func() error {
		mu.Lock()
		b := batch
		batch = nil
		mu.Unlock()
		if len(b) == 0 {
			return nil
		}
		return st.ReplaceScores(ctx, run.ID, b)
	}
	// The pending candidates are read one at a time, not all at once: a
	// million-job run whose CLIP scorer was down has a million of them.
	err := st.EachScored(ctx, run.ID, true, func(c comfybatch.Scored) error {
		var try []string
		for _, name := range c.Pending {
			if !s.watch.isDown(name) {
				try = append(try, name)
			}
		}
		if len(try) == 0 || ctx.Err() != nil {
			return nil
		}
		g.Go(func() error {
			fresh, err := s.scoreStored(ctx, run, c.Candidate, try)
			if err != nil {
				return fmt.Errorf("image of candidate %s: %w", c.Candidate.Ref(), err)
			}
			left := slices.DeleteFunc(slices.Clone(c.Pending), func(n string) bool {
				return slices.Contains(try, n) && !slices.Contains(fresh.Pending, n)
			})
			if len(left) == len(c.Pending) {
				return nil // nothing new
			}
			c.Scores = mergeScores(c.Scores, fresh.Scores)
			c.Pending = left
			if len(left) == 0 {
				c.Pending = nil
			}
			mu.Lock()
			batch = append(batch, c)
			if len(left) == 0 {
				scored++
			}
			full := len(batch) >= 64
			mu.Unlock()
			if full {
				return flush()
			}
			return nil
		})
		return nil
	})
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	if ferr := flush(); err == nil {
		err = ferr
	}
	s.watch.addUnscored(-scored)
	s.rescored += scored
	return scored, err
}

// recoverScorers runs until ctx ends: it probes every scorer that is out
// with growing, jittered delays (its Check when it has one; otherwise it
// lets the next candidate try it), scores the pending candidates when one
// answers again, and calls stop with an ErrOutage once an outage outlasts
// the deadline.
func (s *scoring) recoverScorers(ctx context.Context, st *store.Store, run store.Run, log *slog.Logger, stop func(error)) {
	// Probes start at a second and back off to 30s, less for short
	// deadlines, so that several probes fit in one.
	first := min(time.Second, s.watch.deadline/20)
	most := min(30*time.Second, s.watch.deadline/10)
	delay := first
	for ctx.Err() == nil {
		if err := s.watch.expired(); err != nil {
			stop(err)
			return
		}
		down := s.watch.downNames()
		if len(down) == 0 {
			delay = first
			s.watch.wait(ctx, first)
			continue
		}
		s.watch.wait(ctx, jitter(delay))
		delay = min(2*delay, most)
		back := false
		for _, name := range down {
			ns, ok := s.byName(name)
			if !ok {
				continue
			}
			if c, ok := ns.scorer.(checker); ok {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := c.Check(cctx)
				cancel()
				if err != nil {
					log.Debug("scorer still unavailable", "scorer", name, "err", err)
					continue
				}
			}
			log.Info("scorer available again", "scorer", name)
			s.watch.recovered(name)
			back = true
		}
		if back {
			if n, err := s.rescorePending(ctx, st, run); err != nil && ctx.Err() == nil {
				log.Warn("scoring pending candidates", "err", err)
			} else if n > 0 {
				log.Info("scored pending candidates", "candidates", n)
			}
		}
	}
}

func (s *scoring) byName(name string) (namedScorer, bool) {
	for _, ns := range s.scorers {
		if ns.name == name {
			return ns, true
		}
	}
	return namedScorer{}, false
}

// jitter spreads d over [d/2, 3d/2).
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(float64(d)*rand.Float64())
}

// await waits until no candidate waits for a scorer: pending candidates
// are scored as their scorers come back (recoverScorers). It returns an
// ErrOutage once an outage outlasts the deadline, ctx's error when ctx
// ends, and nil also when candidates still wait but no scorer is out
// (they could not be scored now; the summary reports them).
func (s *scoring) await(ctx context.Context, st *store.Store, run store.Run) error {
	for s.watch.pendingCount() > 0 {
		if err := s.watch.expired(); err != nil {
			return err
		}
		if err := context.Cause(ctx); err != nil {
			return err
		}
		if len(s.watch.downNames()) == 0 {
			if _, err := s.rescorePending(ctx, st, run); err != nil {
				return err
			}
			if len(s.watch.downNames()) == 0 {
				return nil
			}
			continue
		}
		s.watch.wait(ctx, time.Second)
	}
	return nil
}

// rescoredCount is how many pending candidates rescorePending completed.
func (s *scoring) rescoredCount() int {
	s.rescoring.Lock()
	defer s.rescoring.Unlock()
	return s.rescored
}

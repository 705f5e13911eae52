package pipeline

import (
	"context"
	"fmt"
	"iter"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/generate"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/store"
)

// A run streams its plan: the manifest's jobs are expanded, recorded and
// handed to the fleet a chunk at a time, with their recorded states read
// a chunk at a time too, so neither the plan nor the states of a million
// jobs are ever in memory.

// chunkSize is how many jobs are planned, looked up and recorded together.
const chunkSize = 512

// planned is one job of the plan with its state in the store (zero for a
// job the store does not have).
type planned struct {
	job   comfybatch.Job
	state store.JobState
}

// planReader reads the plan of a run (the first limit jobs of each group
// when limit > 0) with the state the store has for each job.
type planReader struct {
	st    *store.Store // nil: nothing recorded yet
	runID int64        // 0: nothing recorded yet
	fresh bool         // the run has no job recorded yet: no state to look up
	m     *manifests.Manifest
	limit int
	// byIndex says the run was planned from this very manifest, so its
	// recorded jobs match the plan index for index: a job finished for
	// good (finished) is passed over by its index, without expanding it.
	byIndex  bool
	finished func(status, class string) bool
	// passed counts the jobs passed over that way.
	passed int
}

// chunks streams the plan in chunks of the jobs not passed over, each with
// its recorded state. It only reads.
func (r *planReader) chunks(ctx context.Context) iter.Seq2[[]planned, error] {
	return func(yield func([]planned, error) bool) {
		var cur *store.StatusCursor
		if r.byIndex && r.st != nil && r.runID != 0 && r.finished != nil {
			var err error
			if cur, err = r.st.JobStatuses(ctx, r.runID); err != nil {
				yield(nil, err)
				return
			}
			defer cur.Close()
		}
		perGroup := map[string]int{}
		want := func(index int, group string) bool {
			if r.limit > 0 {
				if perGroup[group] >= r.limit {
					return false
				}
				perGroup[group]++
			}
			if cur != nil {
				if s, ok := cur.At(index); ok && r.finished(s.Status, s.ErrorClass) {
					r.passed++
					return false
				}
			}
			return true
		}
		chunk := make([]planned, 0, chunkSize)
		flush := func() bool {
			if len(chunk) == 0 {
				return true
			}
			if r.st != nil && r.runID != 0 && !r.fresh {
				keys := make([]string, len(chunk))
				for i, p := range chunk {
					keys[i] = p.job.Key
				}
				states, err := r.st.JobStatesOf(ctx, r.runID, keys)
				if err != nil {
					yield(nil, err)
					return false
				}
				for i := range chunk {
					chunk[i].state = states[chunk[i].job.Key]
				}
			}
			ok := yield(chunk, nil)
			chunk = make([]planned, 0, chunkSize)
			return ok
		}
		for job, err := range r.m.JobsWhere(want) {
			if err != nil {
				yield(nil, err)
				return
			}
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			chunk = append(chunk, planned{job: job})
			if len(chunk) == chunkSize && !flush() {
				return
			}
		}
		if cur != nil && cur.Err() != nil {
			yield(nil, cur.Err())
			return
		}
		flush()
	}
}

// plannedTotal is how many jobs the plan has under the per-group limit.
func plannedTotal(shape *manifests.Plan, limit int) int {
	if limit <= 0 {
		return shape.Total
	}
	n := 0
	for _, c := range shape.PerGroup {
		n += min(c, limit)
	}
	return n
}

// retryOnRerun reports whether a rerun retries a job that failed with the
// given class: what may succeed now, yes; bad input and a node's own
// exception (deterministic for that input) only when asked.
func retryOnRerun(class string, all bool) bool {
	switch class {
	case comfybatch.ClassInvalid, comfybatch.ClassExecution:
		return all
	}
	return true
}

// toDo reports whether a job in state s is still to generate, and for a
// failed one retried now, the class it failed with.
func toDo(s store.JobState, retryFailed bool) (todo bool, retried string) {
	switch s.Status {
	case comfybatch.StatusDone:
		return false, ""
	case comfybatch.StatusFailed:
		if !retryOnRerun(s.ErrorClass, retryFailed) {
			return false, ""
		}
		return true, s.ErrorClass
	}
	return true, ""
}

// task turns a job still to generate into the fleet's task: prompts an
// earlier process may still have on a server are looked up, and new
// attempts are numbered after the old ones.
func task(p planned) generate.Task {
	t := generate.Task{Job: p.job}
	for _, a := range p.state.Attempts {
		t.Attempted = max(t.Attempted, a.Number)
		if a.Outcome == "" {
			t.Prior = append(t.Prior, generate.Attempt{JobKey: p.job.Key, Instance: a.Instance, PromptID: a.PromptID, Number: a.Number})
		}
	}
	return t
}

// finishedFor says which recorded jobs a run passes over: done ones, and
// failed ones a rerun does not retry.
func finishedFor(retryFailed bool) func(status, class string) bool {
	return func(status, class string) bool {
		todo, _ := toDo(store.JobState{Status: status, ErrorClass: class}, retryFailed)
		return !todo
	}
}

// anyWork reports whether the plan has a job still to generate, reading
// as little as it can: the run's counts tell when it was planned from this
// manifest and has a job pending or submitted, a failure to retry, or not
// every job recorded; otherwise the plan is read up to the first job to do.
func anyWork(ctx context.Context, r *planReader, counts store.Counts, total int, retryFailed bool) (bool, error) {
	if r.byIndex {
		classes, err := r.st.FailureClasses(ctx, r.runID)
		if err != nil {
			return false, err
		}
		retried := 0
		for _, c := range classes {
			if retryOnRerun(c.Class, retryFailed) {
				retried += c.Count
			}
		}
		if counts.All.Pending+counts.All.Submitted > 0 || retried > 0 || counts.All.Total < total {
			return true, nil
		}
		if counts.All.Total == total {
			return false, nil
		}
	}
	for chunk, err := range r.chunks(ctx) {
		if err != nil {
			return false, err
		}
		for _, p := range chunk {
			if todo, _ := toDo(p.state, retryFailed); todo {
				return true, nil
			}
		}
	}
	return false, nil
}

// produced is what the producer counted besides prog's counts (jobs
// finished by an earlier process are prog.Skipped).
type produced struct {
	retried map[string]int // failed jobs retried now, by error class
}

// produce records the plan chunk by chunk and sends every job still to
// generate on tasks, until the plan ends or ctx does; it closes tasks when
// it returns. Jobs are recorded before they are sent: their attempts are
// recorded against them.
func produce(ctx context.Context, st *store.Store, r *planReader, retryFailed bool,
	tasks chan<- generate.Task, prog *Progress, counts *produced) error {
	defer close(tasks)
	passed := 0
	for chunk, err := range r.chunks(ctx) {
		if err != nil {
			return err
		}
		if d := r.passed - passed; d > 0 {
			prog.Skipped.Add(int64(d))
			passed = r.passed
		}
		var fresh []comfybatch.Job // not recorded yet
		for _, p := range chunk {
			if p.state.Key == "" {
				fresh = append(fresh, p.job)
			}
		}
		if len(fresh) > 0 {
			if err := st.PlanJobs(ctx, r.runID, fresh); err != nil {
				return fmt.Errorf("record plan: %w", err)
			}
		}
		for _, p := range chunk {
			todo, class := toDo(p.state, retryFailed)
			if !todo {
				prog.Skipped.Add(1)
				continue
			}
			if class != "" {
				if counts.retried == nil {
					counts.retried = map[string]int{}
				}
				counts.retried[class]++
			}
			select {
			case tasks <- task(p):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if d := r.passed - passed; d > 0 {
		prog.Skipped.Add(int64(d))
	}
	return nil
}

// jobsToDo streams the jobs of the plan still to generate. It only reads.
func jobsToDo(ctx context.Context, r *planReader, retryFailed bool) iter.Seq2[comfybatch.Job, error] {
	return func(yield func(comfybatch.Job, error) bool) {
		for chunk, err := range r.chunks(ctx) {
			if err != nil {
				yield(comfybatch.Job{}, err)
				return
			}
			for _, p := range chunk {
				if todo, _ := toDo(p.state, retryFailed); todo && !yield(p.job, nil) {
					return
				}
			}
		}
	}
}

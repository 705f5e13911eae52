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

// planChunks streams the plan (the first limit jobs of each group when
// limit > 0) in chunks, each job with its recorded state when st and
// runID name an existing run. It only reads.
func planChunks(ctx context.Context, st *store.Store, runID int64, m *manifests.Manifest, limit int) iter.Seq2[[]planned, error] {
	return func(yield func([]planned, error) bool) {
		perGroup := map[string]int{}
		chunk := make([]planned, 0, chunkSize)
		flush := func() bool {
			if len(chunk) == 0 {
				return true
			}
			if st != nil && runID != 0 {
				keys := make([]string, len(chunk))
				for i, p := range chunk {
					keys[i] = p.job.Key
				}
				states, err := st.JobStatesOf(ctx, runID, keys)
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
		for job, err := range m.Jobs() {
			if err != nil {
				yield(nil, err)
				return
			}
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if limit > 0 {
				if perGroup[job.Group] >= limit {
					continue
				}
				perGroup[job.Group]++
			}
			chunk = append(chunk, planned{job: job})
			if len(chunk) == chunkSize && !flush() {
				return
			}
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

// anyWork reports whether the plan has a job still to generate, reading
// the plan only as far as the first one.
func anyWork(ctx context.Context, st *store.Store, runID int64, m *manifests.Manifest, limit int, retryFailed bool) (bool, error) {
	for chunk, err := range planChunks(ctx, st, runID, m, limit) {
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

// produced is what the producer counted.
type produced struct {
	skipped int            // jobs finished by an earlier process (done, or failed for good)
	retried map[string]int // failed jobs retried now, by error class
	sent    int            // tasks handed to the fleet
}

// produce records the plan chunk by chunk and sends every job still to
// generate on tasks, until the plan ends or ctx does; it closes tasks when
// it returns. Jobs are recorded before they are sent: their attempts are
// recorded against them.
func produce(ctx context.Context, st *store.Store, run store.Run, m *manifests.Manifest, limit int, retryFailed bool,
	tasks chan<- generate.Task, prog *Progress, counts *produced) error {
	defer close(tasks)
	for chunk, err := range planChunks(ctx, st, run.ID, m, limit) {
		if err != nil {
			return err
		}
		jobs := make([]comfybatch.Job, len(chunk))
		for i, p := range chunk {
			jobs[i] = p.job
		}
		if err := st.PlanJobs(ctx, run.ID, jobs); err != nil {
			return fmt.Errorf("record plan: %w", err)
		}
		for _, p := range chunk {
			todo, class := toDo(p.state, retryFailed)
			if !todo {
				counts.skipped++
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
				counts.sent++
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// jobsToDo streams the jobs of the plan still to generate (st may be nil
// for a new run). It only reads.
func jobsToDo(ctx context.Context, st *store.Store, runID int64, m *manifests.Manifest, limit int, retryFailed bool) iter.Seq2[comfybatch.Job, error] {
	return func(yield func(comfybatch.Job, error) bool) {
		for chunk, err := range planChunks(ctx, st, runID, m, limit) {
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

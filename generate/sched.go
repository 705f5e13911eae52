package generate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// jobState is one task while a Run owns it.
type jobState struct {
	task      Task
	attempts  int      // submissions so far, prior ones included
	before    int      // submissions by earlier processes: MaxAttempts counts those after
	execFails int      // ErrExecution outcomes so far
	execOn    []string // instances where it raised a node exception: never again there
	steals    int      // attempts taken over by tail stealing (counted in attempts); guarded by runState.mu
	refused   int      // attempts an instance refused for our credentials (counted in attempts)
	avoid     string   // instance that failed it last: retry elsewhere if possible
	notBefore time.Time
	last      Attempt // the latest attempt, named in a failure's Result
}

// spent is how many attempts count against Options.MaxAttempts: those of
// this process only; stolen attempts did not fail, and an instance that
// refused our credentials refused the instance's work, not the job.
func (js *jobState) spent() int { return js.attempts - js.before - js.steals - js.refused }

// failed is the Result of a job that ended without an image: Candidate
// carries the job and the latest attempt, so callers can tell which task
// it is.
func (js *jobState) failed(err error) Result {
	return Result{
		Candidate: comfybatch.Candidate{Job: js.task.Job, Instance: js.last.Instance, PromptID: js.last.PromptID, Attempt: js.last.Number},
		Err:       err,
		Attempts:  js.attempts,
	}
}

// pickLocked chooses the next job for a free slot of in, removing it from
// the pending list, or returns nil. rs.mu must be held.
//
// Rules, in order: the job's Tags must be on the instance and the
// instance must accept it (Instance.Accept, or its /object_info check); a
// job never returns to an instance where it raised a node exception; a
// job in backoff waits; a job that just failed on this instance goes
// elsewhere when another up instance could take it; a higher-tier
// instance takes a
// job only when no up lower-tier instance that could run it has a free
// slot. Among the remaining jobs, affinity decides: the first job with the
// instance's last affinity, else the first job whose affinity no other up
// instance is holding, else the first job (never idle while there is work
// it may do).
func (rs *runState) pickLocked(in *instance, now time.Time) *jobState {
	in.mu.Lock()
	last := in.last
	in.mu.Unlock()

	held := map[string]bool{}
	if !rs.f.opts.IgnoreAffinity {
		for _, o := range rs.f.insts {
			if o != in && !o.isDown() {
				o.mu.Lock()
				held[o.last] = true
				o.mu.Unlock()
			}
		}
	}
	best, bestRank := -1, 4
	for i, js := range rs.pending {
		if !rs.eligible(in, js, now) {
			continue
		}
		rank := 3
		switch {
		case rs.f.opts.IgnoreAffinity:
			rank = 0
		case js.task.Job.Affinity == last:
			rank = 0
		case !held[js.task.Job.Affinity]:
			rank = 1
		}
		if rank < bestRank {
			best, bestRank = i, rank
			if rank == 0 {
				break
			}
		}
	}
	if best < 0 {
		return nil
	}
	js := rs.pending[best]
	if rs.busy[in] > 0 {
		// Breadth first: an instance with nothing in flight gets the job
		// before another queues a second prompt. This matters at the end
		// of a run, where a slow instance's queued job is the makespan.
		for _, o := range rs.f.insts {
			if o != in && rs.busy[o] == 0 && !o.isDown() && rs.eligible(o, js, now) {
				return nil
			}
		}
	}
	rs.pending = append(rs.pending[:best], rs.pending[best+1:]...)

	in.mu.Lock()
	load := js.task.Job.Affinity != in.last
	if load {
		in.st.ModelLoads++
	}
	in.last = js.task.Job.Affinity
	in.mu.Unlock()
	if load {
		rs.f.emit(Event{Kind: EventModelLoad, Instance: in.cfg.Name, JobKey: js.task.Job.Key})
	}
	return js
}

func (rs *runState) eligible(in *instance, js *jobState, now time.Time) bool {
	if now.Before(js.notBefore) || !js.mayTry(in) {
		return false
	}
	if js.avoid == in.cfg.Name {
		// Retry elsewhere when another instance of this tier or a lower one could.
		for _, o := range rs.f.insts {
			if o != in && o.cfg.Tier <= in.cfg.Tier && !o.isDown() && js.mayTry(o) {
				return false
			}
		}
	}
	if in.cfg.Tier > 0 {
		for _, o := range rs.f.insts {
			if o.cfg.Tier < in.cfg.Tier && rs.busy[o] < o.cfg.InFlight && !o.isDown() &&
				o.cfg.Name != js.avoid && js.mayTry(o) {
				return false
			}
		}
	}
	return true
}

// mayTry reports whether the job may go to in now: the instance can run
// it and the job raised no node exception there.
func (js *jobState) mayTry(in *instance) bool {
	return !slices.Contains(js.execOn, in.cfg.Name) && in.canRun(js.task.Job)
}

// mayTryLater is mayTry counting an instance whose /object_info check is
// still to come as one that may run the job.
func (js *jobState) mayTryLater(in *instance) bool {
	if slices.Contains(js.execOn, in.cfg.Name) {
		return false
	}
	err := in.refuses(js.task.Job)
	return err == nil || errors.Is(err, errNotChecked)
}

// runnable returns nil when some instance may run the job (one whose
// check is still to come counts), else an error naming every instance's
// refusal, which is comfybatch.ErrInvalid.
func (f *Fleet) runnable(j comfybatch.Job) error {
	var why []string
	for _, in := range f.insts {
		err := in.refuses(j)
		if err == nil || errors.Is(err, errNotChecked) {
			return nil
		}
		why = append(why, fmt.Sprintf("instance %s: %v", in.cfg.Name, err))
	}
	return fmt.Errorf("job %s: no instance can run it: %s: %w", j.Key, strings.Join(why, "; "), comfybatch.ErrInvalid)
}

// allChecked reports whether every instance's check is done.
func (f *Fleet) allChecked() bool {
	for _, in := range f.insts {
		in.mu.Lock()
		c := in.checked
		in.mu.Unlock()
		if !c {
			return false
		}
	}
	return true
}

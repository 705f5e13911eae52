package generate

import (
	"time"

	"github.com/comfybatch/comfybatch"
)

// jobState is one task while a Run owns it.
type jobState struct {
	task      Task
	attempts  int    // submissions so far, prior ones included
	before    int    // submissions by earlier processes: MaxAttempts counts those after
	execFails int    // ErrExecution outcomes so far
	steals    int    // attempts taken over by tail stealing (counted in attempts); guarded by runState.mu
	avoid     string // instance that failed it last: retry elsewhere if possible
	notBefore time.Time
	last      Attempt // the latest attempt, named in a failure's Result
}

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
// Rules, in order: the job's Tags must be on the instance; a job in
// backoff waits; a job that just failed on this instance goes elsewhere
// when another up instance could take it; a higher-tier instance takes a
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
	if !in.hasTags(js.task.Job.Tags) || now.Before(js.notBefore) {
		return false
	}
	if js.avoid == in.cfg.Name {
		// Retry elsewhere when another instance of this tier or a lower one could.
		for _, o := range rs.f.insts {
			if o != in && o.cfg.Tier <= in.cfg.Tier && !o.isDown() && o.hasTags(js.task.Job.Tags) {
				return false
			}
		}
	}
	if in.cfg.Tier > 0 {
		for _, o := range rs.f.insts {
			if o.cfg.Tier < in.cfg.Tier && rs.busy[o] < o.cfg.InFlight && !o.isDown() &&
				o.cfg.Name != js.avoid && o.hasTags(js.task.Job.Tags) {
				return false
			}
		}
	}
	return true
}

// runnable reports whether some instance of the fleet carries all tags.
func (f *Fleet) runnable(j comfybatch.Job) bool {
	for _, in := range f.insts {
		if in.hasTags(j.Tags) {
			return true
		}
	}
	return false
}

package generate

import (
	"context"
	"errors"
	"time"
)

// Tail stealing. Once no unassigned job is left, every instance still keeps
// up to InFlight of our prompts on its server, so a job can wait in a slow
// instance's queue while fast instances go idle: the end of the run is then
// the slow instance's queue. A worker slot with nothing to pick therefore
// looks for one of our prompts that is still pending (queued, not running)
// on another instance and would finish sooner here, takes it off that
// server's queue (POST /queue delete) and submits the job here as a new
// attempt.
//
// A job must never be generated twice, so a steal only counts when, after
// the delete, /queue no longer has the prompt (pending or running) and
// /history has no entry for it; otherwise (it started meanwhile, or a
// request failed) the steal is abandoned and the victim keeps waiting for
// its prompt as if nothing happened. While a steal is in progress the
// victim's await does not take the prompt's absence for a loss. Each prompt
// is tried at most once, and a job is stolen at most once, so jobs cannot
// bounce between instances.

// errStolen ends the victim's attempt: the job now belongs to the thief.
var errStolen = errors.New("prompt taken over by another instance")

// flight is one of our submitted prompts on an instance, as tail stealing
// sees it. Fields are guarded by the instance's mu.
type flight struct {
	js       *jobState
	a        Attempt
	seq      uint64    // submission order on the instance
	startAt  time.Time // when execution_start was seen or it was found running; zero before
	tried    bool      // a steal was attempted: never again
	stealing bool      // a steal is in progress: the prompt may vanish from the queue
	stolen   bool      // deleted from the queue; the victim's attempt ends with errStolen
}

// started reports whether the prompt is known to have started: it is
// never stolen.
func (fl *flight) started() bool { return !fl.startAt.IsZero() }

// addFlight makes an accepted prompt of a Run attempt visible to stealing.
func (in *instance) addFlight(js *jobState, a Attempt) {
	in.mu.Lock()
	in.seq++
	in.flights[a.PromptID] = &flight{js: js, a: a, seq: in.seq}
	in.mu.Unlock()
	in.f.wakeAll() // an idle slot may want to take it over
}

func (in *instance) removeFlight(pid string) {
	in.mu.Lock()
	delete(in.flights, pid)
	in.mu.Unlock()
}

// stealState reports whether a steal of pid is in progress or done.
func (in *instance) stealState(pid string) (stealing, stolen bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if fl := in.flights[pid]; fl != nil {
		return fl.stealing, fl.stolen
	}
	return false, false
}

// observeExecLocked feeds the instance's execution-time estimate with a
// positive d (a moving average over recent prompts, so a model load does
// not dominate). in.mu must be held.
func (in *instance) observeExecLocked(d time.Duration) {
	if in.exec == 0 {
		in.exec = d
	} else {
		in.exec += (d - in.exec) / 4
	}
}

// execEstimates returns each instance's expected execution time. An
// instance without a sample yet is estimated from the others through the
// Weights: base/Weight, where base is the mean of the sampled instances'
// time×Weight. Before any sample, the Weights alone rank the instances
// (nominalExec/Weight), or nil when they are all equal: nothing is known.
// A prompt that has been running longer than its instance's estimate
// raises it: the instance is slower than it was.
func (f *Fleet) execEstimates(now time.Time) map[*instance]time.Duration {
	est := make(map[*instance]time.Duration, len(f.insts))
	running := make(map[*instance]time.Duration, len(f.insts))
	var base float64
	n := 0
	weighted := false
	for _, in := range f.insts {
		in.mu.Lock()
		d := in.exec
		for _, fl := range in.flights {
			if fl.started() {
				running[in] = max(running[in], now.Sub(fl.startAt))
			}
		}
		in.mu.Unlock()
		if d > 0 {
			est[in] = d
			base += float64(d) * in.weight()
			n++
		}
		weighted = weighted || in.weight() != f.insts[0].weight()
	}
	switch {
	case n > 0:
		base /= float64(n)
	case weighted:
		base = float64(nominalExec)
	default:
		return nil
	}
	for _, in := range f.insts {
		if est[in] == 0 {
			est[in] = time.Duration(base / in.weight())
		}
		est[in] = max(est[in], running[in])
	}
	return est
}

// nominalExec is the execution time execEstimates assumes for a Weight of
// 1 before any prompt has run: it only ranks instances, and bounds how
// long a slower one waits before looking at the work again.
const nominalExec = time.Second

// claimStealLocked chooses the prompt a free slot of thief should take over
// and marks it as being stolen, or returns nil. rs.mu must be held.
//
// A pending prompt with k of our prompts ahead of it on its instance v is
// expected to finish after (k+1)×exec(v); here it would finish after
// (busy+1)×exec(thief). The prompt expected to finish last is taken when
// that gains at least a quarter of the thief's execution time.
func (rs *runState) claimStealLocked(thief *instance, now time.Time) (*instance, *flight) {
	est := rs.f.execEstimates(now)
	if est == nil {
		return nil, nil
	}
	here := time.Duration(rs.busy[thief]+1)*est[thief] + est[thief]/4
	type cand struct {
		v   *instance
		fl  *flight
		end time.Duration
	}
	var cands []cand
	for _, v := range rs.f.insts {
		if v == thief || v.cfg.Tier < thief.cfg.Tier || v.isDown() {
			continue // an overflow instance never takes work from a primary one
		}
		v.mu.Lock()
		for _, fl := range v.flights {
			if fl.started() || fl.tried || fl.stealing || fl.stolen || fl.js.steals > 0 {
				continue
			}
			// Submission order approximates the server's queue order (two
			// slots' requests may cross), and a running prompt is always
			// ahead of a pending one.
			ahead := 0
			for _, o := range v.flights {
				if o != fl && !o.stolen && (o.started() || o.seq < fl.seq) {
					ahead++
				}
			}
			if end := time.Duration(ahead+1) * est[v]; end > here {
				cands = append(cands, cand{v, fl, end})
			}
		}
		v.mu.Unlock()
	}
	var best *cand
	for i, c := range cands {
		// eligible locks other instances: called with no instance lock held.
		if (best == nil || c.end > best.end) && rs.eligible(thief, c.fl.js, now) {
			best = &cands[i]
		}
	}
	if best == nil {
		return nil, nil
	}
	best.v.mu.Lock()
	defer best.v.mu.Unlock()
	if best.v.flights[best.fl.a.PromptID] != best.fl || best.fl.started() || best.fl.stealing || best.fl.tried {
		return nil, nil // settled or started meanwhile; the caller looks again
	}
	best.fl.stealing = true
	return best.v, best.fl
}

// steal deletes fl's prompt from v's queue and reports whether it is
// certainly gone without having run: no longer in /queue and not in
// /history. Either way the victim's waiter is told to look again; on
// success its attempt ends with errStolen.
func (rs *runState) steal(ctx context.Context, thief, v *instance, fl *flight) bool {
	pid := fl.a.PromptID
	ok := v.c.DeleteQueued(ctx, pid) == nil
	if ok {
		// /queue before /history: a prompt finishing in between is in one
		// of them (the server moves it under one lock).
		q, err := v.c.Queue(ctx)
		ok = err == nil && !q.Has(pid)
		if err == nil && q.IsRunning(pid) {
			v.mu.Lock()
			if !fl.started() {
				fl.startAt = time.Now() // it started by now at the latest
			}
			v.mu.Unlock()
		}
	}
	if ok {
		h, err := v.c.History(ctx, pid)
		ok = err == nil && h == nil
	}
	v.mu.Lock()
	fl.stealing, fl.tried, fl.stolen = false, true, ok
	if ok {
		v.st.Stolen++
	}
	ch := v.waiters[pid]
	v.mu.Unlock()
	if ch != nil {
		select {
		case ch <- Message{Type: "reconcile"}:
		default: // full: its next poll sees the state
		}
	}
	if ok {
		v.log.Info("pending prompt taken over", "job", fl.a.JobKey, "prompt_id", pid, "by", thief.cfg.Name)
		rs.f.emit(Event{Kind: EventStolen, Instance: v.cfg.Name, JobKey: fl.a.JobKey, PromptID: pid, Attempt: fl.a.Number})
	} else {
		v.log.Debug("steal abandoned", "job", fl.a.JobKey, "prompt_id", pid, "by", thief.cfg.Name)
	}
	return ok
}

// leaveToFasterLocked is the hand-out half of the tail policy: when only a
// few unassigned jobs are left, in takes one only if it is among the
// instances where they would finish first. The jobs are assigned in
// thought, one at a time, to the instance that would finish one soonest
// (after the prompts it already has); if in gets none, it leaves them and
// returns how long to wait before looking again (estimates move as prompts
// run), else 0. rs.mu must be held.
func (rs *runState) leaveToFasterLocked(in *instance, now time.Time) time.Duration {
	r := len(rs.pending)
	if rs.f.opts.NoSteal || !rs.inputDone || r == 0 || r > 2*len(rs.f.insts) {
		return 0
	}
	est := rs.f.execEstimates(now)
	if est == nil {
		return 0
	}
	// Compare only with instances that may run the job in would take: a
	// job avoiding another instance must not wait for it.
	var job *jobState
	for _, js := range rs.pending {
		if rs.eligible(in, js, now) {
			job = js
			break
		}
	}
	if job == nil {
		return 0
	}
	type slot struct {
		in  *instance
		end time.Duration // until it would finish one more job, after its prompts of ours
	}
	var slots []slot
	for _, o := range rs.f.insts {
		if o != in && (o.cfg.Tier > in.cfg.Tier || o.isDown() || !rs.eligible(o, job, now)) {
			continue
		}
		var avail time.Duration
		o.mu.Lock()
		for _, fl := range o.flights {
			switch {
			case fl.stolen:
			case fl.started():
				avail += max(est[o]-now.Sub(fl.startAt), 0)
			default:
				avail += est[o]
			}
		}
		o.mu.Unlock()
		slots = append(slots, slot{o, avail + est[o]})
	}
	for range r {
		best := &slots[0]
		for i, s := range slots {
			if s.end < best.end || (s.end == best.end && s.in == in) {
				best = &slots[i]
			}
		}
		if best.in == in {
			return 0
		}
		best.end += est[best.in]
	}
	return max(est[in]/4, time.Millisecond)
}

package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/comfybatch/comfybatch"
)

// Instance describes one ComfyUI server of a fleet.
type Instance struct {
	// Name identifies the instance in results, events, stats and Attempts;
	// it must be unique. Empty means URL.
	Name string
	URL  string
	// Headers are sent with every request to this instance.
	Headers map[string]string
	// InFlight is how many of our prompts the instance keeps queued on the
	// server at once, so the GPU never waits for the client. Default 2.
	InFlight int
	// Weight is the instance's speed relative to the others (default 1; 2
	// for a GPU twice as fast). Pull-based scheduling already gives a
	// faster instance more work; the weight is what the end-of-run policy
	// (which instance takes the last jobs, which queued prompt an idle
	// instance takes over) assumes about an instance before it has
	// measured its execution time, and how the instance compares with the
	// measured ones until then. A small batch therefore starts on the
	// fastest instances.
	Weight float64
	// Tags are what the instance offers; a job runs only on instances
	// carrying all of its Tags.
	Tags []string
	// Tier 0 is primary. An instance of a higher tier takes a job only when
	// no up instance of a lower tier that may run it has a free slot (all
	// down, or all saturated): it is overflow capacity.
	Tier int
	// Accept, when set, says whether the instance can run a job: nil, or
	// why not (a node class, input or value it lacks). Like Tags, a job it
	// refuses is never handed to it, and a job every instance refuses
	// fails as comfybatch.ErrInvalid with the refusals. It is called often,
	// under the scheduler's lock: it must be fast and must not block (see
	// manifests.Manifest.InstanceCheck). When Accept is nil and
	// Options.Check is set, the fleet builds it from the instance's
	// /object_info when the instance is first reachable.
	Accept func(comfybatch.Job) error
}

// Options configure a Fleet. The zero value is usable.
type Options struct {
	// HTTPClient is used for every request; nil means a new http.Client
	// with a one-minute timeout.
	HTTPClient *http.Client
	// Logger receives run milestones and retried faults; nil discards.
	Logger *slog.Logger
	// MaxAttempts bounds submissions per job (default 3).
	MaxAttempts int
	// JobTimeout bounds one attempt from its submission (0 = none). On
	// timeout that prompt alone is deleted (pending) or interrupted
	// (running) and the job is retried elsewhere.
	JobTimeout time.Duration
	// Backoff is the base delay for retries, reconnects and health probes
	// (default 250ms); every delay is jittered.
	Backoff time.Duration
	// PollInterval is how often an in-flight prompt is checked with
	// /queue and /history besides the WebSocket (default 1s). It is the
	// fallback when the socket is down or events were missed.
	PollInterval time.Duration
	// GiveUpAfter is how long every instance may stay down before Run
	// fails the remaining tasks and returns an error (default 2m).
	GiveUpAfter time.Duration
	// IgnoreAffinity hands out jobs in plan order (round-robin over free
	// slots) instead of preferring an instance's last Job.Affinity. For
	// comparisons.
	IgnoreAffinity bool
	// NoSteal turns off the tail policy (see the package doc): no slot
	// leaves the last jobs to faster instances, and a job stays on the
	// instance whose queue it was submitted to. For comparisons.
	NoSteal bool
	// MaxImageSide bounds the width and height a downloaded image may
	// declare (default DefaultMaxImageSide); see VerifyImage.
	MaxImageSide int
	// Check, when set, builds an instance's Accept from its GET
	// /object_info body, for instances given without Accept. The fleet
	// fetches /object_info once per instance, when the instance is first
	// reachable; until then the instance gets no job. An error means the
	// instance can run nothing (it is logged and reported in the Results
	// of jobs no instance accepts).
	Check func(instance string, objectInfo json.RawMessage) (func(comfybatch.Job) error, error)
	// BeforeSubmit is called with the chosen prompt id before POST
	// /prompt, so the caller can durably record it (resume recovers
	// in-flight prompts by it). An error fails that job, not the run.
	BeforeSubmit func(ctx context.Context, a Attempt) error
	// OnEvent is a progress hook. It must be fast; it is called from many
	// goroutines.
	OnEvent func(Event)
}

// Attempt is one submission of a job to an instance.
type Attempt struct {
	JobKey, Instance, PromptID string
	// Number counts submissions of the job, starting at 1.
	Number int
}

// Task is one job to generate.
type Task struct {
	Job comfybatch.Job
	// Prior are attempts a previous process recorded that may still be on
	// a server. Each is looked up (history, then queue, on its instance)
	// and its result adopted instead of generating again; one in neither
	// was lost in a restart, and the job is submitted anew.
	Prior []Attempt
	// Attempted counts the job's submissions by earlier processes, Prior
	// included: new attempts are numbered after them. Every Run gives a
	// job a fresh budget of MaxAttempts submissions.
	Attempted int
}

// Result is the outcome of one task.
type Result struct {
	// Candidates are, on success, every image the prompt yielded (see
	// comfybatch.Job.Outputs), each downloaded and verified, in output node
	// then batch order; Candidate is the first of them. On failure
	// Candidates is nil and Candidate still carries Job and the latest
	// attempt's Instance, PromptID and Attempt (zero when nothing was
	// submitted), with no Image.
	Candidates []comfybatch.Candidate
	Candidate  comfybatch.Candidate
	// Err is the classified failure (errors.Is ErrInvalid, ErrTransient,
	// ErrExecution or ErrInterrupted); its message names the instance.
	Err error
	// Attempts is how many submissions the job took, prior ones included.
	Attempts int
}

// EventKind names a fleet event.
type EventKind string

// Event kinds.
const (
	EventSubmitted    EventKind = "submitted"
	EventStarted      EventKind = "started"
	EventDone         EventKind = "done"
	EventFailed       EventKind = "failed"
	EventRetry        EventKind = "retry"
	EventAdopted      EventKind = "adopted" // a prior attempt's result was taken over
	EventInstanceUp   EventKind = "instance_up"
	EventInstanceDown EventKind = "instance_down"
	EventModelLoad    EventKind = "model_load"
	// EventStolen: the job's pending prompt (PromptID, Attempt) was deleted
	// from Instance's queue by tail stealing; a submitted event for the
	// next attempt on another instance follows. No done, failed or retry
	// event comes for the stolen attempt. The attempt never executed: it
	// moved, it did not fail.
	EventStolen EventKind = "stolen"
	// EventCancelled: Shutdown left the job without a Result, and nothing
	// of it queued or running on a server: the caller should make it
	// pending again so that a rerun generates it. Emitted once per prompt
	// (PromptID, Attempt on Instance). Err is nil when the prompt certainly
	// never executed: deleted from the queue and confirmed in neither
	// queue nor history, found in neither (lost), or never sent. Otherwise
	// Err says what happened and the prompt may have run, even to the end:
	// interrupted when the grace period ended (comfybatch.ErrInterrupted),
	// deleted then without confirmation, the run ended while its answer or
	// image was awaited, or it failed while Shutdown was under way. A rerun
	// should then look the attempt up before generating the job again, to
	// adopt an image that was made.
	EventCancelled EventKind = "cancelled"
)

// Event is reported through Options.OnEvent.
type Event struct {
	Kind     EventKind
	Time     time.Time
	Instance string
	JobKey   string
	PromptID string
	Attempt  int
	// Err is set for failed and retry events and for instance_down.
	Err error
}

// InstanceStats is what a fleet observed of one instance.
type InstanceStats struct {
	Name string
	// Prompts counts accepted submissions; Failures failed attempts.
	Prompts, Failures int
	// ModelLoads counts jobs whose Affinity differed from the instance's
	// previous job (the first job counts).
	ModelLoads int
	// Busy sums execution time (execution_start to the terminal event,
	// from history timestamps) of our prompts.
	Busy time.Duration
	// Down is how long the instance was considered down.
	Down time.Duration
	// Stolen counts prompts of ours that tail stealing deleted from this
	// instance's queue to run them elsewhere (counted in Prompts too).
	Stolen int
}

// Fleet runs jobs over several ComfyUI instances. It is safe for concurrent
// use; one Run at a time.
type Fleet struct {
	opts  Options
	log   *slog.Logger
	insts []*instance

	runMu sync.Mutex // one Run at a time

	mu       sync.Mutex
	tracked  map[string]*tracked // our prompts that may still be on a server, by prompt id
	draining bool
	drain    chan struct{}    // closed by Shutdown
	reported map[string]bool  // prompt ids reported cancelled
	givenUp  map[string]error // why Shutdown stopped waiting for a prompt, by id
	run      *runState        // the Run in progress, nil between runs
}

// NewFleet checks the instances and returns a Fleet. It does not contact
// the servers.
func NewFleet(instances []Instance, opts Options) (*Fleet, error) {
	if len(instances) == 0 {
		return nil, fmt.Errorf("fleet: no instances: %w", comfybatch.ErrInvalid)
	}
	if opts.HTTPClient == nil {
		// A server that accepts and never answers must not hold a slot
		// forever; downloads of large images fit well within a minute.
		opts.HTTPClient = &http.Client{Timeout: time.Minute}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 250 * time.Millisecond
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.GiveUpAfter <= 0 {
		opts.GiveUpAfter = 2 * time.Minute
	}
	if opts.MaxImageSide <= 0 {
		opts.MaxImageSide = DefaultMaxImageSide
	}
	f := &Fleet{opts: opts, log: opts.Logger, tracked: map[string]*tracked{}, drain: make(chan struct{})}
	seen := map[string]bool{}
	for _, in := range instances {
		if in.URL == "" {
			return nil, fmt.Errorf("fleet: instance %q has no URL: %w", in.Name, comfybatch.ErrInvalid)
		}
		if in.Name == "" {
			in.Name = in.URL
		}
		if seen[in.Name] {
			return nil, fmt.Errorf("fleet: instance name %q used twice: %w", in.Name, comfybatch.ErrInvalid)
		}
		seen[in.Name] = true
		if in.InFlight <= 0 {
			in.InFlight = 2
		}
		if in.Weight < 0 || math.IsNaN(in.Weight) || math.IsInf(in.Weight, 0) {
			return nil, fmt.Errorf("fleet: instance %q has weight %v; want a positive number (default 1): %w", in.Name, in.Weight, comfybatch.ErrInvalid)
		}
		if in.Weight == 0 {
			in.Weight = 1
		}
		f.insts = append(f.insts, newInstance(in, f))
	}
	return f, nil
}

// Stats returns what the fleet observed of each instance, in the order
// the instances were given.
func (f *Fleet) Stats() []InstanceStats {
	out := make([]InstanceStats, len(f.insts))
	for i, in := range f.insts {
		out[i] = in.stats()
	}
	return out
}

func (f *Fleet) emit(e Event) {
	if f.opts.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	f.opts.OnEvent(e)
}

// tracked is one of our prompts that may be on a server.
type tracked struct {
	in *instance
	a  Attempt
	// sent is false while POST /prompt is under way: the prompt may not
	// be in the queue yet, so its absence proves nothing.
	sent bool
	// collecting: the prompt finished and its image is being downloaded.
	collecting bool
}

func (f *Fleet) track(a Attempt, in *instance) {
	f.mu.Lock()
	f.tracked[a.PromptID] = &tracked{in: in, a: a}
	f.mu.Unlock()
}

// sent records that POST /prompt answered for a tracked prompt.
func (f *Fleet) sent(pid string) {
	f.mu.Lock()
	if t := f.tracked[pid]; t != nil {
		t.sent = true
	}
	f.mu.Unlock()
}

// collecting records that a tracked prompt finished and its image is
// being downloaded.
func (f *Fleet) collecting(pid string) {
	f.mu.Lock()
	if t := f.tracked[pid]; t != nil {
		t.collecting = true
	}
	f.mu.Unlock()
}

func (f *Fleet) untrack(pid string) {
	f.mu.Lock()
	delete(f.tracked, pid)
	f.mu.Unlock()
}

// noteGivenUp records why Shutdown stopped waiting for a prompt (deleted
// or interrupted when the grace period ended); its attempt's report says
// so.
func (f *Fleet) noteGivenUp(pid string, why error) {
	f.mu.Lock()
	if f.givenUp == nil {
		f.givenUp = map[string]error{}
	}
	f.givenUp[pid] = why
	f.mu.Unlock()
}

// reportCancelled emits EventCancelled once per prompt and stops
// tracking it: Shutdown left the attempt's job without a Result. When
// Shutdown gave the prompt up, its reason replaces err.
func (f *Fleet) reportCancelled(in *instance, a Attempt, err error) {
	if a.PromptID == "" {
		return
	}
	f.mu.Lock()
	delete(f.tracked, a.PromptID)
	if f.reported == nil {
		f.reported = map[string]bool{}
	}
	dup := f.reported[a.PromptID]
	f.reported[a.PromptID] = true
	if why := f.givenUp[a.PromptID]; why != nil {
		err = why
	}
	f.mu.Unlock()
	if dup {
		return
	}
	in.log.Info("prompt cancelled by shutdown", "job", a.JobKey, "prompt_id", a.PromptID, "attempt", a.Number, "err", err)
	f.emit(Event{Kind: EventCancelled, Instance: in.cfg.Name, JobKey: a.JobKey, PromptID: a.PromptID, Attempt: a.Number, Err: err})
}

func (f *Fleet) isDraining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining
}

// Shutdown is for Ctrl-C. It stops a running Run from submitting, deletes
// only our pending prompts from every instance's queue, lets our running
// prompts finish until ctx ends (a Run still in progress delivers their
// Results), then interrupts the ones still running. Every attempt it
// leaves without an image is reported with an EventCancelled; those jobs
// get no Result. Call it with a grace context, e.g.
// context.WithTimeout(context.WithoutCancel(ctx), grace). It returns when
// none of our prompts is left on any reachable server, or when ctx is done
// (then after the interrupts were sent).
func (f *Fleet) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	if !f.draining {
		f.draining = true
		close(f.drain)
	}
	f.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(f.insts))
	for i, in := range f.insts {
		wg.Go(func() { errs[i] = in.drainPrompts(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ours returns our tracked prompts on one instance, by prompt id.
func (f *Fleet) ours(in *instance) map[string]tracked {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]tracked{}
	for pid, t := range f.tracked {
		if t.in == in {
			out[pid] = *t
		}
	}
	return out
}

package comfytest

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// execError is a Python exception raised by a node at run time.
type execError struct {
	typ, msg  string
	traceback []string // the formatted traceback; nil means a generic one
}

func (e *execError) Error() string { return e.typ + ": " + e.msg }

// formatted is the execution_error traceback: the node's own, or one
// generic frame.
func (e *execError) formatted() []string {
	if e.traceback != nil {
		return e.traceback
	}
	return []string{"  File \"/srv/ComfyUI/execution.py\", line 496, in execute\n"}
}

var (
	errInterrupted = errors.New("interrupted")
	errAbandoned   = errors.New("abandoned by restart or close")
)

// worker is ComfyUI's prompt_worker: one prompt at a time. Owned by s.wg.
func (s *Server) worker() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.freeMemory {
			s.cache = map[string]*cacheEntry{}
			s.freeMemory = false
		}
		var t *task
		gen := s.gen
		if !s.closed && !s.faults.Down && len(s.queue) > 0 {
			t = heap.Pop(&s.queue).(*task)
			s.running = t
			// execute_async resets the interrupt flag at every prompt start (§3.5).
			s.interrupt = make(chan struct{})
			s.interrupted = false
			s.queueUpdatedLocked()
		}
		s.mu.Unlock()
		if t == nil {
			select {
			case <-s.ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		s.execute(t, gen)
		if d := s.opts.scaled(s.opts.PromptGap); d > 0 {
			// The worker's pause between prompts (§0.1 item 7): the next
			// prompt waits, and a queue cleared now never starts it.
			tm := time.NewTimer(d)
			select {
			case <-s.ctx.Done():
				tm.Stop()
				return
			case <-tm.C:
			}
		}
	}
}

// run is the state of one prompt's execution.
type run struct {
	s         *Server
	t         *task
	gen       int
	interrupt <-chan struct{}
	messages  []any                     // [event, data] pairs for history status.messages
	executed  []string                  // nodes that really executed
	progress  map[string]map[string]any // cumulative progress_state nodes
	values    map[string][]any          // node id -> output values of this run
	ui        map[string]map[string]any // node id -> UI dict of this run
	keys      map[string]string         // node id -> cache key
	debt      time.Duration             // sleep below timer granularity, carried over
	failNode  string                    // node that raises an injected fault
	failOOM   bool
}

func nowMS() int64 { return time.Now().UnixMilli() }

// emit sends a message unless the run was abandoned. sid "" broadcasts.
func (r *run) emit(typ string, data map[string]any, sid string) bool {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != r.gen {
		return false
	}
	s.sendLocked(typ, data, sid)
	return true
}

// addMessage is PromptExecutor.add_message: timestamped, recorded for history,
// sent to the client (or broadcast when the prompt has no client and
// broadcastWithoutClient, as for execution_interrupted).
func (r *run) addMessage(typ string, data map[string]any, broadcastWithoutClient bool) bool {
	data["timestamp"] = nowMS()
	r.messages = append(r.messages, []any{typ, data})
	switch {
	case r.t.clientID != "":
		return r.emit(typ, data, r.t.clientID)
	case broadcastWithoutClient:
		return r.emit(typ, data, "")
	}
	return r.alive()
}

func (r *run) alive() bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.s.gen == r.gen
}

// progressTarget is where progress and progress_state go: the client, or
// everyone when the prompt has none (§4.2).
func (r *run) progressTarget() string { return r.t.clientID }

// progressState records node id's state and sends the cumulative
// progress_state. Value and max keep their JSON kind as ComfyUI's do: a
// node starts at 0.0 of 1.0 (floats), a ProgressBar reports integers, and
// finishing sets value to max, whatever its kind (§0.1 item 4).
func (r *run) progressState(id, state string, value, max json.Number) bool {
	r.progress[id] = map[string]any{"value": value, "max": max, "state": state, "node_id": id, "prompt_id": r.t.id,
		"display_node_id": id, "parent_node_id": nil, "real_node_id": id}
	nodes := make(map[string]any, len(r.progress))
	for k, v := range r.progress {
		nodes[k] = maps.Clone(v)
	}
	return r.emit("progress_state", map[string]any{"prompt_id": r.t.id, "nodes": nodes}, r.progressTarget())
}

// sleep spends a simulated duration. Scaled durations below a millisecond are
// accumulated and slept in one go, because timers that short cost more than
// they simulate; progress messages are still sent for every step.
func (r *run) sleep(d time.Duration) error {
	s := r.s
	scaled := s.opts.scaled(d)
	s.mu.Lock()
	s.stats.Busy += scaled
	s.mu.Unlock()
	r.debt += scaled
	if r.debt < time.Millisecond {
		return r.check()
	}
	t := time.NewTimer(r.debt)
	defer t.Stop()
	r.debt = 0
	select {
	case <-t.C:
		return r.check()
	case <-r.interrupt:
		return r.check()
	case <-s.ctx.Done():
		return errAbandoned
	}
}

// check is throw_exception_if_processing_interrupted.
func (r *run) check() error {
	if !r.alive() {
		return errAbandoned
	}
	select {
	case <-r.interrupt:
		return errInterrupted
	default:
		return nil
	}
}

// execute runs one prompt and writes its history entry (§4.4, §5.3).
func (s *Server) execute(t *task, gen int) {
	s.mu.Lock()
	r := &run{s: s, t: t, gen: gen, interrupt: s.interrupt, progress: map[string]map[string]any{},
		values: map[string][]any{}, ui: map[string]map[string]any{}}
	u := s.rng.Float64()
	oom, execErr := s.faults.OOMRate, s.faults.ExecErrorRate
	if s.opts.CacheNone {
		s.cache = map[string]*cacheEntry{}
	}
	s.mu.Unlock()
	log := s.log.With("prompt_id", t.id)

	r.addMessage("execution_start", map[string]any{"prompt_id": t.id}, false)
	s.mu.Lock()
	t.started = true // POST /prompt may be waiting for it (ReplyAfterEvents)
	s.changedLocked()
	s.mu.Unlock()
	r.keys = cacheKeys(t.g, s.fingerprint)
	s.mu.Lock()
	if !s.opts.CacheNone { // classic cache: keep only entries the new prompt uses (§8)
		used := map[string]bool{}
		for _, k := range r.keys {
			used[k] = true
		}
		for k := range s.cache {
			if !used[k] {
				delete(s.cache, k)
			}
		}
	}
	cached := []string{}
	for _, id := range t.g.order {
		if s.cache[r.keys[id]] != nil {
			cached = append(cached, id)
		}
	}
	s.mu.Unlock()
	r.addMessage("execution_cached", map[string]any{"nodes": cached, "prompt_id": t.id}, false)

	steps := r.plan(cached)
	switch {
	case u < oom:
		r.failOOM = true
		r.failNode = pickFail(t.g, steps, "KSampler", "KSamplerAdvanced")
	case u < oom+execErr:
		r.failNode = pickFail(t.g, steps, "VAEDecode")
	}

	var err error
	var errNode string
	for _, st := range steps {
		if err = r.check(); err != nil {
			errNode = st.id
			break
		}
		if err = r.step(st); err != nil {
			errNode = st.id
			break
		}
	}
	if errors.Is(err, errAbandoned) {
		log.Debug("execution abandoned")
		return
	}
	outcome := "success"
	switch {
	case err == nil:
		r.addMessage("execution_success", map[string]any{"prompt_id": t.id}, false)
	case errors.Is(err, errInterrupted):
		outcome = "interrupted"
		r.addMessage("execution_interrupted", map[string]any{"prompt_id": t.id, "node_id": errNode,
			"node_type": t.g.class(errNode), "executed": r.executedSet()}, true)
	default:
		outcome = "error"
		var ee *execError
		if !errors.As(err, &ee) {
			ee = &execError{typ: "Exception", msg: err.Error()}
		}
		r.addMessage("execution_error", map[string]any{"prompt_id": t.id, "node_id": errNode,
			"node_type": t.g.class(errNode), "executed": r.executedSet(), "exception_message": ee.msg + "\n",
			"exception_type": ee.typ, "traceback": ee.formatted(), "current_inputs": r.currentInputs(errNode), "current_outputs": r.currentOutputs()}, false)
	}
	log.Debug("prompt finished", "outcome", outcome)
	if d := s.opts.scaled(s.opts.HistoryDelay); d > 0 {
		tm := time.NewTimer(d)
		select {
		case <-tm.C:
		case <-s.ctx.Done():
			tm.Stop()
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	s.stats.Prompts++
	switch outcome {
	case "success":
		s.stats.Succeeded++
	case "error":
		s.stats.Errors++
	case "interrupted":
		s.stats.Interrupted++
	}
	s.writeHistoryLocked(r, outcome == "success")
	s.running = nil
	s.runNode = ""
	s.queueUpdatedLocked()
	if t.clientID != "" {
		s.sendLocked("executing", map[string]any{"node": nil, "prompt_id": t.id}, t.clientID)
	}
	s.publishLocked(Event{Type: "history", Data: map[string]any{"prompt_id": t.id}})
}

func (s *Server) writeHistoryLocked(r *run, success bool) {
	t := r.t
	extra := maps.Clone(t.extra)
	delete(extra, "auth_token_comfy_org")
	delete(extra, "api_key_comfy_org")
	outputs, meta := map[string]any{}, map[string]any{}
	for _, id := range t.g.order {
		if ui := r.ui[id]; ui != nil {
			outputs[id] = ui
			meta[id] = map[string]any{"node_id": id, "display_node": id, "parent_node": nil, "real_node_id": id}
		}
	}
	statusStr := "success"
	if !success {
		statusStr = "error"
	}
	entry := deepCopy(map[string]any{
		"prompt":  []any{t.number, t.id, t.promptJSON(), extra, t.outputs},
		"outputs": outputs,
		"status":  map[string]any{"status_str": statusStr, "completed": success, "messages": r.messages},
		"meta":    meta,
	}).(map[string]any)
	if _, exists := s.history[t.id]; !exists {
		if len(s.histOrder) > maxHistory {
			delete(s.history, s.histOrder[0])
			s.histOrder = s.histOrder[1:]
		}
		s.histOrder = append(s.histOrder, t.id)
	}
	s.history[t.id] = entry
}

func (r *run) executedSet() []string { return slices.Clone(nonNil(r.executed)) }

// currentOutputs is every node of the prompt: ComfyUI lists the ids its
// output cache holds for the prompt, which is all of them (in set order;
// the simulator uses prompt order).
func (r *run) currentOutputs() []string { return slices.Clone(r.t.g.order) }

func (r *run) currentInputs(id string) map[string]any {
	out := map[string]any{}
	for name, v := range r.t.g.inputs(id) {
		if link, ok := v.([]any); ok && len(link) == 2 {
			src, _ := link[0].(string)
			idx := 0
			fmt.Sscan(fmt.Sprint(link[1]), &idx)
			if vals := r.values[src]; idx < len(vals) {
				out[name] = []any{fmt.Sprint(vals[idx])}
			}
			continue
		}
		switch v.(type) {
		case nil, bool, json.Number, float64, string:
			out[name] = []any{v}
		default:
			out[name] = []any{pyStr(v)}
		}
	}
	return out
}

type planStep struct {
	id     string
	cached bool
}

// plan orders the nodes to visit: a depth-first topological order from the
// outputs. A cached node is a leaf: its ancestors are not needed, and only
// cached output nodes get a step (to replay their UI).
func (r *run) plan(cached []string) []planStep {
	isCached := map[string]bool{}
	for _, id := range cached {
		isCached[id] = true
	}
	var steps []planStep
	seen := map[string]bool{}
	var visit func(id string, top bool)
	visit = func(id string, top bool) {
		if seen[id] {
			return
		}
		seen[id] = true
		if isCached[id] {
			if top {
				steps = append(steps, planStep{id, true})
			}
			return
		}
		def := r.s.classes[r.t.g.class(id)]
		for _, in := range def.inputs {
			if link, ok := r.t.g.inputs(id)[in.name].([]any); ok && len(link) == 2 {
				if src, ok := link[0].(string); ok {
					visit(src, false)
				}
			}
		}
		steps = append(steps, planStep{id, false})
	}
	for _, o := range r.t.outputs {
		visit(o, true)
	}
	return steps
}

// pickFail chooses where an injected fault happens: the first executed node
// of a preferred class, else the first executed node.
func pickFail(g *graph, steps []planStep, prefer ...string) string {
	first := ""
	for _, st := range steps {
		if st.cached {
			continue
		}
		if first == "" {
			first = st.id
		}
		if slices.Contains(prefer, g.class(st.id)) {
			return st.id
		}
	}
	return first
}

// step executes or replays one node.
func (r *run) step(st planStep) error {
	s, id := r.s, st.id
	if st.cached {
		s.mu.Lock()
		e := s.cache[r.keys[id]]
		s.mu.Unlock()
		var ui any
		if e != nil {
			r.values[id] = e.outputs
			if e.ui != nil {
				r.ui[id] = e.ui
				ui = e.ui
			}
		}
		if r.t.clientID != "" && !r.emit("executed", map[string]any{"node": id, "display_node": id, "output": ui, "prompt_id": r.t.id}, r.t.clientID) {
			return errAbandoned
		}
		// A cache hit was never started: its entry is created finished,
		// with integer 1 of 1.
		if !r.progressState(id, "finished", "1", "1") {
			return errAbandoned
		}
		return nil
	}
	if !r.progressState(id, "running", "0.0", "1.0") {
		return errAbandoned
	}
	s.mu.Lock()
	if s.gen == r.gen {
		s.runNode = id
	}
	s.mu.Unlock()
	if r.t.clientID != "" && !r.emit("executing", map[string]any{"node": id, "display_node": id, "prompt_id": r.t.id}, r.t.clientID) {
		return errAbandoned
	}
	def := s.classes[r.t.g.class(id)]
	in := map[string]any{}
	for name, v := range r.t.g.inputs(id) {
		if link, ok := v.([]any); ok && len(link) == 2 {
			src, _ := link[0].(string)
			idx := 0
			fmt.Sscan(fmt.Sprint(link[1]), &idx)
			vals := r.values[src]
			if vals == nil {
				s.mu.Lock()
				if e := s.cache[r.keys[src]]; e != nil {
					vals = e.outputs
					r.values[src] = vals
				}
				s.mu.Unlock()
			}
			if idx < len(vals) {
				in[name] = vals[idx]
			}
			continue
		}
		in[name] = v
	}
	if r.failNode == id {
		if r.failOOM {
			if err := r.sleep(s.opts.StepTime); err != nil {
				return err
			}
			return &execError{typ: "torch.OutOfMemoryError", msg: "Allocation on device 0 would exceed allowed memory. (out of memory)\nCurrently allocated     : 22.91 GiB\nRequested               : 2.50 GiB\nDevice limit            : 23.99 GiB\nFree (according to CUDA): 0 bytes\nPyTorch limit (set by user-supplied memory fraction)\n                        : 17179869184.00 GiB\nThis error means you ran out of memory on your GPU.\n\nTIPS: If the workflow worked before you might have accidentally set the batch_size to a large number."}
		}
		return &execError{typ: "RuntimeError", msg: "Given groups=1, weight of size [512, 4, 3, 3], expected input[1, 16, 64, 64] to have 4 channels, but got 16 channels instead"}
	}
	outs, ui, err := def.run(r, id, in)
	if err != nil {
		return err
	}
	r.executed = append(r.executed, id)
	r.values[id] = outs
	if ui != nil {
		r.ui[id] = ui
	}
	s.mu.Lock()
	if s.gen == r.gen {
		s.cache[r.keys[id]] = &cacheEntry{outputs: outs, ui: ui}
	}
	s.mu.Unlock()
	if ui != nil && r.t.clientID != "" && !r.emit("executed", map[string]any{"node": id, "display_node": id, "output": ui, "prompt_id": r.t.id}, r.t.clientID) {
		return errAbandoned
	}
	last, _ := r.progress[id]["max"].(json.Number)
	if !r.progressState(id, "finished", last, last) {
		return errAbandoned
	}
	return nil
}

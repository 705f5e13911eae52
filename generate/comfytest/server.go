package comfytest

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Server is one simulated ComfyUI instance. It is an http.Handler; serve it
// with httptest.NewServer or use a Fleet. Safe for concurrent use.
type Server struct {
	opts    Options
	prof    profile // what differs between the versions (Options.Version)
	log     *slog.Logger
	classes map[string]*nodeDef
	order   []*nodeDef
	mux     *http.ServeMux

	outDir, inDir, tempDir string
	ownDirs                []string

	ctx    context.Context // cancelled by Close; stops the worker and the fault loop
	cancel context.CancelFunc
	wg     sync.WaitGroup // the worker, the fault loop, every websocket goroutine
	wake   chan struct{}  // nudges the worker (queue put, Down cleared)

	mu          sync.Mutex
	closed      bool
	gen         int // bumped by Restart: an execution of an older generation is abandoned silently
	counter     int
	queue       promptHeap
	running     *task
	runNode     string        // node currently executing, for the reconnect replay
	interrupt   chan struct{} // closed by POST /interrupt or Restart; replaced at each prompt start
	interrupted bool
	freeMemory  bool
	history     map[string]map[string]any
	histOrder   []string
	cache       map[string]*cacheEntry
	renders     *renderCache // Options.RenderCache; survives Restart (it is only CPU time)
	loadedCkpt  string
	sockets     map[string]*wsConn // sid -> socket receiving events for that sid
	conns       map[*wsConn]bool   // every open socket
	nextConn    int                // serial of the newest socket
	lastCreate  int64              // the last extra_data.create_time given (Version080)
	faults      Faults
	faultsSet   chan struct{} // closed and replaced by SetFaults; wakes the fault loop
	rng         *rand.Rand
	stats       Stats
	subs        map[int]chan Event
	nextSub     int
	changed     chan struct{} // closed and replaced on every queue/history change
}

// New returns a Server with its worker running. Close it when done.
func New(opts Options) (*Server, error) {
	opts = opts.withDefaults()
	prof, err := profileOf(opts.Version)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      opts,
		prof:      prof,
		log:       opts.Logger,
		classes:   map[string]*nodeDef{},
		wake:      make(chan struct{}, 1),
		interrupt: make(chan struct{}),
		history:   map[string]map[string]any{},
		cache:     map[string]*cacheEntry{},
		sockets:   map[string]*wsConn{},
		conns:     map[*wsConn]bool{},
		faultsSet: make(chan struct{}),
		rng:       rand.New(rand.NewPCG(0, 0)),
		subs:      map[int]chan Event{},
		changed:   make(chan struct{}),
		renders:   newRenderCache(opts.RenderCache),
	}
	for _, d := range catalogue(prof) {
		s.classes[d.name] = d
		s.order = append(s.order, d)
	}
	mk := func(dir *string, given, pattern string) {
		if err != nil {
			return
		}
		if given != "" {
			*dir = given
			err = os.MkdirAll(given, 0o755)
			return
		}
		*dir, err = os.MkdirTemp("", pattern)
		if err == nil {
			s.ownDirs = append(s.ownDirs, *dir)
		}
	}
	mk(&s.outDir, opts.OutputDir, "comfytest-output-*")
	mk(&s.inDir, opts.InputDir, "comfytest-input-*")
	mk(&s.tempDir, "", "comfytest-temp-*")
	if err != nil {
		s.removeDirs()
		return nil, fmt.Errorf("create simulator folders: %w", err)
	}
	s.routes()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.worker()
	go s.faultLoop()
	return s, nil
}

// OutputDir is the folder SaveImage writes to.
func (s *Server) OutputDir() string { return s.outDir }

// InputDir is the folder uploads and LoadImage use.
func (s *Server) InputDir() string { return s.inDir }

// TempDir is the folder PreviewImage writes to; Restart wipes it.
func (s *Server) TempDir() string { return s.tempDir }

func (s *Server) removeDirs() {
	for _, d := range s.ownDirs {
		os.RemoveAll(d)
	}
}

// Close stops the worker, closes every websocket, waits for every goroutine
// the Server started and removes the folders it created. Requests after
// Close are answered 503.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.gen++
	s.signalInterrupt()
	s.dropSocketsLocked()
	s.changedLocked() // wakes POST /prompt handlers waiting in awaitStart
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	for id, ch := range s.subs {
		close(ch)
		delete(s.subs, id)
	}
	s.mu.Unlock()
	s.removeDirs()
	return nil
}

// CloseWebSockets closes every open websocket without stopping the server,
// as a network blip would.
func (s *Server) CloseWebSockets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropSocketsLocked()
}

// Restart simulates a process restart: the queue, the running prompt (which
// ends without any further event), history and caches are forgotten, the
// queue counter goes back to 0, every socket is dropped and the temp folder is
// wiped. Output and input folders are kept.
func (s *Server) Restart() {
	s.mu.Lock()
	s.gen++
	s.queue = nil
	s.running = nil
	s.runNode = ""
	s.counter = 0
	s.history = map[string]map[string]any{}
	s.histOrder = nil
	s.cache = map[string]*cacheEntry{}
	s.loadedCkpt = ""
	s.signalInterrupt()
	s.dropSocketsLocked()
	s.changedLocked()
	s.mu.Unlock()
	if entries, err := os.ReadDir(s.tempDir); err == nil {
		for _, e := range entries {
			os.RemoveAll(filepath.Join(s.tempDir, e.Name()))
		}
	}
	s.log.Debug("restarted")
}

// SetFaults replaces the injected faults. Safe to call at any time.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9e3779b97f4a7c15))
	if f.Down {
		s.dropSocketsLocked()
	}
	close(s.faultsSet)
	s.faultsSet = make(chan struct{})
	s.mu.Unlock()
	s.nudge()
}

// Stats returns the counters since New.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// signalInterrupt sets the global interrupt flag. Callers hold s.mu.
func (s *Server) signalInterrupt() {
	if !s.interrupted {
		s.interrupted = true
		close(s.interrupt)
	}
}

// faultLoop drops every websocket each Faults.WSDropEvery. Owned by s.wg.
func (s *Server) faultLoop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		every, changed := s.faults.WSDropEvery, s.faultsSet
		s.mu.Unlock()
		var tick <-chan time.Time
		var t *time.Timer
		if every > 0 {
			t = time.NewTimer(every)
			tick = t.C
		}
		select {
		case <-s.ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-changed:
		case <-tick:
			s.CloseWebSockets()
		}
		if t != nil {
			t.Stop()
		}
	}
}

// ServeHTTP answers every ComfyUI route, bare and under /api.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closed, f := s.closed, s.faults
	fail500 := !closed && !f.Down && f.HTTP500Rate > 0 && s.rng.Float64() < f.HTTP500Rate
	truncate := !closed && !f.Down && f.ViewTruncateRate > 0 && isView(r) && s.rng.Float64() < f.ViewTruncateRate
	lose := !closed && !f.Down && f.LostReplyRate > 0 && isSubmit(r) && s.rng.Float64() < f.LostReplyRate
	s.mu.Unlock()
	switch {
	case closed || f.Down:
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	case !authorized(w, r, f.AuthToken):
		return
	case fail500:
		serverError(w)
		return
	case !originOK(r):
		emptyResponse(w, http.StatusForbidden)
		return
	case r.Method == http.MethodOptions:
		emptyResponse(w, http.StatusOK) // the origin middleware answers OPTIONS itself (§1.1)
		return
	case truncate:
		serveTruncated(s.mux, w, r)
		return
	case lose:
		serveLost(s.mux, w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// originOK is ComfyUI's origin check (§1.1): only requests that carry both
// Host and Origin, with a loopback Host, must have matching host and origin.
func originOK(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Host == "" {
		return true
	}
	host, hostPort := splitHostPort(r.Host)
	if !isLoopback(host) {
		return true
	}
	o := origin
	if i := strings.Index(o, "://"); i >= 0 {
		o = o[i+3:]
	}
	o = strings.ToLower(strings.TrimSuffix(o, "/"))
	oHost, oPort := splitHostPort(o)
	if oPort == "" || hostPort == "" {
		return strings.EqualFold(host, oHost)
	}
	return strings.EqualFold(r.Host, o)
}

func splitHostPort(hp string) (host, port string) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return strings.Trim(hp, "[]"), ""
	}
	return h, p
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// queueRemaining is pending + running. Callers hold s.mu.
func (s *Server) queueRemaining() int {
	n := len(s.queue)
	if s.running != nil {
		n++
	}
	return n
}

func (s *Server) statusData() map[string]any {
	return map[string]any{"status": map[string]any{"exec_info": map[string]any{"queue_remaining": s.queueRemaining()}}}
}

// queueUpdatedLocked broadcasts status, as server.queue_updated does.
func (s *Server) queueUpdatedLocked() {
	s.sendLocked("status", s.statusData(), "")
	s.changedLocked()
}

func (s *Server) put(t *task) {
	heap.Push(&s.queue, t)
	s.queueUpdatedLocked()
}

package scoretest

import (
	"encoding/json"
	"image"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Down says how an unavailable server fails its requests.
type Down int

const (
	// Up serves requests.
	Up Down = iota
	// Unavailable answers every request 503, with Retry-After when
	// Faults.RetryAfter is set: a server that is up but cannot serve.
	Unavailable
	// Reset resets every connection without an answer, as a client sees a
	// server process that died (or a port nothing listens on any more).
	Reset
)

// Faults are the failures a fake injects. The zero value is a healthy
// server. Counters (DownAfter, FailNext, RateLimited) count from the moment
// the faults were set.
type Faults struct {
	// Down makes the server unavailable.
	Down Down
	// DownAfter, when positive, holds Down off until this many images have
	// been answered, so a test can let a run start and then lose its
	// scorer mid-run. Every image counts, the one score.CLIP's Check
	// embeds before a run included.
	DownAfter int
	// FailNext answers the next FailNext requests 503.
	FailNext int
	// RateLimited answers the next RateLimited requests 429.
	RateLimited int
	// RetryAfter is sent as Retry-After (whole seconds, rounded up) with
	// every 429 and 503; 0 sends none.
	RetryAfter time.Duration
	// Token, when set, must arrive as "Authorization: Bearer <Token>";
	// otherwise the server answers 401.
	Token string
	// Reject, when set, is asked about every image; when it returns true
	// the request carrying the image is answered with the fake's per-image
	// refusal (400 from cliptest, 422 from Server), naming the image.
	Reject func(image.Image) bool
	// Malformed makes every successful answer truncated JSON.
	Malformed bool
	// Delay is added to every request; the request's context cuts it
	// short.
	Delay time.Duration
}

// Injector applies Faults to the requests of one fake server. Create it
// with NewInjector; it is safe for concurrent use.
type Injector struct {
	mu      sync.Mutex
	f       Faults
	images  int // answered since the faults were set
	failed  int // 503s from FailNext since then
	limited int // 429s from RateLimited since then
}

// NewInjector returns an Injector applying f.
func NewInjector(f Faults) *Injector { return &Injector{f: f} }

// Set replaces the faults and restarts their counters.
func (in *Injector) Set(f Faults) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.f, in.images, in.failed, in.limited = f, 0, 0, 0
}

// Faults returns the faults in force.
func (in *Injector) Faults() Faults {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.f
}

// Intercept applies the faults decided before a request's body is read
// (Down, Token). It reports whether it answered the request, in which case
// the handler must return.
func (in *Injector) Intercept(w http.ResponseWriter, r *http.Request) bool {
	in.mu.Lock()
	f := in.f
	down := f.Down != Up && in.images >= f.DownAfter
	in.mu.Unlock()
	if down {
		if f.Down == Reset {
			reset(w)
			return true
		}
		Error(w, http.StatusServiceUnavailable, "down", f.RetryAfter)
		return true
	}
	if f.Token != "" && r.Header.Get("Authorization") != "Bearer "+f.Token {
		Error(w, http.StatusUnauthorized, "missing or wrong bearer token", 0)
		return true
	}
	return false
}

// Throttle applies the faults decided once the body has been read (Delay,
// RateLimited, FailNext). It reports whether it answered the request (or
// the client went away), in which case the handler must return.
func (in *Injector) Throttle(w http.ResponseWriter, r *http.Request) bool {
	f := in.Faults()
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	in.mu.Lock()
	limit := in.limited < f.RateLimited
	if limit {
		in.limited++
	}
	fail := !limit && in.failed < f.FailNext
	if fail {
		in.failed++
	}
	in.mu.Unlock()
	switch {
	case limit:
		Error(w, http.StatusTooManyRequests, "slow down", f.RetryAfter)
		return true
	case fail:
		Error(w, http.StatusServiceUnavailable, "warming up", f.RetryAfter)
		return true
	}
	return false
}

// Rejects reports whether Faults.Reject refuses img.
func (in *Injector) Rejects(img image.Image) bool {
	f := in.Faults()
	return f.Reject != nil && f.Reject(img)
}

// Answered counts n images answered (for DownAfter) and reports whether the
// answer must be malformed.
func (in *Injector) Answered(n int) (malformed bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.images += n
	return in.f.Malformed
}

// Error writes a JSON error answer {"error": msg} with code, and a
// Retry-After header when retryAfter is positive.
func Error(w http.ResponseWriter, code int, msg string, retryAfter time.Duration) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// reset drops the connection without an answer: with a TCP reset when the
// connection can be taken over, otherwise by aborting the handler, which
// net/http turns into a closed connection.
func reset(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // close sends RST, not FIN
			}
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

package cliptest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/comfybatch/comfybatch/score/scoretest"
)

// Options configures a Server. The zero value is a healthy 64-dimensional
// server with no faults.
type Options struct {
	// Dim is the embedding dimension; default 64, at least 16.
	Dim int
	// MaxBatch, when positive, is the most inputs one request may carry;
	// more gets 413.
	MaxBatch int
	// Faults are the failures it starts with; SetFaults changes them. A
	// rejected image gets 400 naming its input.
	Faults scoretest.Faults
}

// Server is the fake embeddings server. Create it with New.
type Server struct {
	opts   Options
	space  space
	faults *scoretest.Injector

	requests      atomic.Int64
	imageRequests atomic.Int64
	textRequests  atomic.Int64
	images        atomic.Int64
	texts         atomic.Int64
	maxImages     atomic.Int64
}

// New returns a Server with the given options.
func New(opts Options) *Server {
	if opts.Dim < featureCount {
		opts.Dim = 64
	}
	return &Server{opts: opts, space: newSpace(opts.Dim), faults: scoretest.NewInjector(opts.Faults)}
}

// SetFaults replaces the server's faults while it serves: for example
// SetFaults(scoretest.Faults{Down: scoretest.Reset}) takes it down and
// SetFaults(scoretest.Faults{}) brings it back.
func (s *Server) SetFaults(f scoretest.Faults) { s.faults.Set(f) }

// Start serves s on a loopback address and returns the test server and its
// base URL. The caller closes the test server.
func (s *Server) Start() (*httptest.Server, string) {
	ts := httptest.NewServer(s)
	return ts, ts.URL
}

// Stats counts what the server has received.
type Stats struct {
	Requests      int // every request, faulty ones included
	ImageRequests int // requests that carried images and were answered
	TextRequests  int // requests that carried texts and were answered
	Images        int // images embedded
	Texts         int // texts embedded
	MaxImages     int // most images in one answered request
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:      int(s.requests.Load()),
		ImageRequests: int(s.imageRequests.Load()),
		TextRequests:  int(s.textRequests.Load()),
		Images:        int(s.images.Load()),
		Texts:         int(s.texts.Load()),
		MaxImages:     int(s.maxImages.Load()),
	}
}

// input is one thing to embed: a text or an image given as a data URI.
type input struct {
	text    string
	dataURI string
	isImage bool
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.faults.Intercept(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		httpError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	// Read the body before waiting: only then does net/http watch the
	// connection and cancel r.Context() when the client gives up.
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<30))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if s.faults.Throttle(w, r) {
		return
	}
	var d dialect
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/v1/embeddings", "/embeddings":
		d = openAI{}
	case "/post":
		d = jina{}
	default:
		httpError(w, http.StatusNotFound, "no such endpoint "+r.URL.Path)
		return
	}
	inputs, err := d.parse(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(inputs) == 0 {
		httpError(w, http.StatusBadRequest, "no inputs")
		return
	}
	if s.opts.MaxBatch > 0 && len(inputs) > s.opts.MaxBatch {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%d inputs, at most %d per request", len(inputs), s.opts.MaxBatch))
		return
	}
	embs := make([][]float64, len(inputs))
	var nImg, nTxt int64
	for i, in := range inputs {
		if in.isImage {
			img, err := decodeDataURI(in.dataURI)
			if err != nil {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("input %d: %v", i, err))
				return
			}
			if s.faults.Rejects(img) {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("input %d: image rejected", i))
				return
			}
			embs[i] = s.space.project(imageFeatures(img))
			nImg++
		} else {
			embs[i] = s.space.text(in.text)
			nTxt++
		}
	}
	if nImg > 0 {
		s.imageRequests.Add(1)
		s.images.Add(nImg)
		for {
			m := s.maxImages.Load()
			if nImg <= m || s.maxImages.CompareAndSwap(m, nImg) {
				break
			}
		}
	}
	if nTxt > 0 {
		s.textRequests.Add(1)
		s.texts.Add(nTxt)
	}
	out, err := json.Marshal(d.answer(embs))
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.faults.Answered(int(nImg)) {
		out = out[:len(out)/2]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func httpError(w http.ResponseWriter, code int, msg string) { scoretest.Error(w, code, msg, 0) }

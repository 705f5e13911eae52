package scoretest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // candidates may be JPEG
	_ "image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
)

// Options configures a Server. The zero value is a healthy server that
// answers an image's width.
type Options struct {
	// Field names the image's form part or JSON key; default "image".
	Field string
	// Value computes the number answered for an image and the job's
	// params; default: the image's width.
	Value func(img image.Image, params map[string]any) float64
	// Faults are the failures it starts with; SetFaults changes them.
	Faults Faults
}

// Server fakes a generic HTTP scoring service, the kind score.HTTP posts
// to: POST an image as multipart/form-data (a file part named Field and a
// "params" part holding the job's params as JSON) or as JSON ({Field:
// base64 image, "params": {...}}), and get back {"score": value, "params":
// the params received}. A GET answers 405, as a POST-only service does.
// Create it with NewServer; it is an http.Handler.
type Server struct {
	opts   Options
	faults *Injector

	requests atomic.Int64
	images   atomic.Int64
}

// NewServer returns a Server with the given options.
func NewServer(o Options) *Server {
	if o.Field == "" {
		o.Field = "image"
	}
	if o.Value == nil {
		o.Value = func(img image.Image, _ map[string]any) float64 { return float64(img.Bounds().Dx()) }
	}
	return &Server{opts: o, faults: NewInjector(o.Faults)}
}

// Start serves s on a loopback address and returns the test server and its
// base URL. The caller closes the test server.
func (s *Server) Start() (*httptest.Server, string) {
	ts := httptest.NewServer(s)
	return ts, ts.URL
}

// SetFaults replaces the server's faults while it serves.
func (s *Server) SetFaults(f Faults) { s.faults.Set(f) }

// Stats counts what the server has received.
type Stats struct {
	Requests int // every request, faulty ones included
	Images   int // images scored
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Requests: int(s.requests.Load()), Images: int(s.images.Load())}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.faults.Intercept(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		Error(w, http.StatusMethodNotAllowed, "POST only", 0)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		Error(w, http.StatusBadRequest, "read body: "+err.Error(), 0)
		return
	}
	if s.faults.Throttle(w, r) {
		return
	}
	data, params, err := s.parse(r.Header.Get("Content-Type"), body)
	if err != nil {
		Error(w, http.StatusBadRequest, err.Error(), 0)
		return
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		Error(w, http.StatusUnprocessableEntity, "not an image: "+err.Error(), 0)
		return
	}
	if s.faults.Rejects(img) {
		Error(w, http.StatusUnprocessableEntity, "image rejected", 0)
		return
	}
	out, err := json.Marshal(map[string]any{"score": s.opts.Value(img, params), "params": params})
	if err != nil {
		Error(w, http.StatusInternalServerError, err.Error(), 0)
		return
	}
	s.images.Add(1)
	if s.faults.Answered(1) {
		out = out[:len(out)/2]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// parse reads the image bytes and params of a multipart or JSON request.
func (s *Server) parse(ctype string, body []byte) ([]byte, map[string]any, error) {
	var params map[string]any
	if strings.HasPrefix(ctype, "multipart/") {
		r, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		r.Header.Set("Content-Type", ctype)
		f, _, err := r.FormFile(s.opts.Field)
		if err != nil {
			return nil, nil, fmt.Errorf("form part %q: %v", s.opts.Field, err)
		}
		defer f.Close()
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, nil, err
		}
		if p := r.FormValue("params"); p != "" {
			if err := json.Unmarshal([]byte(p), &params); err != nil {
				return nil, nil, fmt.Errorf("params: %v", err)
			}
		}
		return data, params, nil
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, fmt.Errorf("bad json: %v", err)
	}
	var b64 string
	if err := json.Unmarshal(req[s.opts.Field], &b64); err != nil {
		return nil, nil, fmt.Errorf("key %q must hold the base64 image", s.opts.Field)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, nil, fmt.Errorf("key %q: %v", s.opts.Field, err)
	}
	if p, ok := req["params"]; ok {
		if err := json.Unmarshal(p, &params); err != nil {
			return nil, nil, fmt.Errorf("params: %v", err)
		}
	}
	return data, params, nil
}

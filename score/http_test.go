package score

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
)

// widthServer answers with the posted image's width, after failing the
// first fail requests with 503.
func widthServer(t *testing.T, fail int32) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n <= fail {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Extra") != "1" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		var data []byte
		var params map[string]any
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			f, _, err := r.FormFile("img")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			data, _ = io.ReadAll(f)
			json.Unmarshal([]byte(r.FormValue("params")), &params)
		} else {
			var body struct {
				Img    string         `json:"img"`
				Params map[string]any `json:"params"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			data, _ = base64.StdEncoding.DecodeString(body.Img)
			params = body.Params
		}
		img, err := Decode(data, Limits{})
		if err != nil || params["prompt"] != "a fox" {
			http.Error(w, fmt.Sprintf("bad image or params: %v %v", err, params), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"result":{"scores":[{"v":%d},{"v":"%d.5"}]}}`, img.Bounds().Dx(), img.Bounds().Dx())
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestHTTP(t *testing.T) {
	cand := promptCandidate(t, "a fox", randomImage(37, 20, 1))
	hdr := http.Header{"X-Extra": {"1"}}
	for _, tt := range []struct {
		mode, path string
		want       float64
	}{
		{"", "result.scores.0.v", 37},
		{"multipart", "result.scores.1.v", 37.5},
		{"json", "result.scores.0.v", 37},
	} {
		srv, _ := widthServer(t, 0)
		h := &HTTP{URL: srv.URL, Mode: tt.mode, Field: "img", Path: tt.path, Token: "tok", Header: hdr}
		sc, err := h.Score(t.Context(), cand)
		if err != nil || sc.Scorer != "http" || sc.Metrics["value"] != tt.want {
			t.Errorf("HTTP mode %q path %q = %+v, %v; want value %v", tt.mode, tt.path, sc, err, tt.want)
		}
	}
	t.Run("retries 503", func(t *testing.T) {
		srv, calls := widthServer(t, 2)
		h := &HTTP{URL: srv.URL, Field: "img", Path: "result.scores.0.v", Token: "tok", Header: hdr, Backoff: time.Millisecond}
		if sc, err := h.Score(t.Context(), cand); err != nil || sc.Metrics["value"] != 37 || calls.Load() != 3 {
			t.Errorf("Score = %+v, %v after %d calls; want 37 after 3", sc, err, calls.Load())
		}
	})
	t.Run("4xx not retried", func(t *testing.T) {
		srv, calls := widthServer(t, 0)
		h := &HTTP{URL: srv.URL, Field: "img", Path: "result.scores.0.v", Backoff: time.Millisecond}
		_, err := h.Score(t.Context(), cand)
		if se, ok := errors.AsType[*StatusError](err); !ok || se.Code != 401 || calls.Load() != 1 {
			t.Errorf("Score without token = %v after %d calls; want one 401", err, calls.Load())
		}
	})
	for _, path := range []string{"result.nope", "result.scores.5.v", "result.scores.x", "result"} {
		srv, _ := widthServer(t, 0)
		h := &HTTP{URL: srv.URL, Field: "img", Path: path, Token: "tok", Header: hdr}
		if _, err := h.Score(t.Context(), cand); err == nil || !strings.Contains(err.Error(), "path") {
			t.Errorf("path %q: %v; want a path error", path, err)
		}
	}
	if _, err := (&HTTP{URL: "http://x", Mode: "xml"}).Score(t.Context(), cand); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("mode xml: %v; want ErrInvalid", err)
	}
}

func TestJSONPath(t *testing.T) {
	var doc any
	dec := json.NewDecoder(strings.NewReader(`{"a":[1,{"b":"2.5"}],"c":true}`))
	dec.UseNumber()
	dec.Decode(&doc)
	if v, err := jsonPath(doc, "a.1.b"); err != nil || v != 2.5 {
		t.Errorf("a.1.b = %v, %v; want 2.5", v, err)
	}
	if _, err := jsonPath(doc, "c"); err == nil {
		t.Error("c (a bool) = nil error; want not a number")
	}
	var top any = json.Number("0.25")
	if v, err := jsonPath(top, ""); err != nil || v != 0.25 {
		t.Errorf("empty path on a number = %v, %v; want 0.25", v, err)
	}
}

// TestHTTPCheck: a server that answers (even 405 to a GET) passes; a 404,
// refused credentials or no server at all fail, naming the URL.
func TestHTTPCheck(t *testing.T) {
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/score":
			w.WriteHeader(http.StatusMethodNotAllowed)
		case "/private":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if err := (&HTTP{URL: srv.URL + "/score", Token: "s3cret"}).Check(t.Context()); err != nil {
		t.Errorf("POST-only endpoint: %v, want nil", err)
	}
	if gotAuth != "Bearer s3cret" {
		t.Errorf("check sent Authorization %q, want the bearer token", gotAuth)
	}
	for _, tc := range []struct{ url, want string }{
		{srv.URL + "/nothing", "404"},
		{srv.URL + "/private", "credentials"},
		{"http://127.0.0.1:1/score", "unreachable"},
	} {
		err := (&HTTP{Name: "aes", URL: tc.url}).Check(t.Context())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.url) {
			t.Errorf("Check(%s) = %v, want an error saying %q and naming the URL", tc.url, err, tc.want)
		}
	}
}

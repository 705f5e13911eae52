package score

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

// class names how a scorer error must be read: ok (no error), outage (the
// candidate waits for the scorer) or verdict (the candidate is rejected).
type class int

const (
	isOK class = iota
	isOutage
	isVerdict
)

func (c class) String() string { return [...]string{"ok", "outage", "verdict"}[c] }

// classOf reads an error the way the pipeline must.
func classOf(err error) class {
	switch {
	case err == nil:
		return isOK
	case errors.Is(err, comfybatch.ErrOutage):
		return isOutage
	}
	return isVerdict
}

// closedURL returns the URL of a port nothing listens on any more.
func closedURL(t *testing.T) string {
	ts := httptest.NewServer(http.NotFoundHandler())
	ts.Close()
	return ts.URL
}

// reddish rejects images whose top-left pixel is more red than blue.
func reddish(img image.Image) bool {
	r, _, b, _ := img.At(0, 0).RGBA()
	return r > b
}

// TestCLIPErrorClasses: every way a CLIP server can fail, in each
// protocol, is either an outage or a verdict, and the message says what to
// do when that is clear.
func TestCLIPErrorClasses(t *testing.T) {
	tests := []struct {
		name   string
		faults scoretest.Faults
		opts   func(*CLIPOptions)
		cand   func(comfybatch.Candidate) comfybatch.Candidate
		want   class
		msg    string // the message contains this
	}{
		{name: "healthy", want: isOK},
		{name: "connection reset", faults: scoretest.Faults{Down: scoretest.Reset}, want: isOutage, msg: "unreachable"},
		{name: "unavailable", faults: scoretest.Faults{Down: scoretest.Unavailable}, want: isOutage, msg: "503"},
		{name: "rate limited", faults: scoretest.Faults{RateLimited: 9, RetryAfter: time.Minute}, want: isOutage, msg: "429"},
		{name: "token missing", faults: scoretest.Faults{Token: "s3cret"}, want: isOutage, msg: "set token_env"},
		{name: "token refused", faults: scoretest.Faults{Token: "s3cret"},
			opts: func(o *CLIPOptions) { o.Token, o.TokenEnv = "nope", "CLIP_TOKEN" }, want: isOutage, msg: "set CLIP_TOKEN to a valid token"},
		{name: "malformed answer", faults: scoretest.Faults{Malformed: true}, want: isOutage, msg: "malformed answer"},
		{name: "timeout", faults: scoretest.Faults{Delay: time.Minute}, opts: func(o *CLIPOptions) { o.Timeout = 20 * time.Millisecond },
			want: isOutage, msg: "no answer within 20ms"},
		{name: "wrong path", opts: func(o *CLIPOptions) { o.URL += "/v2/nothing" }, want: isOutage, msg: "check the scorer's url"},
		{name: "nothing listening", opts: func(o *CLIPOptions) { o.URL = closedURL(t) }, want: isOutage, msg: "unreachable"},
		{name: "image rejected", faults: scoretest.Faults{Reject: reddish}, want: isVerdict, msg: "400"},
		{name: "template param missing", cand: func(c comfybatch.Candidate) comfybatch.Candidate {
			c.Job.Params = c.Job.Params[1:]
			return c
		}, want: isVerdict, msg: `no param "prompt"`},
	}
	for _, proto := range []string{ProtocolInfinity, ProtocolVLLM, ProtocolCLIPAsService} {
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				_, url := startFake(t, cliptest.Options{Faults: tt.faults})
				o := CLIPOptions{URL: url, Protocol: proto, Retries: -1}
				if tt.opts != nil {
					tt.opts(&o)
				}
				cand := promptCandidate(t, "a red fox", solid(red))
				if tt.cand != nil {
					cand = tt.cand(cand)
				}
				_, err := newCLIP(t, o).Score(t.Context(), cand)
				if got := classOf(err); got != tt.want || (err != nil && !strings.Contains(err.Error(), tt.msg)) {
					t.Errorf("Score = %v (%s); want %s mentioning %q", err, got, tt.want, tt.msg)
				}
			})
		}
	}
}

// TestCLIPVerdictInBatch: a server refusing one image of a batch refuses
// the whole request; the scorer splits it until the verdict falls on the
// refused images alone.
func TestCLIPVerdictInBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := cliptest.New(cliptest.Options{Faults: scoretest.Faults{Reject: reddish}})
		c := newCLIP(t, CLIPOptions{URL: "http://clip.test", MaxBatch: 8, Linger: time.Second, Retries: -1,
			HTTPClient: &http.Client{Transport: inProcess{fake}}})
		// scoreConcurrently colours image i with red 20*i and blue 50:
		// images 3 to 7 are reddish.
		res := scoreConcurrently(t, c, 8, func(int) string { return "a fox" })
		for i, r := range res {
			want := isOK
			if 20*i > 50 {
				want = isVerdict
			}
			if got := classOf(r.err); got != want {
				t.Errorf("image %d: %v (%s), want %s", i, r.err, got, want)
			}
		}
		if st := fake.Stats(); st.Images != 3 {
			t.Errorf("server embedded %d images, want the 3 it accepts", st.Images)
		}
	})
}

// TestRetryAfter: a 429's Retry-After is waited out when it is short and
// returned at once when it is long (the caller handles the outage).
func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		after    time.Duration
		want     class
		requests int
		waited   time.Duration
	}{
		{5 * time.Second, isOK, 3 + 1, 10 * time.Second}, // two 429s, then the text; then the image
		{time.Minute, isOutage, 1, 0},
	} {
		t.Run(tt.after.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := cliptest.New(cliptest.Options{Faults: scoretest.Faults{RateLimited: 2, RetryAfter: tt.after}})
				c := newCLIP(t, CLIPOptions{URL: "http://clip.test", Retries: 3, Backoff: time.Millisecond,
					HTTPClient: &http.Client{Transport: inProcess{fake}}})
				start := time.Now()
				_, err := c.Score(t.Context(), promptCandidate(t, "x", solid(red)))
				if got := classOf(err); got != tt.want {
					t.Errorf("Score = %v (%s), want %s", err, got, tt.want)
				}
				if se, ok := errors.AsType[*StatusError](err); err != nil && (!ok || se.RetryAfter != tt.after) {
					t.Errorf("error %v carries Retry-After %v, want %v", err, se, tt.after)
				}
				if n := fake.Stats().Requests; n != tt.requests {
					t.Errorf("%d requests, want %d", n, tt.requests)
				}
				if d := time.Since(start); d < tt.waited || d > tt.waited+time.Second {
					t.Errorf("took %v, want about %v", d, tt.waited)
				}
			})
		})
	}
	if d := retryAfter(time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat), time.Now()); d < 88*time.Second || d > 90*time.Second {
		t.Errorf("retryAfter(HTTP date in 90s) = %v", d)
	}
	if d := retryAfter("soon", time.Now()); d != 0 {
		t.Errorf("retryAfter(soon) = %v, want 0", d)
	}
}

// TestCLIPCheckClasses: before a run, a server that is down or overloaded
// is an outage, and one that refuses the scorer's requests is a
// configuration error naming what to fix.
func TestCLIPCheckClasses(t *testing.T) {
	t.Setenv("CLIP_TOKEN", "nope")
	tests := []struct {
		name   string
		faults scoretest.Faults
		opts   func(*CLIPOptions)
		want   error // nil, ErrOutage or ErrInvalid
		msg    string
	}{
		{name: "healthy"},
		{name: "image only", opts: func(o *CLIPOptions) { o.ImageOnly, o.AestheticHead = true, writeHead(t, 64) }},
		{name: "down", faults: scoretest.Faults{Down: scoretest.Reset}, want: comfybatch.ErrOutage, msg: "unreachable"},
		{name: "unavailable", faults: scoretest.Faults{Down: scoretest.Unavailable}, want: comfybatch.ErrOutage, msg: "503"},
		{name: "rate limited", faults: scoretest.Faults{RateLimited: 9}, want: comfybatch.ErrOutage, msg: "429"},
		{name: "nothing listening", opts: func(o *CLIPOptions) { o.URL = closedURL(t) }, want: comfybatch.ErrOutage, msg: "unreachable"},
		{name: "token refused", faults: scoretest.Faults{Token: "s3cret"}, opts: func(o *CLIPOptions) { o.TokenEnv = "CLIP_TOKEN" },
			want: comfybatch.ErrInvalid, msg: "set CLIP_TOKEN to a valid token"},
		{name: "wrong path", opts: func(o *CLIPOptions) { o.URL += "/v2/nothing" }, want: comfybatch.ErrInvalid, msg: "404"},
		{name: "images refused", faults: scoretest.Faults{Reject: func(image.Image) bool { return true }},
			want: comfybatch.ErrInvalid, msg: "embed an image"},
		{name: "malformed", faults: scoretest.Faults{Malformed: true}, want: comfybatch.ErrInvalid, msg: "malformed answer"},
		{name: "head of another model", opts: func(o *CLIPOptions) { o.AestheticHead = writeHead(t, 8) },
			want: comfybatch.ErrInvalid, msg: "8 weights but the model's embeddings have 64 dimensions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startFake(t, cliptest.Options{Faults: tt.faults})
			o := CLIPOptions{URL: url, Retries: -1}
			if tt.opts != nil {
				tt.opts(&o)
			}
			err := newCLIP(t, o).Check(t.Context())
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != nil && (!errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg)):
				t.Errorf("Check = %v, want %v mentioning %q", err, tt.want, tt.msg)
			case errors.Is(err, comfybatch.ErrInvalid) && errors.Is(err, comfybatch.ErrOutage):
				t.Errorf("Check = %v is both invalid and an outage", err)
			}
		})
	}
}

// TestHTTPErrorClasses: the same for the generic HTTP scorer.
func TestHTTPErrorClasses(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	tests := []struct {
		name   string
		faults scoretest.Faults
		edit   func(*HTTP)
		width  int
		want   class
		msg    string
	}{
		{name: "healthy", want: isOK},
		{name: "connection reset", faults: scoretest.Faults{Down: scoretest.Reset}, want: isOutage, msg: "unreachable"},
		{name: "unavailable", faults: scoretest.Faults{Down: scoretest.Unavailable}, want: isOutage, msg: "503"},
		{name: "rate limited", faults: scoretest.Faults{RateLimited: 9}, want: isOutage, msg: "429"},
		{name: "token refused", faults: scoretest.Faults{Token: "s3cret"}, edit: func(h *HTTP) { h.Token, h.TokenEnv = "x", "AES_TOKEN" },
			want: isOutage, msg: "set AES_TOKEN to a valid token"},
		{name: "not JSON", faults: scoretest.Faults{Malformed: true}, want: isOutage, msg: "malformed answer"},
		{name: "timeout", faults: scoretest.Faults{Delay: time.Minute}, edit: func(h *HTTP) { h.Timeout = 20 * time.Millisecond },
			want: isOutage, msg: "no answer within 20ms"},
		{name: "wrong path", edit: func(h *HTTP) { h.URL = notFound.URL + "/score" }, want: isOutage, msg: "check the scorer's url"},
		{name: "nothing listening", edit: func(h *HTTP) { h.URL = closedURL(t) }, want: isOutage, msg: "unreachable"},
		{name: "image rejected", faults: scoretest.Faults{Reject: func(img image.Image) bool { return img.Bounds().Dx() > 30 }},
			width: 40, want: isVerdict, msg: "422"},
		{name: "no number in the answer", edit: func(h *HTTP) { h.Path = "verdict" }, want: isVerdict, msg: `no key "verdict"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := scoretest.NewServer(scoretest.Options{Faults: tt.faults}).Start()
			defer srv.Close()
			h := &HTTP{URL: url + "/score", Path: "score", Retries: -1}
			if tt.edit != nil {
				tt.edit(h)
			}
			w := max(tt.width, 8)
			sc, err := h.Score(t.Context(), promptCandidate(t, "x", randomImage(w, 8, 1)))
			if got := classOf(err); got != tt.want || (err != nil && !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("Score = %v (%s); want %s mentioning %q", err, got, tt.want, tt.msg)
			}
			if err == nil && sc.Metrics["value"] != float64(w) {
				t.Errorf("Score = %+v, want value %d", sc, w)
			}
		})
	}
}

// TestHTTPCheckClasses: Check sends a GET; 405 is fine, 404 and refused
// credentials are configuration, down or overloaded is an outage.
func TestHTTPCheckClasses(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	tests := []struct {
		name   string
		faults scoretest.Faults
		edit   func(*HTTP)
		want   error
		msg    string
	}{
		{name: "post-only service answers 405"},
		{name: "token accepted", faults: scoretest.Faults{Token: "s3cret"}, edit: func(h *HTTP) { h.Token = "s3cret" }},
		{name: "token refused", faults: scoretest.Faults{Token: "s3cret"}, edit: func(h *HTTP) { h.Token, h.TokenEnv = "x", "AES_TOKEN" },
			want: comfybatch.ErrInvalid, msg: "set AES_TOKEN"},
		{name: "no token", faults: scoretest.Faults{Token: "s3cret"}, want: comfybatch.ErrInvalid, msg: "set token_env"},
		{name: "wrong path", edit: func(h *HTTP) { h.URL = notFound.URL + "/score" }, want: comfybatch.ErrInvalid, msg: "404"},
		{name: "unknown mode", edit: func(h *HTTP) { h.Mode = "xml" }, want: comfybatch.ErrInvalid, msg: "xml"},
		{name: "down", faults: scoretest.Faults{Down: scoretest.Reset}, want: comfybatch.ErrOutage, msg: "unreachable"},
		{name: "unavailable", faults: scoretest.Faults{Down: scoretest.Unavailable}, want: comfybatch.ErrOutage, msg: "503"},
		{name: "nothing listening", edit: func(h *HTTP) { h.URL = closedURL(t) }, want: comfybatch.ErrOutage, msg: "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := scoretest.NewServer(scoretest.Options{Faults: tt.faults}).Start()
			defer srv.Close()
			h := &HTTP{Name: "aes", URL: url + "/score", Retries: -1}
			if tt.edit != nil {
				tt.edit(h)
			}
			err := h.Check(t.Context())
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != nil && (!errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "aes")):
				t.Errorf("Check = %v, want %v naming the scorer and mentioning %q", err, tt.want, tt.msg)
			case errors.Is(err, comfybatch.ErrInvalid) && errors.Is(err, comfybatch.ErrOutage):
				t.Errorf("Check = %v is both invalid and an outage", err)
			}
		})
	}
}

// TestExecErrorClasses: a program that ran and exited has answered about
// the image; one that could not run or never answered has not.
func TestExecErrorClasses(t *testing.T) {
	img := randomImage(8, 8, 3)
	cand := candidate(img, encodePNG(t, img))
	tests := []struct {
		name string
		cmd  []string
		want class
		msg  string
	}{
		{"answers", []string{"sh", "-c", "echo 0.5"}, isOK, ""},
		{"exits non-zero", []string{"sh", "-c", "echo no face >&2; exit 3"}, isVerdict, "exited with 3: no face"},
		{"prints no number", []string{"sh", "-c", "echo great"}, isVerdict, "not a number"},
		{"prints nothing", []string{"true"}, isVerdict, "no output"},
		{"program missing", []string{"/nonexistent/scorer"}, isOutage, "install it"},
		{"shell cannot find a command", []string{"sh", "-c", "comfybatch-no-such-command"}, isOutage, "exited with 127"},
		{"killed", []string{"sh", "-c", "kill -9 $$"}, isOutage, "killed"},
		{"timeout", []string{"sh", "-c", "exec sleep 30"}, isOutage, "no answer within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Exec{Command: tt.cmd, Dir: t.TempDir(), Timeout: 2 * time.Second}
			if tt.name == "timeout" {
				e.Timeout = 50 * time.Millisecond
			}
			_, err := e.Score(t.Context(), cand)
			if got := classOf(err); got != tt.want || (err != nil && !strings.Contains(err.Error(), tt.msg)) {
				t.Errorf("Exec %q = %v (%s); want %s mentioning %q", tt.cmd, err, got, tt.want, tt.msg)
			}
		})
	}
}

// TestStatusErrorClasses pins the code table.
func TestStatusErrorClasses(t *testing.T) {
	for code, want := range map[int][3]bool{ // outage, transient, invalid
		400: {false, false, true}, 413: {false, false, true}, 415: {false, false, true}, 422: {false, false, true},
		401: {true, false, false}, 403: {true, false, false}, 404: {true, false, false}, 405: {true, false, false},
		408: {true, true, false}, 429: {true, true, false}, 500: {true, true, false}, 502: {true, true, false},
		503: {true, true, false}, 504: {true, true, false},
	} {
		err := fmt.Errorf("wrapped: %w", &StatusError{URL: "http://x", Code: code})
		got := [3]bool{errors.Is(err, comfybatch.ErrOutage), errors.Is(err, comfybatch.ErrTransient), errors.Is(err, comfybatch.ErrInvalid)}
		if got != want {
			t.Errorf("status %d: outage, transient, invalid = %v, want %v", code, got, want)
		}
	}
	if c := comfybatch.Class(transportError(t.Context(), "POST", "http://x", time.Second, errors.New("refused"))); c != comfybatch.ClassOutage {
		t.Errorf("Class(transport error) = %q, want %q", c, comfybatch.ClassOutage)
	}
}

func writeHead(t *testing.T, n int) string {
	t.Helper()
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	data, err := json.Marshal(LinearHead{Weights: w})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "head.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

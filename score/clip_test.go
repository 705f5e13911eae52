package score

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disintegration/imaging"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/score/cliptest"
	"github.com/comfybatch/comfybatch/score/scoretest"
)

func startFake(t *testing.T, o cliptest.Options) (*cliptest.Server, string) {
	t.Helper()
	fake := cliptest.New(o)
	ts, url := fake.Start()
	t.Cleanup(ts.Close)
	return fake, url
}

func newCLIP(t *testing.T, o CLIPOptions) *CLIP {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	c, err := NewCLIP(o)
	if err != nil {
		t.Fatalf("NewCLIP(%+v): %v", o, err)
	}
	return c
}

// promptCandidate is a candidate whose job asks for prompt, with its image
// encoded as PNG.
func promptCandidate(t testing.TB, prompt string, img image.Image) comfybatch.Candidate {
	c := candidate(img, encodePNG(t, img))
	c.Job.Key = prompt
	c.Job.Params = []comfybatch.Param{{Name: "prompt", Value: prompt}, {Name: "seed", Value: uint64(7)}}
	return c
}

func solid(c color.NRGBA) image.Image {
	img := imaging.New(64, 64, c)
	// A little structure so the image is not a single colour.
	for x := range 64 {
		img.SetNRGBA(x, 32, color.NRGBA{c.R / 2, c.G / 2, c.B / 2, 255})
	}
	return img
}

var (
	red  = color.NRGBA{210, 40, 30, 255}
	blue = color.NRGBA{30, 60, 220, 255}
)

func TestCLIPProtocols(t *testing.T) {
	results := map[string][2]float64{}
	for _, proto := range []string{ProtocolInfinity, ProtocolVLLM, ProtocolCLIPAsService} {
		t.Run(proto, func(t *testing.T) {
			fake, url := startFake(t, cliptest.Options{})
			c := newCLIP(t, CLIPOptions{URL: url, Protocol: proto, Model: "fake-clip"})
			var sims [2]float64
			for i, col := range []color.NRGBA{red, blue} {
				sc, err := c.Score(t.Context(), promptCandidate(t, "a red fox", solid(col)))
				if err != nil {
					t.Fatalf("Score: %v", err)
				}
				s, ok := sc.Metrics["similarity"]
				if sc.Scorer != "clip" || !ok || s < -1 || s > 1 {
					t.Fatalf("Score = %+v; want scorer clip and a similarity in [-1, 1]", sc)
				}
				if _, ok := sc.Metrics["aesthetic"]; ok {
					t.Errorf("aesthetic metric without a head: %+v", sc)
				}
				sims[i] = s
			}
			if !(sims[0] > sims[1]) {
				t.Errorf("\"a red fox\": red image %.4f, blue image %.4f; want red higher", sims[0], sims[1])
			}
			if st := fake.Stats(); st.TextRequests != 1 || st.ImageRequests != 2 {
				t.Errorf("server saw %+v; want 1 text request (cached) and 2 image requests", st)
			}
			results[proto] = sims
		})
	}
	// One fake space behind three dialects: every protocol must read the
	// same numbers out of its own wire format.
	for proto, sims := range results {
		for i := range sims {
			if math.Abs(sims[i]-results[ProtocolInfinity][i]) > 1e-9 {
				t.Errorf("%s similarities %v differ from infinity's %v", proto, sims, results[ProtocolInfinity])
			}
		}
	}
}

func TestCLIPToken(t *testing.T) {
	fake, url := startFake(t, cliptest.Options{Faults: scoretest.Faults{Token: "s3cret"}})
	cand := promptCandidate(t, "snow", solid(red))
	_, err := newCLIP(t, CLIPOptions{URL: url}).Score(t.Context(), cand)
	se, ok := errors.AsType[*StatusError](err)
	if !ok || se.Code != http.StatusUnauthorized || !errors.Is(err, comfybatch.ErrOutage) || errors.Is(err, comfybatch.ErrInvalid) {
		t.Fatalf("Score without token = %v; want a 401 StatusError classed outage", err)
	}
	if n := fake.Stats().Requests; n != 1 {
		t.Errorf("401 was sent %d times; want 1 (4xx is not retried)", n)
	}
	if _, err := newCLIP(t, CLIPOptions{URL: url, Token: "s3cret"}).Score(t.Context(), cand); err != nil {
		t.Errorf("Score with token: %v", err)
	}
	t.Setenv("CLIP_TOKEN", "s3cret")
	if _, err := newCLIP(t, CLIPOptions{URL: url, TokenEnv: "CLIP_TOKEN"}).Score(t.Context(), cand); err != nil {
		t.Errorf("Score with TokenEnv: %v", err)
	}
	if _, err := NewCLIP(CLIPOptions{URL: url, TokenEnv: "CLIP_TOKEN_UNSET"}); !errors.Is(err, comfybatch.ErrInvalid) || !strings.Contains(err.Error(), "CLIP_TOKEN_UNSET") {
		t.Errorf("NewCLIP with an unset TokenEnv = %v; want ErrInvalid naming the variable", err)
	}
}

func TestCLIPSplitsOn413(t *testing.T) {
	fake, url := startFake(t, cliptest.Options{MaxBatch: 3})
	c := newCLIP(t, CLIPOptions{URL: url, MaxBatch: 8, Linger: time.Minute})
	res := scoreConcurrently(t, c, 8, func(i int) string { return "a red fox" })
	for i, r := range res {
		if r.err != nil || r.sc.Metrics["similarity"] == 0 {
			t.Errorf("call %d: %+v, %v; want a similarity", i, r.sc, r.err)
		}
	}
	st := fake.Stats()
	if st.Images != 8 || st.MaxImages > 3 {
		t.Errorf("server stats %+v; want 8 images embedded in requests of at most 3", st)
	}
	// The scorer remembers: the next full batch goes out in small requests
	// straight away, without another 413.
	before := fake.Stats().Requests
	scoreConcurrently(t, c, 8, func(i int) string { return "a red fox" })
	if n := fake.Stats().Requests - before; n != 4 {
		t.Errorf("second batch of 8 took %d requests; want 4 (batches of 2 learnt from the 413s)", n)
	}
}

func TestCLIPTimeoutAndRetries(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		_, url := startFake(t, cliptest.Options{Faults: scoretest.Faults{Delay: time.Minute}})
		c := newCLIP(t, CLIPOptions{URL: url, Timeout: 50 * time.Millisecond, Retries: -1})
		_, err := c.Score(t.Context(), promptCandidate(t, "x", solid(red)))
		if !errors.Is(err, comfybatch.ErrOutage) || !errors.Is(err, comfybatch.ErrTransient) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Errorf("Score against a stalled server = %v; want a transient outage (timeout)", err)
		}
	})
	t.Run("transient then success", func(t *testing.T) {
		fake, url := startFake(t, cliptest.Options{Faults: scoretest.Faults{FailNext: 2}})
		c := newCLIP(t, CLIPOptions{URL: url, Retries: 2, Backoff: time.Millisecond})
		if _, err := c.Score(t.Context(), promptCandidate(t, "x", solid(red))); err != nil {
			t.Fatalf("Score with 2 retries after 2 failures: %v", err)
		}
		if n := fake.Stats().Requests; n != 4 {
			t.Errorf("requests = %d; want 4 (text: 503, 503, ok; image: ok)", n)
		}
	})
	t.Run("transient exhausted", func(t *testing.T) {
		fake, url := startFake(t, cliptest.Options{Faults: scoretest.Faults{FailNext: 100}})
		c := newCLIP(t, CLIPOptions{URL: url, Retries: 1, Backoff: time.Millisecond})
		_, err := c.Score(t.Context(), promptCandidate(t, "x", solid(red)))
		if se, ok := errors.AsType[*StatusError](err); !ok || se.Code != 503 || !errors.Is(err, comfybatch.ErrTransient) {
			t.Errorf("Score = %v; want a transient 503", err)
		}
		if n := fake.Stats().Requests; n != 2 {
			t.Errorf("requests = %d; want 2 (one try, one retry)", n)
		}
		// A failed text fetch is not cached: the next call asks again.
		c.Score(t.Context(), promptCandidate(t, "x", solid(red)))
		if n := fake.Stats().Requests; n != 4 {
			t.Errorf("requests after a second call = %d; want 4", n)
		}
	})
	t.Run("malformed json", func(t *testing.T) {
		_, url := startFake(t, cliptest.Options{Faults: scoretest.Faults{Malformed: true}})
		_, err := newCLIP(t, CLIPOptions{URL: url}).Score(t.Context(), promptCandidate(t, "x", solid(red)))
		if !errors.Is(err, comfybatch.ErrOutage) || !strings.Contains(err.Error(), "malformed answer") {
			t.Errorf("Score = %v; want a malformed answer, classed outage", err)
		}
	})
	t.Run("refused connection", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		url := ts.URL
		ts.Close()
		c := newCLIP(t, CLIPOptions{URL: url, Retries: -1})
		if _, err := c.Score(t.Context(), promptCandidate(t, "x", solid(red))); !errors.Is(err, comfybatch.ErrOutage) || !errors.Is(err, comfybatch.ErrTransient) {
			t.Errorf("Score against a closed port = %v; want a transient outage", err)
		}
	})
}

type result struct {
	sc  comfybatch.Score
	err error
}

func scoreConcurrently(t *testing.T, c *CLIP, n int, prompt func(int) string) []result {
	t.Helper()
	cands := make([]comfybatch.Candidate, n)
	for i := range cands {
		cands[i] = promptCandidate(t, prompt(i), solid(color.NRGBA{byte(i * 20), 100, 50, 255}))
	}
	res := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res[i].sc, res[i].err = c.Score(t.Context(), cands[i])
		})
	}
	wg.Wait()
	return res
}

// inProcess calls a handler directly, so the client and the fake can run
// inside a synctest bubble, where lingering costs no wall time.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestCLIPBatchesConcurrentCalls(t *testing.T) {
	for _, tt := range []struct{ n, max, want int }{{10, 4, 3}, {8, 4, 2}, {5, 32, 1}, {3, 1, 3}} {
		t.Run(fmt.Sprintf("%d calls max %d", tt.n, tt.max), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := cliptest.New(cliptest.Options{})
				c := newCLIP(t, CLIPOptions{URL: "http://clip.test", MaxBatch: tt.max, Linger: time.Second,
					HTTPClient: &http.Client{Transport: inProcess{fake}}})
				res := scoreConcurrently(t, c, tt.n, func(i int) string { return fmt.Sprintf("prompt %d", i%2) })
				for i, r := range res {
					if r.err != nil {
						t.Errorf("call %d: %v", i, r.err)
					}
				}
				st := fake.Stats()
				if st.ImageRequests != tt.want || st.Images != tt.n {
					t.Errorf("%d calls with MaxBatch %d: %d image requests for %d images; want %d requests", tt.n, tt.max, st.ImageRequests, st.Images, tt.want)
				}
				if st.TextRequests != min(2, tt.n) {
					t.Errorf("text requests = %d; want %d (one per distinct prompt)", st.TextRequests, min(2, tt.n))
				}
			})
		})
	}
}

func TestCLIPEachCallerGetsItsOwnResult(t *testing.T) {
	_, url := startFake(t, cliptest.Options{})
	solo := newCLIP(t, CLIPOptions{URL: url, MaxBatch: 1})
	batched := newCLIP(t, CLIPOptions{URL: url, MaxBatch: 16, Linger: time.Minute})
	prompt := func(i int) string { return []string{"a red fox", "blue ocean", "snow"}[i%3] }
	res := scoreConcurrently(t, batched, 16, prompt)
	for i, r := range res {
		want, err := solo.Score(t.Context(), promptCandidate(t, prompt(i), solid(color.NRGBA{byte(i * 20), 100, 50, 255})))
		if err != nil || r.err != nil {
			t.Fatalf("call %d: %v / %v", i, r.err, err)
		}
		if math.Abs(r.sc.Metrics["similarity"]-want.Metrics["similarity"]) > 1e-12 {
			t.Errorf("call %d: batched similarity %v, alone %v", i, r.sc.Metrics["similarity"], want.Metrics["similarity"])
		}
	}
}

func TestCLIPAesthetic(t *testing.T) {
	fake, url := startFake(t, cliptest.Options{Dim: 32})
	img := solid(red)
	cand := promptCandidate(t, "a red fox", img)
	// The raw image embedding, asked of the fake directly.
	uri, err := dataURI(cand)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"input": []string{uri}, "modality": "image"})
	resp, err := http.Post(url+"/v1/embeddings", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var r embedResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	unit := normalize(r.Data[0].Embedding)
	weights := make([]float64, 32)
	for i := range weights {
		weights[i] = float64(i%5) - 2
	}
	head := filepath.Join(t.TempDir(), "head.json")
	hj, _ := json.Marshal(LinearHead{Weights: weights, Bias: 5.5})
	if err := os.WriteFile(head, hj, 0o600); err != nil {
		t.Fatal(err)
	}
	before := fake.Stats().ImageRequests
	c := newCLIP(t, CLIPOptions{URL: url, AestheticHead: head, Name: "clip-l"})
	sc, err := c.Score(t.Context(), cand)
	if err != nil {
		t.Fatal(err)
	}
	if want := dot(weights, unit) + 5.5; sc.Scorer != "clip-l" || math.Abs(sc.Metrics["aesthetic"]-want) > 1e-9 {
		t.Errorf("Score = %+v; want scorer clip-l, aesthetic %v", sc, want)
	}
	if n := fake.Stats().ImageRequests - before; n != 1 {
		t.Errorf("similarity and aesthetic took %d image requests; want 1", n)
	}
	// A head of the wrong size is the configuration's problem, not the
	// candidate's: Check finds it before a run, Score calls it an outage.
	hj, _ = json.Marshal(LinearHead{Weights: []float64{1, 2, 3}})
	os.WriteFile(head, hj, 0o600)
	small := newCLIP(t, CLIPOptions{URL: url, AestheticHead: head})
	if _, err := small.Score(t.Context(), cand); !errors.Is(err, comfybatch.ErrOutage) {
		t.Errorf("Score with a 3-weight head on 32 dimensions = %v; want ErrOutage", err)
	}
	if err := small.Check(t.Context()); !errors.Is(err, comfybatch.ErrInvalid) || !strings.Contains(err.Error(), "3 weights") {
		t.Errorf("Check with a 3-weight head on 32 dimensions = %v; want ErrInvalid naming the weights", err)
	}
	os.WriteFile(head, []byte(`{"weights":`), 0o600)
	if _, err := NewCLIP(CLIPOptions{URL: url, AestheticHead: head}); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("NewCLIP with a broken head file = %v; want ErrInvalid", err)
	}
}

func TestCLIPOptionsAndTemplate(t *testing.T) {
	for _, o := range []CLIPOptions{
		{URL: "http://x", Protocol: "grpc"},
		{URL: "ftp://x"},
		{URL: ""},
		{URL: "http://x", Template: "{prompt"},
		{URL: "http://x", Template: "a {} b"},
	} {
		if _, err := NewCLIP(o); !errors.Is(err, comfybatch.ErrInvalid) {
			t.Errorf("NewCLIP(%+v) = %v; want ErrInvalid", o, err)
		}
	}
	c, err := NewCLIP(CLIPOptions{URL: "http://x:1"})
	if err != nil || c.endpoint != "http://x:1/v1/embeddings" {
		t.Errorf("endpoint = %q, %v; want the protocol path appended", c.endpoint, err)
	}
	c, err = NewCLIP(CLIPOptions{URL: "http://x:1/custom/embed", Protocol: ProtocolCLIPAsService})
	if err != nil || c.endpoint != "http://x:1/custom/embed" {
		t.Errorf("endpoint = %q, %v; want the URL's own path kept", c.endpoint, err)
	}
	_, url := startFake(t, cliptest.Options{})
	cand := promptCandidate(t, "x", solid(red))
	cand.Job.Params = nil
	if _, err := newCLIP(t, CLIPOptions{URL: url}).Score(t.Context(), cand); !errors.Is(err, comfybatch.ErrInvalid) {
		t.Errorf("Score of a job without a prompt = %v; want ErrInvalid", err)
	}
}

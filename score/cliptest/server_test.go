package cliptest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch/score/scoretest"
)

func pngURI(t *testing.T, c color.NRGBA) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

type answer struct {
	Data []struct {
		Embedding []float64 `json:"embedding"`
		Index     *int      `json:"index"`
	} `json:"data"`
}

func post(t *testing.T, h http.Handler, path, token, body string) (int, answer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a answer
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("POST %s: answer %q: %v", path, rec.Body.String(), err)
		}
	}
	return rec.Code, a
}

func cosine(a, b []float64) float64 {
	return dot(a, b) / math.Sqrt(dot(a, a)*dot(b, b))
}

func TestDialectsAgree(t *testing.T) {
	s := New(Options{})
	red := pngURI(t, color.NRGBA{220, 30, 20, 255})
	blue := pngURI(t, color.NRGBA{20, 40, 230, 255})
	code, inf := post(t, s, "/v1/embeddings", "", `{"model":"m","input":["`+red+`","`+blue+`"],"modality":"image"}`)
	if code != 200 || len(inf.Data) != 2 || len(inf.Data[0].Embedding) != 64 {
		t.Fatalf("infinity: %d %+v", code, inf)
	}
	byIndex := map[int][]float64{}
	for _, d := range inf.Data {
		byIndex[*d.Index] = d.Embedding
	}
	code, vl := post(t, s, "/v1/embeddings", "", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"`+red+`"}}]}]}`)
	if code != 200 || len(vl.Data) != 1 || cosine(vl.Data[0].Embedding, byIndex[0]) < 1-1e-12 {
		t.Errorf("vllm red image differs from infinity's: %d", code)
	}
	code, ja := post(t, s, "/post", "", `{"data":[{"uri":"`+blue+`"},{"text":"a red fox"}],"execEndpoint":"/"}`)
	if code != 200 || len(ja.Data) != 2 || cosine(ja.Data[0].Embedding, byIndex[1]) < 1-1e-12 {
		t.Fatalf("clip-as-service blue image differs from infinity's: %d %+v", code, ja)
	}
	fox := ja.Data[1].Embedding
	if cr, cb := cosine(fox, byIndex[0]), cosine(fox, byIndex[1]); !(cr > cb) {
		t.Errorf(`"a red fox": red %.3f, blue %.3f; want red closer`, cr, cb)
	}
	_, again := post(t, s, "/v1/embeddings", "", `{"input":"a red fox"}`)
	if cosine(again.Data[0].Embedding, fox) < 1-1e-12 {
		t.Error("the same text embeds differently across requests")
	}
	_, other := post(t, s, "/v1/embeddings", "", `{"input":"a red fox."}`)
	if c := cosine(other.Data[0].Embedding, fox); c > 1-1e-6 {
		t.Errorf("distinct texts embed identically (cosine %v)", c)
	}
	if st := s.Stats(); st.Images != 4 || st.Texts != 3 || st.MaxImages != 2 || st.ImageRequests != 3 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFaults(t *testing.T) {
	body := `{"input":["a","b","c"]}`
	red := pngURI(t, color.NRGBA{220, 30, 20, 255})
	blue := pngURI(t, color.NRGBA{20, 40, 230, 255})
	images := `{"input":["` + red + `","` + blue + `"],"modality":"image"}`
	reddish := func(img image.Image) bool {
		r, _, b, _ := img.At(0, 0).RGBA()
		return r > b
	}
	tests := []struct {
		name  string
		opts  Options
		token string
		path  string
		body  string
		want  int
	}{
		{"no token", Options{Faults: scoretest.Faults{Token: "t"}}, "", "/v1/embeddings", body, 401},
		{"wrong token", Options{Faults: scoretest.Faults{Token: "t"}}, "u", "/v1/embeddings", body, 401},
		{"right token", Options{Faults: scoretest.Faults{Token: "t"}}, "t", "/v1/embeddings", body, 200},
		{"batch too big", Options{MaxBatch: 2}, "", "/v1/embeddings", body, 413},
		{"batch fits", Options{MaxBatch: 3}, "", "/v1/embeddings", body, 200},
		{"fail next", Options{Faults: scoretest.Faults{FailNext: 1}}, "", "/v1/embeddings", body, 503},
		{"rate limited", Options{Faults: scoretest.Faults{RateLimited: 1}}, "", "/v1/embeddings", body, 429},
		{"down", Options{Faults: scoretest.Faults{Down: scoretest.Unavailable}}, "", "/v1/embeddings", body, 503},
		{"down after 5 images, none yet", Options{Faults: scoretest.Faults{Down: scoretest.Unavailable, DownAfter: 5}}, "", "/v1/embeddings", body, 200},
		{"reject the red image", Options{Faults: scoretest.Faults{Reject: reddish}}, "", "/v1/embeddings", images, 400},
		{"reject red, no red sent", Options{Faults: scoretest.Faults{Reject: reddish}}, "", "/v1/embeddings", `{"input":["` + blue + `"],"modality":"image"}`, 200},
		{"bad json", Options{}, "", "/v1/embeddings", `{"input":`, 400},
		{"unknown path", Options{}, "", "/v2/x", body, 404},
		{"bad data uri", Options{}, "", "/v1/embeddings", `{"input":["data:image/png;base64,!!"],"modality":"image"}`, 400},
		{"jina url not data", Options{}, "", "/post", `{"data":[{"uri":"http://x/y.png"}],"execEndpoint":"/"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := post(t, New(tt.opts), tt.path, tt.token, tt.body); code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
		})
	}
	rec := httptest.NewRecorder()
	New(Options{Faults: scoretest.Faults{Malformed: true}}).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/embeddings", strings.NewReader(body)))
	if rec.Code != 200 || json.Valid(rec.Body.Bytes()) {
		t.Errorf("Malformed: %d %q; want 200 with invalid JSON", rec.Code, rec.Body.String())
	}
}

// TestFaultWindow: a server goes down after a number of images, answers
// 503 with Retry-After (or resets connections) until its faults are
// cleared, and serves again after.
func TestFaultWindow(t *testing.T) {
	red := pngURI(t, color.NRGBA{220, 30, 20, 255})
	images := `{"input":["` + red + `","` + red + `"],"modality":"image"}`
	s := New(Options{Faults: scoretest.Faults{Down: scoretest.Unavailable, DownAfter: 3, RetryAfter: 1500 * time.Millisecond}})
	for i, want := range []int{200, 200, 503, 503} { // 2 images, 4, then down
		req := httptest.NewRequest(http.MethodPost, "/v1/embeddings", strings.NewReader(images))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("request %d: status %d, want %d", i, rec.Code, want)
		}
		if want == 503 && rec.Header().Get("Retry-After") != "2" {
			t.Errorf("request %d: Retry-After %q, want 2 (1.5s rounded up)", i, rec.Header().Get("Retry-After"))
		}
	}
	s.SetFaults(scoretest.Faults{RateLimited: 1, RetryAfter: time.Second})
	if code, _ := post(t, s, "/v1/embeddings", "", images); code != 429 {
		t.Errorf("after SetFaults(RateLimited: 1): %d, want 429", code)
	}
	if code, a := post(t, s, "/v1/embeddings", "", images); code != 200 || len(a.Data) != 2 {
		t.Errorf("after the one 429: %d, want 200", code)
	}

	// Reset needs a real connection to reset.
	ts, url := s.Start()
	defer ts.Close()
	s.SetFaults(scoretest.Faults{Down: scoretest.Reset})
	resp, err := http.Post(url+"/v1/embeddings", "application/json", strings.NewReader(images))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("Reset: got an answer %d, want a connection error", resp.StatusCode)
	}
	s.SetFaults(scoretest.Faults{})
	resp, err = http.Post(url+"/v1/embeddings", "application/json", strings.NewReader(images))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the window: %v, want 200", err)
	}
	resp.Body.Close()
}

// TestSetFaultsWhileServing: faults change under concurrent requests; run
// under -race.
func TestSetFaultsWhileServing(t *testing.T) {
	s := New(Options{})
	ts, url := s.Start()
	defer ts.Close()
	red := pngURI(t, color.NRGBA{220, 30, 20, 255})
	body := `{"input":["` + red + `"],"modality":"image"}`
	done := make(chan struct{})
	go func() { // owned by this test: it waits on done below
		defer close(done)
		for i := range 50 {
			s.SetFaults(scoretest.Faults{Down: scoretest.Down(i % 2), RateLimited: i % 3})
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				resp, err := http.Post(url+"/v1/embeddings", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if c := resp.StatusCode; c != 200 && c != 503 && c != 429 {
					t.Errorf("status %d, want 200, 503 or 429", c)
				}
			}
		})
	}
	wg.Wait()
	<-done
	if n := s.Stats().Requests; n != 80 {
		t.Errorf("%d requests counted, want 80", n)
	}
}

package scoretest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func multipartBody(t *testing.T, field string, img []byte, params string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile(field, "image.png")
	fw.Write(img)
	mw.WriteField("params", params)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

type answer struct {
	Score  float64        `json:"score"`
	Params map[string]any `json:"params"`
}

func TestServer(t *testing.T) {
	wide := func(img image.Image) bool { return img.Bounds().Dx() > 20 }
	tests := []struct {
		name   string
		opts   Options
		json   bool
		width  int
		token  string
		method string
		want   int
	}{
		{name: "multipart", width: 12, want: 200},
		{name: "json", json: true, width: 13, want: 200},
		{name: "get is 405", method: http.MethodGet, want: 405},
		{name: "token missing", opts: Options{Faults: Faults{Token: "t"}}, width: 5, want: 401},
		{name: "token sent", opts: Options{Faults: Faults{Token: "t"}}, token: "t", width: 5, want: 200},
		{name: "rejected", opts: Options{Faults: Faults{Reject: wide}}, width: 30, want: 422},
		{name: "not rejected", opts: Options{Faults: Faults{Reject: wide}}, width: 10, want: 200},
		{name: "down", opts: Options{Faults: Faults{Down: Unavailable, RetryAfter: time.Second}}, method: http.MethodGet, want: 503},
		{name: "rate limited", opts: Options{Faults: Faults{RateLimited: 1}}, width: 5, want: 429},
		{name: "wrong field", opts: Options{Field: "file"}, width: 5, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(tt.opts)
			var req *http.Request
			switch {
			case tt.method == http.MethodGet:
				req = httptest.NewRequest(http.MethodGet, "/score", nil)
			case tt.json:
				b, _ := json.Marshal(map[string]any{"image": base64.StdEncoding.EncodeToString(pngOf(t, tt.width, 4)), "params": map[string]any{"seed": 7}})
				req = httptest.NewRequest(http.MethodPost, "/score", bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
			default:
				body, ctype := multipartBody(t, "image", pngOf(t, tt.width, 4), `{"seed":7}`)
				req = httptest.NewRequest(http.MethodPost, "/score", body)
				req.Header.Set("Content-Type", ctype)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
			if tt.want != 200 {
				return
			}
			var a answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Score != float64(tt.width) || a.Params["seed"] != 7.0 {
				t.Errorf("answer %s; want score %d and params echoed", rec.Body, tt.width)
			}
			if st := s.Stats(); st.Images != 1 || st.Requests != 1 {
				t.Errorf("Stats = %+v, want 1 request, 1 image", st)
			}
		})
	}
}

func TestServerMalformedAndDownAfter(t *testing.T) {
	s := NewServer(Options{Faults: Faults{Down: Unavailable, DownAfter: 1, Malformed: true}})
	do := func() *httptest.ResponseRecorder {
		body, ctype := multipartBody(t, "image", pngOf(t, 3, 3), `{}`)
		req := httptest.NewRequest(http.MethodPost, "/score", body)
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(); rec.Code != 200 || json.Valid(rec.Body.Bytes()) {
		t.Errorf("first image: %d %q, want 200 with truncated JSON", rec.Code, rec.Body)
	}
	if rec := do(); rec.Code != 503 {
		t.Errorf("after 1 image with DownAfter 1: %d, want 503", rec.Code)
	}
	s.SetFaults(Faults{})
	if rec := do(); rec.Code != 200 || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("after SetFaults(Faults{}): %d %q, want a valid answer", rec.Code, rec.Body)
	}
}

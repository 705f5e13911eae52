package score

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// HTTP scores by posting the image to a scoring service and reading one
// number from its JSON answer, metric "value". The request is either
// multipart/form-data (Mode "multipart", the default: a file part named
// Field plus a "params" part holding the job's params as a JSON object) or
// JSON (Mode "json": {Field: base64 image, "params": {...}}). Transient
// failures (network, timeout, an answer that is not JSON, 408, 429, 5xx)
// are retried; other 4xx are not. An answer that is JSON but has no number
// at Path is the service's verdict on the image, as are 400, 413, 415 and
// 422; anything else is comfybatch.ErrOutage (see the package doc).
//
// The zero value is not usable: set URL. HTTP is safe for concurrent use.
type HTTP struct {
	// Name goes into Score.Scorer; default "http".
	Name string
	// URL receives the POST.
	URL string
	// Mode is "multipart" (default) or "json".
	Mode string
	// Field names the image's form part or JSON key; default "image".
	Field string
	// Path locates the number in the answer: dot-separated object keys and
	// array indexes, as in "score" or "results.0.aesthetic". Empty means
	// the answer is the number itself.
	Path string
	// Token, when set, is sent as a bearer token.
	Token string
	// TokenEnv names the environment variable Token was read from, so
	// that a refusal of the credentials (401, 403) names it.
	TokenEnv string
	// Header holds extra request headers.
	Header http.Header
	// Timeout bounds each attempt; default 60s.
	Timeout time.Duration
	// Retries for transient failures; default 2, negative for none.
	Retries int
	// Backoff before the first retry, doubled after each; default 250ms.
	Backoff time.Duration
	// HTTPClient defaults to http.DefaultClient's behaviour (a zero
	// http.Client).
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Score implements the pipeline's Scorer.
func (h *HTTP) Score(ctx context.Context, c comfybatch.Candidate) (comfybatch.Score, error) {
	name := nameOr(h.Name, "http")
	data, mime, err := encoded(c)
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: job %s: %w", name, c.Job.Key, err)
	}
	params := map[string]any{}
	for _, p := range c.Job.Params {
		params[p.Name] = p.Value
	}
	field := nameOr(h.Field, "image")
	var body []byte
	var ctype string
	switch h.Mode {
	case "", "multipart":
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile(field, "image."+strings.TrimPrefix(mime, "image/"))
		if err == nil {
			_, err = fw.Write(data)
		}
		if err == nil {
			pj, _ := json.Marshal(params)
			err = mw.WriteField("params", string(pj))
		}
		if err == nil {
			err = mw.Close()
		}
		if err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: build form: %w", name, err)
		}
		body, ctype = buf.Bytes(), mw.FormDataContentType()
	case "json":
		body, err = json.Marshal(map[string]any{field: base64.StdEncoding.EncodeToString(data), "params": params})
		if err != nil {
			return comfybatch.Score{}, fmt.Errorf("%s: encode request: %w", name, err)
		}
		ctype = "application/json"
	default:
		return comfybatch.Score{}, fmt.Errorf("%s: unknown mode %q (want multipart or json): %w", name, h.Mode, comfybatch.ErrInvalid)
	}
	retries, backoff, log := h.retryPolicy()
	v, err := retry(ctx, retries, backoff, log, h.URL, func() (float64, error) {
		return h.post(ctx, body, ctype)
	})
	if err != nil {
		return comfybatch.Score{}, fmt.Errorf("%s: job %s: %w", name, c.Job.Key, err)
	}
	return comfybatch.Score{Scorer: name, Metrics: map[string]float64{"value": v}}, nil
}

func (h *HTTP) post(ctx context.Context, body []byte, ctype string) (float64, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request for %q: %v: %w", h.URL, err, comfybatch.ErrInvalid)
	}
	resp, err := h.send(req, ctype)
	if err != nil {
		return 0, transportError(ctx, http.MethodPost, h.URL, timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, statusError(resp, http.MethodPost, h.URL, h.Token != "", h.TokenEnv)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, transportError(ctx, http.MethodPost, h.URL, timeout, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return 0, malformed(h.URL, "check the scorer's url", "not JSON: %v: %q", err, head(data))
	}
	v, err := jsonPath(doc, h.Path)
	if err != nil {
		// The service answered in JSON, about this image: a verdict.
		return 0, fmt.Errorf("answer from %s: %w: %s", h.URL, err, head(data))
	}
	return v, nil
}

// head returns the start of an answer, for messages.
func head(data []byte) string {
	const n = 200
	data = bytes.TrimSpace(data)
	if len(data) > n {
		return string(data[:n]) + "..."
	}
	return string(data)
}

// jsonPath follows a dot-separated path of keys and indexes to a number. A
// string holding a number is accepted, as some services quote floats.
func jsonPath(doc any, path string) (float64, error) {
	cur := doc
	if path != "" {
		for _, seg := range strings.Split(path, ".") {
			switch v := cur.(type) {
			case map[string]any:
				next, ok := v[seg]
				if !ok {
					return 0, fmt.Errorf("path %q: no key %q", path, seg)
				}
				cur = next
			case []any:
				i, err := strconv.Atoi(seg)
				if err != nil || i < 0 || i >= len(v) {
					return 0, fmt.Errorf("path %q: %q is not an index of an array of %d", path, seg, len(v))
				}
				cur = v[i]
			default:
				return 0, fmt.Errorf("path %q: cannot look up %q in %T", path, seg, cur)
			}
		}
	}
	var s string
	switch v := cur.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = v
	default:
		return 0, fmt.Errorf("path %q: %v is not a number", path, cur)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("path %q: %q is not a number", path, s)
	}
	return f, nil
}

// encoded returns the candidate's encoded image and its MIME type,
// PNG-encoding the pixels when the bytes are missing or unknown.
func encoded(c comfybatch.Candidate) ([]byte, string, error) {
	if cd, ok := sniff(c.Image); ok {
		return c.Image, "image/" + cd.name, nil
	}
	if c.Pixels == nil {
		return nil, "", fmt.Errorf("candidate has no image: %w", comfybatch.ErrInvalid)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, c.Pixels); err != nil {
		return nil, "", fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), "image/png", nil
}

// Check tells before a run whether the scoring server can be reached: it
// sends a GET to URL (with the headers and token a score would carry) and
// accepts any answer but 404 (nothing at that path), 401/403 (the
// credentials are refused), 429 and 5xx other than 501 (overloaded or
// down). It scores nothing: a server that only takes POST typically
// answers 405, which is fine. Unreachable, timeout, 429 and 5xx are
// retried as Score retries them, then reported as comfybatch.ErrOutage;
// 404, 401 and 403 are the scorer's configuration, comfybatch.ErrInvalid.
func (h *HTTP) Check(ctx context.Context) error {
	name := nameOr(h.Name, "http")
	if h.Mode != "" && h.Mode != "multipart" && h.Mode != "json" {
		return fmt.Errorf("%s: unknown mode %q (want multipart or json): %w", name, h.Mode, comfybatch.ErrInvalid)
	}
	timeout := h.Timeout
	if timeout <= 0 || timeout > 10*time.Second {
		timeout = 10 * time.Second
	}
	retries, backoff, log := h.retryPolicy()
	_, err := retry(ctx, retries, backoff, log, h.URL, func() (struct{}, error) {
		return struct{}{}, h.get(ctx, timeout)
	})
	if err != nil {
		return checkError(ctx, name+": "+h.URL, err)
	}
	return nil
}

// get sends Check's GET and classifies the answer.
func (h *HTTP) get(ctx context.Context, timeout time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return fmt.Errorf("url %q: %v: %w", h.URL, err, comfybatch.ErrInvalid)
	}
	resp, err := h.send(req, "")
	if err != nil {
		return transportError(ctx, http.MethodGet, h.URL, timeout, err)
	}
	defer resp.Body.Close()
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound, c == http.StatusUnauthorized, c == http.StatusForbidden,
		c == http.StatusTooManyRequests, c >= 500 && c != http.StatusNotImplemented:
		return statusError(resp, http.MethodGet, h.URL, h.Token != "", h.TokenEnv)
	}
	return nil
}

// retryPolicy returns the retry settings with their defaults.
func (h *HTTP) retryPolicy() (int, time.Duration, *slog.Logger) {
	retries, backoff, log := h.Retries, h.Backoff, h.Logger
	if retries == 0 {
		retries = 2
	}
	if backoff <= 0 {
		backoff = 250 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return retries, backoff, log
}

// send adds the configured headers, then the body's content type (when
// there is a body) and the token, to req and sends it.
func (h *HTTP) send(req *http.Request, ctype string) (*http.Response, error) {
	for k, vs := range h.Header {
		req.Header[k] = vs
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Accept", "application/json")
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	hc := h.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return hc.Do(req)
}

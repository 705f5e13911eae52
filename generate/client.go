package generate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/comfybatch/comfybatch"
)

// ClientOptions configure a Client. The zero value is usable.
type ClientOptions struct {
	// Headers are added to every request, including the WebSocket upgrade
	// (e.g. an Authorization header for a proxy in front of ComfyUI).
	Headers map[string]string
	// Logger receives protocol chatter at debug level; nil discards.
	Logger *slog.Logger
}

// Client talks to one ComfyUI server over HTTP and WebSocket. It is safe
// for concurrent use.
type Client struct {
	base    *url.URL
	hc      *http.Client
	headers map[string]string
	log     *slog.Logger
}

// NewClient returns a client for the server at baseURL (for example
// "http://127.0.0.1:8188"). A nil hc means http.DefaultClient's transport
// with no overall timeout: every call is bounded by its context instead.
func NewClient(baseURL string, hc *http.Client, opts ClientOptions) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" {
		// Keep the raw text: every request then fails with a clear error.
		u = &url.URL{Scheme: "http", Host: baseURL}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{base: u, hc: hc, headers: opts.Headers, log: log}
}

// BaseURL returns the server's base URL.
func (c *Client) BaseURL() string { return c.base.String() }

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends a request and returns the body of a 2xx answer. Network
// failures are ErrTransient; other statuses are *HTTPError. When ctx is
// done the context's error is returned, never a transient one.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, contentType string, body []byte) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path, q), rd)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, transientError{err})
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		if ctx.Err() != nil {
			return nil, resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, resp.StatusCode, fmt.Errorf("%s %s: read body: %w", method, path, transientError{err})
	}
	c.log.Debug("comfyui request", "method", method, "path", path, "status", resp.StatusCode, "bytes", len(data))
	return data, resp.StatusCode, nil
}

// maxPresized is the largest Content-Length readBody allocates up front;
// a larger (or unknown) body grows as it arrives.
const maxPresized = 256 << 20

// readBody reads a response body of declared length n (-1 if unknown).
// An image download is read into one buffer of its size instead of
// growing one by doubling; a body longer than declared is still read
// whole, and a shorter one is an error (net/http reports it).
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 || n > maxPresized {
		return io.ReadAll(r)
	}
	buf := make([]byte, n)
	if k, err := io.ReadFull(r, buf); err != nil {
		return buf[:k], err
	}
	rest, err := io.ReadAll(r)
	return append(buf, rest...), err
}

// call is do plus the rule that anything but 200 is an *HTTPError.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, contentType string, body []byte) ([]byte, error) {
	data, status, err := c.do(ctx, method, path, q, contentType, body)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Method: method, Path: path, Status: status, Body: short(data)}
	}
	return data, nil
}

func (c *Client) postJSON(ctx context.Context, path string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s body: %w", path, err)
	}
	return c.call(ctx, http.MethodPost, path, nil, "application/json", body)
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// NewPromptID returns a fresh lowercase hyphenated UUIDv4, the only
// prompt_id form every server version accepts (comfyui-protocol.md §2.1).
func NewPromptID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Submit queues a prompt with POST /prompt. An empty req.PromptID is
// replaced by NewPromptID; the id used is in the response. A 400 is a
// *PromptError (ErrInvalid); 5xx and network failures are ErrTransient.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (SubmitResponse, error) {
	if req.PromptID == "" {
		req.PromptID = NewPromptID()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return SubmitResponse{}, fmt.Errorf("encode prompt %s: %w", req.PromptID, err)
	}
	data, status, err := c.do(ctx, http.MethodPost, "/prompt", nil, "application/json", body)
	if err != nil {
		return SubmitResponse{}, err
	}
	switch {
	case status == http.StatusBadRequest:
		return SubmitResponse{}, parsePromptError(data)
	case status != http.StatusOK:
		return SubmitResponse{}, &HTTPError{Method: http.MethodPost, Path: "/prompt", Status: status, Body: short(data)}
	}
	var out struct {
		PromptID   string          `json:"prompt_id"`
		Number     json.Number     `json:"number"`
		NodeErrors json.RawMessage `json:"node_errors"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return SubmitResponse{}, fmt.Errorf("POST /prompt: decode answer: %w", transientError{err})
	}
	resp := SubmitResponse{PromptID: out.PromptID, Number: out.Number, NodeErrors: parseNodeErrors(out.NodeErrors)}
	if resp.PromptID == "" {
		resp.PromptID = req.PromptID
	}
	return resp, nil
}

// parsePromptError reads a 400 body {"error": {...}, "node_errors": {...}}.
func parsePromptError(data []byte) *PromptError {
	var body struct {
		Error      json.RawMessage `json:"error"`
		NodeErrors json.RawMessage `json:"node_errors"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return &PromptError{Type: "unreadable", Message: short(data)}
	}
	pe := &PromptError{NodeErrors: parseNodeErrors(body.NodeErrors)}
	var e struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Details string `json:"details"`
	}
	if json.Unmarshal(body.Error, &e) == nil {
		pe.Type, pe.Message, pe.Details = e.Type, e.Message, e.Details
	} else {
		var s string // some servers and proxies answer {"error": "text"}
		_ = json.Unmarshal(body.Error, &s)
		pe.Type, pe.Message = "error", s
	}
	return pe
}

// parseNodeErrors flattens node_errors into node id -> "type: message: details".
func parseNodeErrors(raw json.RawMessage) map[string][]string {
	var ne map[string]struct {
		ClassType string `json:"class_type"`
		Errors    []struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Details string `json:"details"`
		} `json:"errors"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &ne) != nil || len(ne) == 0 {
		return nil
	}
	out := make(map[string][]string, len(ne))
	for id, n := range ne {
		for _, e := range n.Errors {
			msg := e.Message
			if e.Details != "" {
				msg += ": " + e.Details
			}
			if n.ClassType != "" {
				msg = "(" + n.ClassType + ") " + msg
			}
			out[id] = append(out[id], msg)
		}
		if len(n.Errors) == 0 {
			out[id] = append(out[id], "("+n.ClassType+") invalid")
		}
	}
	return out
}

// History returns the history entry of a prompt, or nil, nil when the
// server has none yet: pending, running, finished a moment ago (§5.3) or
// lost in a restart.
func (c *Client) History(ctx context.Context, promptID string) (*HistoryEntry, error) {
	data, err := c.call(ctx, http.MethodGet, "/history/"+url.PathEscape(promptID), nil, "", nil)
	if err != nil {
		return nil, err
	}
	var all map[string]*HistoryEntry
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("GET /history/%s: decode: %w", promptID, transientError{err})
	}
	h := all[promptID]
	if h == nil {
		return nil, nil
	}
	h.PromptID = promptID
	return h, nil
}

// Queue returns the server's queue with pending prompts in execution order.
func (c *Client) Queue(ctx context.Context) (QueueState, error) {
	data, err := c.call(ctx, http.MethodGet, "/queue", nil, "", nil)
	if err != nil {
		return QueueState{}, err
	}
	var q struct {
		Running []QueueItem `json:"queue_running"`
		Pending []QueueItem `json:"queue_pending"`
	}
	if err := json.Unmarshal(data, &q); err != nil {
		return QueueState{}, fmt.Errorf("GET /queue: decode: %w", transientError{err})
	}
	sortQueue(q.Pending)
	return QueueState{Running: q.Running, Pending: q.Pending}, nil
}

// DeleteQueued removes pending prompts; running ones are untouched (use
// Interrupt). Unknown ids are ignored by the server.
func (c *Client) DeleteQueued(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := c.postJSON(ctx, "/queue", map[string]any{"delete": ids})
	return err
}

// Interrupt stops promptID if it is the running prompt, and does nothing
// otherwise. An empty promptID is refused: a global interrupt could stop
// someone else's prompt (§12.13).
func (c *Client) Interrupt(ctx context.Context, promptID string) error {
	if promptID == "" {
		return fmt.Errorf("interrupt: empty prompt id: %w", comfybatch.ErrInvalid)
	}
	_, err := c.postJSON(ctx, "/interrupt", map[string]string{"prompt_id": promptID})
	return err
}

// Free asks the server to unload models and/or free memory (and the node
// cache) between prompts.
func (c *Client) Free(ctx context.Context, unload, freeMem bool) error {
	_, err := c.postJSON(ctx, "/free", map[string]bool{"unload_models": unload, "free_memory": freeMem})
	return err
}

// View downloads one file named by history (GET /view).
func (c *Client) View(ctx context.Context, ref ImageRef) ([]byte, error) {
	q := url.Values{"filename": {ref.Filename}}
	if ref.Subfolder != "" {
		q.Set("subfolder", ref.Subfolder)
	}
	if ref.Type != "" {
		q.Set("type", ref.Type)
	}
	data, err := c.call(ctx, http.MethodGet, "/view", q, "", nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", ref.Filename, err)
	}
	return data, nil
}

// Upload sends an input image (POST /upload/image, type input) and returns
// the name to put in a LoadImage node: the server may rename the file.
func (c *Client) Upload(ctx context.Context, name string, data []byte) (string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("image", name)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	if _, err := fw.Write(data); err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	if err := mw.WriteField("type", "input"); err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	if err := mw.Close(); err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	out, err := c.call(ctx, http.MethodPost, "/upload/image", nil, mw.FormDataContentType(), body.Bytes())
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	var r struct {
		Name      string `json:"name"`
		Subfolder string `json:"subfolder"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Name == "" {
		return "", fmt.Errorf("upload %s: answer without a name: %q: %w", name, short(out), errBadAnswer)
	}
	if r.Subfolder != "" {
		return r.Subfolder + "/" + r.Name, nil
	}
	return r.Name, nil
}

// ObjectInfo returns GET /object_info, the server's node catalogue.
func (c *Client) ObjectInfo(ctx context.Context) (json.RawMessage, error) {
	data, err := c.call(ctx, http.MethodGet, "/object_info", nil, "", nil)
	return json.RawMessage(data), err
}

// SystemStats returns GET /system_stats; the fleet uses it as a health probe.
func (c *Client) SystemStats(ctx context.Context) (json.RawMessage, error) {
	data, err := c.call(ctx, http.MethodGet, "/system_stats", nil, "", nil)
	if err == nil && !json.Valid(data) {
		return nil, fmt.Errorf("GET /system_stats: not JSON: %w", transientError{errBadAnswer})
	}
	return json.RawMessage(data), err
}

package generate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one JSON WebSocket message. Binary frames (previews) are
// dropped.
type Message struct {
	// Type is the event name: "status", "execution_start",
	// "execution_success", "executing", ...
	Type string
	// PromptID is data.prompt_id, empty when absent.
	PromptID string
	// Node is data.node when it is a string (every type that has one:
	// executing, progress, executed, ...): nil when data has no node or
	// it is null, as in executing's end-of-prompt {node: null}.
	Node *string
	// HasTimestamp is true when data carries "timestamp"; an
	// execution_error without one is a non-terminal warning (§4.3).
	HasTimestamp bool
	// Data is the raw data object.
	Data json.RawMessage
}

// Terminal reports whether the message ends its prompt: execution_success,
// execution_error (with a timestamp), execution_interrupted, or executing
// with node null (comfyui-protocol.md §4.3).
func (m Message) Terminal() bool {
	switch m.Type {
	case "execution_success", "execution_interrupted":
		return true
	case "execution_error":
		return m.HasTimestamp
	case "executing":
		return m.Node == nil && m.PromptID != ""
	}
	return false
}

// Watch is one WebSocket connection. One goroutine, owned by the Watch,
// reads frames and sends messages on the channel returned by Messages; the
// channel is closed when the connection ends. Close stops the goroutine and
// waits for it.
type Watch struct {
	conn     *websocket.Conn
	clientID string
	msgs     chan Message
	done     chan struct{}
	stop     chan struct{} // closed by Close so a blocked send gives up
	closeOne sync.Once
	wg       sync.WaitGroup
	err      error // set by the read loop before msgs is closed

	status chan struct{} // closed by the read loop at the first status message
}

// statusWait bounds how long Connect waits for the status message a
// server sends a socket it has registered, for a server (or proxy) that
// sends none: after that the socket is used anyway, and history polling
// covers what it may miss.
const statusWait = 5 * time.Second

// Connect opens /ws?clientId=clientID. Prompts must be submitted with the
// same client id to have their events routed to this socket (§4.2).
//
// It returns once the server's first status message has arrived (it stays
// first on Messages). ComfyUI completes the handshake before it registers
// the socket and sends that message, so a prompt submitted in between
// would have its first events sent to no one.
func (c *Client) Connect(ctx context.Context, clientID string) (*Watch, error) {
	u := *c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/ws"
	u.RawQuery = url.Values{"clientId": {clientID}}.Encode()
	h := http.Header{}
	for k, v := range c.headers {
		h.Set(k, v)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect websocket: %w", ctx.Err())
		}
		if resp != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("connect websocket: %w", &HTTPError{Method: http.MethodGet, Path: "/ws", Status: resp.StatusCode})
		}
		return nil, fmt.Errorf("connect websocket: %w", transientError{err})
	}
	w := &Watch{conn: conn, clientID: clientID, msgs: make(chan Message, 64), done: make(chan struct{}), stop: make(chan struct{}),
		status: make(chan struct{})}
	w.wg.Add(1)
	go w.readLoop() // owned by w: Close waits for it
	t := time.NewTimer(statusWait)
	defer t.Stop()
	select {
	case <-w.status:
	case <-w.done:
		select {
		case <-w.status: // the status came, then the connection ended
		default:
			w.Close()
			return nil, fmt.Errorf("connect websocket: %w", w.err)
		}
	case <-t.C:
	case <-ctx.Done():
		w.Close()
		return nil, fmt.Errorf("connect websocket: %w", ctx.Err())
	}
	return w, nil
}

// ClientID returns the id this socket registered with.
func (w *Watch) ClientID() string { return w.clientID }

// Messages returns the channel of decoded messages. It is closed when the
// connection ends; Err then says why.
func (w *Watch) Messages() <-chan Message { return w.msgs }

// Err returns why the connection ended; valid after Messages is closed.
func (w *Watch) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// Close closes the connection and waits for the read loop to return.
func (w *Watch) Close() error {
	w.closeOne.Do(func() { close(w.stop); w.conn.Close() })
	w.wg.Wait()
	return nil
}

func (w *Watch) readLoop() {
	defer w.wg.Done()
	defer close(w.done)
	defer close(w.msgs)
	sawStatus := false
	for {
		kind, data, err := w.conn.ReadMessage()
		if err != nil {
			w.err = fmt.Errorf("websocket %s: %w", w.clientID, transientError{err})
			return
		}
		if kind != websocket.TextMessage {
			continue
		}
		m, ok := decodeMessage(data)
		if !ok {
			continue // one bad message (NaN, a custom node's text) must not end the connection
		}
		if m.Type == "status" && !sawStatus {
			sawStatus = true
			close(w.status)
		}
		select {
		case w.msgs <- m:
		case <-w.stop:
			w.err = fmt.Errorf("websocket %s: closed", w.clientID)
			return
		}
	}
}

// decodeMessage reads {"type": ..., "data": {...}}: with decodeMessageFast
// when the message is in the form ComfyUI writes, else with
// decodeMessageJSON. It reports false when b is not valid JSON or its type
// is not a non-empty string.
func decodeMessage(b []byte) (Message, bool) {
	if m, ok := decodeMessageFast(b); ok {
		return m, true
	}
	return decodeMessageJSON(b)
}

// decodeMessageJSON is decodeMessage with encoding/json, for any input.
// Data is the raw data value (nil when absent); PromptID, Node and
// HasTimestamp are read from data only when it decodes as an object whose
// prompt_id and node are strings or null.
func decodeMessageJSON(b []byte) (Message, bool) {
	var env struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(b, &env) != nil || env.Type == "" {
		return Message{}, false
	}
	m := Message{Type: env.Type, Data: env.Data}
	var d struct {
		PromptID  string           `json:"prompt_id"`
		Node      *string          `json:"node"`
		Timestamp *json.RawMessage `json:"timestamp"`
	}
	if json.Unmarshal(env.Data, &d) == nil {
		m.PromptID, m.Node, m.HasTimestamp = d.PromptID, d.Node, d.Timestamp != nil
	}
	return m, true
}

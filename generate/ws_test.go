package generate

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsServer serves /ws with handle, which gets the upgraded connection.
func wsServer(t *testing.T, handle func(c *websocket.Conn)) *Client {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		handle(c)
		<-done
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return NewClient(srv.URL, nil, ClientOptions{Logger: testLogger(t)})
}

// TestConnectWaitsForStatus: Connect returns only once the server's first
// status message arrives (ComfyUI registers the socket just before it
// sends that message), and that message is still the first on Messages.
func TestConnectWaitsForStatus(t *testing.T) {
	const delay = 150 * time.Millisecond
	c := wsServer(t, func(conn *websocket.Conn) {
		time.Sleep(delay) // the handshake is done; the socket is not registered yet
		conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"status","data":{"status":{"exec_info":{"queue_remaining":0}},"sid":"s1"}}`))
	})
	start := time.Now()
	w, err := c.Connect(t.Context(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if took := time.Since(start); took < delay {
		t.Errorf("Connect returned after %v, before the status message (sent after %v)", took, delay)
	}
	select {
	case m := <-w.Messages():
		if m.Type != "status" {
			t.Errorf("first message %q, want status", m.Type)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the status message was not delivered")
	}
}

// TestConnectFailsWhenClosedBeforeStatus: a socket the server closes
// before it sends its status is an error from Connect, not a Watch that
// never hears anything.
func TestConnectFailsWhenClosedBeforeStatus(t *testing.T) {
	c := wsServer(t, func(conn *websocket.Conn) {
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "restarting"))
		conn.Close()
	})
	w, err := c.Connect(t.Context(), "s1")
	if err == nil {
		w.Close()
		t.Fatal("Connect = nil error for a socket closed before its status message")
	}
}

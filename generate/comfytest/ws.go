package comfytest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is one websocket. Messages are queued under Server.mu (so every
// socket sees events in the order the server emitted them, §4.4) and written
// by the socket's own writer goroutine, so a slow client never blocks the worker.
type wsConn struct {
	c       *websocket.Conn
	sid     string
	out     []wsFrame     // guarded by Server.mu
	notify  chan struct{} // one-slot: out is non-empty
	done    chan struct{} // closed when the socket is dropped
	dropped bool          // guarded by Server.mu
	flags   map[string]any
	gotText bool // first text message seen (feature_flags only counts there)
	// queued and written count frames pushed and frames the writer has
	// sent (guarded by Server.mu), so POST /prompt can wait for a
	// prompt's first events to be on the wire (ReplyAfterEvents).
	queued, written int64
	// texts counts the text messages the reader handled and serial orders
	// the sockets of a Server (both guarded by Server.mu; tests read them).
	texts  int
	serial int
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // origin checked in ServeHTTP
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already answered
	}
	sid := r.URL.Query().Get("clientId")
	if sid == "" {
		var b [16]byte
		rand.Read(b[:])
		sid = hex.EncodeToString(b[:])
	}
	wc := &wsConn{c: c, sid: sid, notify: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed || s.faults.Down {
		s.mu.Unlock()
		c.Close()
		return
	}
	// The handler returns right away; the two goroutines are owned by s.wg
	// and end when the socket is dropped (Close waits for them).
	s.wg.Add(2)
	s.nextConn++
	wc.serial = s.nextConn
	s.conns[wc] = true
	s.sockets[sid] = wc // an older socket with this sid stays open but unregistered (§4.1)
	s.changedLocked()
	data := s.statusData()
	data["sid"] = sid
	s.enqueueLocked(wc, "status", data)
	if s.running != nil && s.running.clientID == sid && s.runNode != "" {
		s.enqueueLocked(wc, "executing", map[string]any{"node": s.runNode})
	}
	s.mu.Unlock()
	s.log.Debug("websocket connected", "sid", sid)
	go s.wsWriter(wc)
	go s.wsReader(wc)
}

func (s *Server) wsReader(wc *wsConn) {
	defer s.wg.Done()
	for {
		typ, msg, err := wc.c.ReadMessage()
		if err != nil {
			break
		}
		if typ != websocket.TextMessage {
			continue
		}
		first := !wc.gotText
		wc.gotText = true
		var m struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		reply := json.Unmarshal(msg, &m) == nil && first && m.Type == "feature_flags"
		s.mu.Lock()
		if reply { // ComfyUI ignores everything but a first feature_flags message
			wc.flags = m.Data
			s.enqueueLocked(wc, "feature_flags", s.features())
		}
		wc.texts++
		s.changedLocked()
		s.mu.Unlock()
	}
	s.mu.Lock()
	if s.opts.SameSIDQuirk || s.sockets[wc.sid] == wc {
		delete(s.sockets, wc.sid)
	}
	s.dropLocked(wc)
	s.mu.Unlock()
}

func (s *Server) wsWriter(wc *wsConn) {
	defer s.wg.Done()
	for {
		select {
		case <-wc.done:
			wc.c.Close()
			return
		case <-wc.notify:
		}
		s.mu.Lock()
		batch := wc.out
		wc.out = nil
		s.mu.Unlock()
		for _, m := range batch {
			wc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			typ := websocket.TextMessage
			if m.binary {
				typ = websocket.BinaryMessage
			}
			if err := wc.c.WriteMessage(typ, m.data); err != nil {
				s.mu.Lock()
				s.dropLocked(wc)
				s.mu.Unlock()
				break
			}
		}
		if s.opts.ReplyOrder == ReplyAfterEvents {
			s.mu.Lock()
			wc.written += int64(len(batch))
			s.changedLocked()
			s.mu.Unlock()
		}
	}
}

// dropLocked closes one socket (its writer closes the connection, which ends
// its reader). Callers hold s.mu.
func (s *Server) dropLocked(wc *wsConn) {
	if wc.dropped {
		return
	}
	wc.dropped = true
	delete(s.conns, wc)
	if s.sockets[wc.sid] == wc {
		delete(s.sockets, wc.sid)
	}
	close(wc.done)
	wc.c.Close() // unblocks the reader now, even if the writer is mid-write
	s.changedLocked()
}

func (s *Server) dropSocketsLocked() {
	for wc := range s.conns {
		s.dropLocked(wc)
	}
}

func (s *Server) enqueueLocked(wc *wsConn, typ string, data map[string]any) {
	b, err := json.Marshal(map[string]any{"type": typ, "data": data})
	if err != nil {
		s.log.Error("encode websocket message", "type", typ, "err", err)
		return
	}
	wc.push(wsFrame{data: b})
}

// wsFrame is one queued websocket message.
type wsFrame struct {
	binary bool
	data   []byte
}

// push queues a frame. Callers hold Server.mu.
func (wc *wsConn) push(f wsFrame) {
	wc.out = append(wc.out, f)
	wc.queued++
	select {
	case wc.notify <- struct{}{}:
	default:
	}
}

// sendLocked emits one message: to the socket registered for sid, or to every
// registered socket when sid is "" (§4.2): a socket whose client id was
// taken over by a newer one gets no broadcasts either, as in ComfyUI, which
// broadcasts over its sid table. Subscribers see every message. Callers
// hold s.mu.
func (s *Server) sendLocked(typ string, data map[string]any, sid string) {
	s.publishLocked(Event{Type: typ, Data: data, SID: sid})
	if sid == "" {
		for _, wc := range s.sockets {
			s.enqueueLocked(wc, typ, data)
		}
		return
	}
	if wc := s.sockets[sid]; wc != nil {
		s.enqueueLocked(wc, typ, data)
	}
}

// sendPreviewLocked sends a binary preview frame (§4.6) to sid, or to every
// socket when sid is "". frame builds the bytes for one socket, since the
// frame type depends on that socket's feature flags. Callers hold s.mu.
func (s *Server) sendPreviewLocked(sid string, frame func(metadata bool) []byte) {
	targets := []*wsConn{}
	if sid == "" {
		for _, wc := range s.sockets {
			targets = append(targets, wc)
		}
	} else if wc := s.sockets[sid]; wc != nil {
		targets = append(targets, wc)
	}
	for _, wc := range targets {
		meta := sid != "" && wc.flags["supports_preview_metadata"] == true
		if b := frame(meta); b != nil {
			wc.push(wsFrame{binary: true, data: b})
		}
	}
}

// features are the server feature flags (§4.1), also served by GET /features.
// max_upload_size is an integer unless --max-upload-size is given (§0.1
// item 3).
func (s *Server) features() map[string]any {
	f := map[string]any{"supports_preview_metadata": true, "max_upload_size": s.opts.MaxUploadSize}
	if s.prof.featureExtension {
		f["extension"] = map[string]any{"manager": map[string]any{"supports_v4": true}}
	}
	return f
}

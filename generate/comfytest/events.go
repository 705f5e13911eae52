package comfytest

import (
	"context"
)

// Event is one message the Server emitted, whether or not a socket received it.
type Event struct {
	Type string         // websocket message type: status, execution_start, executing, ...; "history" when an entry was written
	Data map[string]any // the message's data object; do not modify
	SID  string         // the client it was addressed to; "" means broadcast
}

// PromptID returns Data["prompt_id"] or "".
func (e Event) PromptID() string {
	id, _ := e.Data["prompt_id"].(string)
	return id
}

// Subscribe returns a channel that receives every Event from now on, and a
// function that ends the subscription. The channel is buffered (4096); a
// subscriber that falls that far behind loses events rather than stalling
// the server. Close closes the channel.
func (s *Server) Subscribe() (<-chan Event, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan Event, 4096)
	id := s.nextSub
	s.nextSub++
	if s.closed {
		close(ch)
		return ch, func() {}
	}
	s.subs[id] = ch
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.subs[id]; ok {
			close(c)
			delete(s.subs, id)
		}
	}
}

func (s *Server) publishLocked(e Event) {
	for _, ch := range s.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// changedLocked wakes every WaitIdle/WaitHistory. Callers hold s.mu.
func (s *Server) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor blocks until cond (evaluated under s.mu) holds or ctx is done.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// WaitIdle blocks until nothing is pending or running, or ctx is done.
func (s *Server) WaitIdle(ctx context.Context) error {
	return s.waitFor(ctx, func() bool { return len(s.queue) == 0 && s.running == nil })
}

// WaitHistory blocks until the history entry of promptID exists, or ctx is done.
func (s *Server) WaitHistory(ctx context.Context, promptID string) error {
	return s.waitFor(ctx, func() bool { return s.history[promptID] != nil })
}

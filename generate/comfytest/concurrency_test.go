package comfytest

import (
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sync/errgroup"
)

// TestConcurrentClients submits from several clients at once: every prompt
// finishes, and each client sees the per-prompt events of its own prompts only.
func TestConcurrentClients(t *testing.T) {
	sim, base := newSim(t, Options{})
	const clients, each = 3, 4
	socks := make([]*wsClient, clients)
	for i := range socks {
		socks[i] = dialWS(t, base, fmt.Sprintf("client-%d", i))
		socks[i].next(t)
	}
	ids := make([][]string, clients) // goroutine i writes ids[i] only
	var g errgroup.Group
	for i := range clients {
		g.Go(func() error {
			for j := range each {
				id, r := submit(t, base, withSteps(t, 2, i*100+j), fmt.Sprintf("client-%d", i))
				if r.status != 200 {
					return fmt.Errorf("client %d prompt %d: %d %s", i, j, r.status, r.body)
				}
				ids[i] = append(ids[i], id)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := sim.WaitIdle(deadline(t)); err != nil {
		t.Fatal(err)
	}
	for i, ws := range socks {
		remaining := slices.Clone(ids[i])
		for len(remaining) > 0 {
			m, ok := ws.next(t)
			if !ok {
				t.Fatalf("client %d: socket closed", i)
			}
			pid, has := m.Data["prompt_id"].(string)
			if !has || m.Type == "progress" || m.Type == "progress_state" {
				continue
			}
			if !slices.Contains(ids[i], pid) {
				t.Errorf("client %d received %s of another client's prompt %s", i, m.Type, pid)
			}
			if m.Type == "executing" && m.Data["node"] == nil {
				remaining = slices.DeleteFunc(remaining, func(x string) bool { return x == pid })
			}
		}
	}
	if st := sim.Stats(); st.Succeeded != clients*each {
		t.Errorf("Stats.Succeeded = %d, want %d", st.Succeeded, clients*each)
	}
}

// TestSameSIDReplacement covers §4.1 step 3: a second socket with the same
// clientId replaces the first; with SameSIDQuirk the old socket's close then
// unregisters the new one, as ComfyUI does.
func TestSameSIDReplacement(t *testing.T) {
	for _, quirk := range []bool{false, true} {
		t.Run(fmt.Sprint("quirk=", quirk), func(t *testing.T) {
			sim, base := newSim(t, Options{SameSIDQuirk: quirk})
			old := dialWS(t, base, "dup")
			old.next(t)
			fresh := dialWS(t, base, "dup")
			fresh.next(t)
			old.c.Close()
			for range old.msgs { // the old socket's reader has ended
			}
			// The server notices the close asynchronously: wait until the
			// old socket is gone from its table.
			if err := sim.waitFor(deadline(t), func() bool { return len(sim.conns) == 1 }); err != nil {
				t.Fatal(err)
			}
			id, _ := submit(t, base, withSteps(t, 1, 1), "dup")
			if err := sim.WaitHistory(deadline(t), id); err != nil {
				t.Fatal(err)
			}
			if quirk {
				// The fresh socket is unregistered: it gets nothing, not
				// even the status broadcasts, as the recorded servers did
				// (testdata/transcripts/*/ws_same_client_id_reconnect.json).
				sim.mu.Lock()
				var queued int64
				for wc := range sim.conns {
					queued = wc.queued
				}
				sim.mu.Unlock()
				if queued != 1 {
					t.Errorf("quirk: the fresh socket was sent %d messages, want only its connect status", queued)
				}
				return
			}
			got := fresh.until(t, finished(id))
			if !slices.ContainsFunc(got, func(m wsMsg) bool { return m.Type == "execution_start" }) {
				t.Errorf("no quirk: fresh socket got %v, want the prompt's events", types(got))
			}
		})
	}
}

// TestReplyAfterEvents covers Options.ReplyAfterEvents: when the answer to
// POST /prompt arrives, the prompt's first events (the connect status, the
// queue's and the worker's status, execution_start) are already written to
// its client's socket.
func TestReplyAfterEvents(t *testing.T) {
	sim, base := newSim(t, Options{ReplyOrder: ReplyAfterEvents})
	ws := dialWS(t, base, "after")
	ws.next(t)
	id, res := submit(t, base, withSteps(t, 1, 1), "after")
	if res.status != 200 {
		t.Fatalf("POST /prompt = %d %s", res.status, res.body)
	}
	sim.mu.Lock()
	var written int64
	for wc := range sim.conns {
		written = wc.written
	}
	sim.mu.Unlock()
	if written < 4 {
		t.Errorf("%d messages were on the socket when the answer came, want at least 4 (status ×3, execution_start)", written)
	}
	got := ws.until(t, finished(id))
	if i := slices.IndexFunc(got, func(m wsMsg) bool { return m.Type == "execution_start" }); i != 2 {
		t.Errorf("messages %v, want execution_start third", types(got))
	}
}

package score

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// batch gathers the images of concurrent Score calls into one request. The
// first caller to join leads: it waits until the batch is full or Linger has
// passed, sends it and hands every member its own result. No goroutine is
// started; each one belongs to its Score caller.
type batch struct {
	items []*pending    // guarded by CLIP.mu until the batch is detached
	full  chan struct{} // closed by the caller that fills the batch
}

// pending is one image waiting for its embedding.
type pending struct {
	uri  string
	done chan struct{} // closed once unit or err is set
	unit []float64
	err  error
}

func (c *CLIP) imageEmbedding(ctx context.Context, uri string) ([]float64, error) {
	p := &pending{uri: uri, done: make(chan struct{})}
	c.mu.Lock()
	b := c.cur
	leader := b == nil
	if leader {
		b = &batch{full: make(chan struct{})}
		c.cur = b
	}
	b.items = append(b.items, p)
	if len(b.items) >= c.o.MaxBatch {
		c.cur = nil
		close(b.full)
	}
	c.mu.Unlock()

	if leader {
		// The leader does not give up on its own cancellation: the batch
		// belongs to every member. The linger is short and each request is
		// bounded by Timeout.
		t := time.NewTimer(c.o.Linger)
		select {
		case <-b.full:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
		if c.cur == b {
			c.cur = nil
		}
		items := b.items
		c.mu.Unlock()
		c.sendImages(context.WithoutCancel(ctx), items)
	}
	select {
	case <-p.done:
		return p.unit, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sendImages embeds items in requests no larger than the largest batch the
// server has accepted, and completes every item.
func (c *CLIP) sendImages(ctx context.Context, items []*pending) {
	for len(items) > 0 {
		n := min(len(items), int(c.maxBatch.Load()))
		c.sendChunk(ctx, items[:n])
		items = items[n:]
	}
}

// sendChunk sends one request. A verdict on a request of several images
// (400, 413, 415, 422) is not pinned on any one of them, so the request is
// split in halves until each verdict falls on the images it concerns; a
// 413 also teaches the scorer to send smaller batches from then on.
func (c *CLIP) sendChunk(ctx context.Context, items []*pending) {
	uris := make([]string, len(items))
	for i, p := range items {
		uris[i] = p.uri
	}
	embs, err := c.embed(ctx, true, uris)
	if se, ok := errors.AsType[*StatusError](err); ok && verdict(se.Code) && len(items) > 1 {
		half := len(items) / 2
		if se.Code == http.StatusRequestEntityTooLarge {
			for {
				cur := c.maxBatch.Load()
				if int64(half) >= cur || c.maxBatch.CompareAndSwap(cur, int64(half)) {
					break
				}
			}
			c.o.Logger.Warn("embeddings server refused the batch size, splitting", "batch", len(items), "now", half)
		} else {
			c.o.Logger.Warn("embeddings server refused a batch, splitting it to find the image", "batch", len(items), "status", se.Code)
		}
		c.sendChunk(ctx, items[:half])
		c.sendChunk(ctx, items[half:])
		return
	}
	for i, p := range items {
		if err != nil {
			p.err = err
		} else {
			p.unit = normalize(embs[i])
		}
		close(p.done)
	}
}

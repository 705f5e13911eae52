package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// op is one unit of work for the writer: fn runs inside a transaction. An
// op with an ack is committed at once, on its own, and its outcome is sent
// on ack; an op with an ack and no fn is a flush barrier, answered with
// the errors of the ops before it.
type op struct {
	fn  func(t wtx) error
	ack chan error
	// images is set on ops whose rows point at image files: the writer
	// makes the files durable before it commits them.
	images bool
	// bypass lets an acked op commit before the queued writes held so far
	// (it does not depend on them): the per-submission attempt records,
	// which would otherwise pay for a sync of other jobs' images each.
	bypass bool
}

// writer is the one goroutine that writes: it takes ops from in and
// commits them in batches of up to size ops, or whatever arrived within
// interval, in one transaction each.
type writer struct {
	ctx      context.Context // not cancelled: Close drains the queue instead
	db       *sql.DB
	in       chan op
	size     int
	interval time.Duration
	log      *slog.Logger
	stmts    map[string]*sql.Stmt
	errs     []error // errors of un-acked ops since the last barrier; owned by run until it returns
	// beforeCommit runs before every transaction: it makes the image files
	// the batch's rows point at durable.
	beforeCommit func() error
}

// preparedQueries are the hot statements, prepared once on the single write
// connection. They can't be prepared lazily inside a transaction: the pool
// has one connection and the transaction holds it.
var preparedQueries = []string{qFinishJob, qUpsertCandidate, qDropOtherCandidates, qSetTotals, qReplaceScores,
	qSettleAttempts, qFailJob, qSubmitJob, qInsertAttempt, qPlanJob}

func newWriter(ctx context.Context, db *sql.DB, size int, interval time.Duration, log *slog.Logger, beforeCommit func() error) (*writer, error) {
	w := &writer{
		ctx: context.WithoutCancel(ctx), db: db, in: make(chan op, 2*size),
		size: size, interval: interval, log: log, stmts: make(map[string]*sql.Stmt), beforeCommit: beforeCommit,
	}
	for _, q := range preparedQueries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		w.stmts[q] = st
	}
	return w, nil
}

// close releases the prepared statements; call it after run has returned.
func (w *writer) close() error {
	var errs []error
	for _, st := range w.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// err returns the errors no barrier has reported yet; call it after run
// has returned.
func (w *writer) err() error { return errors.Join(w.errs...) }

// run commits until in is closed and drained. Queued writes (ops without
// an ack: RecordCandidates, RecordFailure) are held and committed
// together, up to size of them or whatever arrived within interval of the
// first, with one sync of their image files before the commit. A write
// that waits for its commit commits what is held first, then itself; the
// attempt records (bypass) commit at once on their own instead, so a
// submission never waits for other jobs' images to sync.
func (w *writer) run() {
	var held []op
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(held) > 0 {
			due = timer.C
		}
		select {
		case o, ok := <-w.in:
			if !ok {
				if len(held) > 0 {
					w.commit(held)
				}
				return
			}
			switch {
			case o.ack == nil:
				if len(held) == 0 {
					timer.Reset(w.interval)
				}
				held = append(held, o)
				if len(held) >= w.size {
					timer.Stop()
					w.commit(held)
					held = nil
				}
			case o.fn == nil: // a barrier
				timer.Stop()
				w.commit(append(held, o))
				held = nil
			case o.bypass:
				w.commit([]op{o})
			default: // ordered after what is held, but on its own
				if len(held) > 0 {
					timer.Stop()
					w.commit(held)
					held = nil
				}
				w.commit([]op{o})
			}
		case <-due:
			w.commit(held)
			held = nil
		}
	}
}

// commit writes batch in one transaction. If that fails it retries each op
// in a transaction of its own, so one bad record costs only itself.
func (w *writer) commit(batch []op) {
	errs := make([]error, len(batch))
	images := false
	for _, o := range batch {
		images = images || o.images
	}
	if err := w.syncFor(images); err != nil {
		// The rows must not point at files that may not survive a crash.
		for i := range errs {
			errs[i] = err
		}
		w.report(batch, errs)
		return
	}
	err := inTx(w.ctx, w.db, func(tx *sql.Tx) error {
		t := w.wtx(tx)
		for _, o := range batch {
			if o.fn != nil {
				if err := o.fn(t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	switch {
	case err == nil:
	case len(batch) == 1:
		errs[0] = err
	default:
		w.log.Debug("batch failed, retrying its records one by one", "records", len(batch), "err", err)
		for i, o := range batch {
			if o.fn != nil {
				errs[i] = inTx(w.ctx, w.db, func(tx *sql.Tx) error { return o.fn(w.wtx(tx)) })
			}
		}
	}
	w.report(batch, errs)
}

// report hands each op of a batch its outcome: acked ops get theirs, the
// others' errors wait for the next barrier.
func (w *writer) report(batch []op, errs []error) {
	for i, o := range batch {
		switch {
		case o.ack != nil && o.fn == nil:
			o.ack <- errors.Join(w.errs...)
			w.errs = nil
		case o.ack != nil:
			o.ack <- errs[i]
		case errs[i] != nil:
			w.log.Warn("store write failed", "err", errs[i])
			w.errs = append(w.errs, errs[i])
		}
	}
}

// wtx is the writer's transaction handed to ops.
type wtx struct {
	ctx context.Context
	tx  *sql.Tx
	w   *writer
	// bound holds the transaction's copies of the writer's prepared
	// statements, made on first use: database/sql keeps every copy
	// Tx.StmtContext makes until the transaction ends, so one per
	// statement executed grew with the transaction (a rescore of 100,000
	// candidates in one transaction kept 16 MB of them).
	bound map[string]*sql.Stmt
}

// wtx returns a wtx for tx.
func (w *writer) wtx(tx *sql.Tx) wtx {
	return wtx{ctx: w.ctx, tx: tx, w: w, bound: map[string]*sql.Stmt{}}
}

// stmt returns query's prepared statement bound to the transaction, or
// nil when the writer has none for it.
func (t wtx) stmt(query string) *sql.Stmt {
	if st, ok := t.bound[query]; ok {
		return st
	}
	st, ok := t.w.stmts[query]
	if !ok {
		return nil
	}
	st = t.tx.StmtContext(t.ctx, st)
	t.bound[query] = st
	return st
}

// exec runs query in the transaction, through its prepared statement when
// there is one.
func (t wtx) exec(query string, args ...any) (sql.Result, error) {
	if st := t.stmt(query); st != nil {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

// queryRow runs a query that returns one row (INSERT ... RETURNING) in the
// transaction, through its prepared statement when there is one.
func (t wtx) queryRow(query string, args ...any) *sql.Row {
	if st := t.stmt(query); st != nil {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

// enqueue hands o to the writer and returns once it is queued.
func (s *Store) enqueue(ctx context.Context, o op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.w.in <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs fn through the writer and returns once its transaction has
// committed (or failed), after every queued write before it. If ctx ends
// first do returns ctx's error, and fn may still commit later.
func (s *Store) do(ctx context.Context, fn func(t wtx) error) error {
	return s.wait(ctx, op{fn: fn})
}

// doBypass is do for a write that does not depend on the queued writes
// before it, which may then commit after it.
func (s *Store) doBypass(ctx context.Context, fn func(t wtx) error) error {
	return s.wait(ctx, op{fn: fn, bypass: true})
}

func (s *Store) wait(ctx context.Context, o op) error {
	ack := make(chan error, 1)
	o.ack = ack
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until everything queued before it has been committed and
// returns the errors of queued writes (RecordCandidate, RecordFailure)
// that failed since the previous Flush.
func (s *Store) Flush(ctx context.Context) error {
	if err := s.do(ctx, nil); err != nil {
		return fmt.Errorf("flush store: %w", err)
	}
	return nil
}

// syncFor makes image files durable before a batch whose rows point at
// images commits.
func (w *writer) syncFor(images bool) error {
	if !images || w.beforeCommit == nil {
		return nil
	}
	return w.beforeCommit()
}

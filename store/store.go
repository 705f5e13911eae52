package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned (wrapped) when a run or job that was asked for
// is not in the database.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by writes made after Close.
var ErrClosed = errors.New("store closed")

// Options configures a Store. The zero value is useful.
type Options struct {
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
	// BatchSize is the most records the writer commits in one
	// transaction; 0 means 256.
	BatchSize int
	// FlushInterval is the longest a queued record waits for its batch
	// to fill before it is committed anyway; 0 means 50ms.
	FlushInterval time.Duration
	// Now returns the current time; nil means time.Now. Tests replace it.
	Now func() time.Time
}

// Store is a run database plus the run folders its rows point into. It is
// safe for concurrent use: reads use their own connection pool and run in
// parallel; every write goes through one goroutine that commits in batches.
type Store struct {
	read  *sql.DB
	write *sql.DB
	log   *slog.Logger
	now   func() time.Time
	w     *writer
	// unsynced are image files written but not yet synced; the writer
	// syncs them before each commit (syncImages).
	unsynced unsynced

	// mu guards closed; senders hold it shared while they enqueue, so
	// Close (which holds it exclusively) cannot close the queue under them.
	mu     sync.RWMutex
	closed bool
	done   chan struct{} // closed when the writer goroutine has returned
}

// dsn returns the connection string for the database at path. Pragmas go
// in the DSN so every pooled connection gets them (state set with Exec
// stays on whichever connection ran it):
//   - journal_mode(wal): readers (batch show) never block the writer;
//   - busy_timeout(5000): contention waits instead of failing SQLITE_BUSY;
//   - foreign_keys(1): off by default in SQLite;
//   - synchronous(normal): in WAL mode survives a process crash; a power
//     cut may lose the last commits, which resume redoes.
//
// The write pool adds _txlock=immediate so BEGIN takes the write lock and a
// write transaction never fails half-way upgrading from reader to writer;
// the read pool is query_only, so a write can't bypass the writer.
func dsn(path string, write bool) string {
	s := "file:" + path + "?_pragma=journal_mode(wal)&_pragma=busy_timeout(5000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(normal)"
	if write {
		s += "&_txlock=immediate"
	} else {
		s += "&_pragma=query_only(1)" // every write goes through the writer
	}
	return s
}

// Open opens (creating it and its directory if needed) the database at
// path, applies any migrations it lacks and starts the writer. Close it
// when done.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open database %q: path must be non-empty and contain no '?' or '#'", path)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 256
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 50 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	write, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: the writer goroutine is the only user, and a single
	// connection keeps its prepared statements valid.
	write.SetMaxOpenConns(1)
	s := &Store{write: write, log: opts.Logger, now: opts.Now, done: make(chan struct{})}
	fail := func(err error) (*Store, error) {
		write.Close()
		if s.read != nil {
			s.read.Close()
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	var mode string
	if err := write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(err)
	}
	if mode != "wal" {
		return fail(fmt.Errorf("journal_mode is %q, want \"wal\" (is the file on a network file system?)", mode))
	}
	if err := migrate(ctx, write, s.log); err != nil {
		return fail(err)
	}
	if s.read, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		return fail(err)
	}
	s.w, err = newWriter(ctx, write, opts.BatchSize, opts.FlushInterval, s.log, s.syncImages)
	if err != nil {
		return fail(err)
	}
	// The writer goroutine is owned by s: Close waits for it via s.done.
	go func() {
		defer close(s.done)
		s.w.run()
	}()
	return s, nil
}

// Close commits everything queued, stops the writer, waits for it and
// closes the database. It returns the write errors not yet reported by
// Flush. Calling Close twice is safe; later calls return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.w.in)
	s.mu.Unlock()
	<-s.done
	return errors.Join(s.w.err(), s.w.close(), s.read.Close(), s.write.Close())
}

// inTx runs fn in one transaction on db: begin, run, commit; on any error
// the deferred Rollback undoes it (and is a no-op after Commit). Every
// transaction in this package goes through here.
func inTx(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// ms converts t to UTC unix milliseconds, or NULL for the zero time.
func ms(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMS is the inverse of ms.
func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// durMS converts a duration to milliseconds, NULL when zero.
func durMS(d time.Duration) sql.NullInt64 {
	if d == 0 {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: d.Milliseconds(), Valid: true}
}

// Checkpoint folds the write-ahead log into the database file (PRAGMA
// wal_checkpoint(TRUNCATE)), after committing everything queued, so the
// file's size is the database's.
func (s *Store) Checkpoint(ctx context.Context) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	// The write pool's one connection is shared with the writer, which is
	// idle after the flush; a checkpoint cannot run inside its transactions.
	if _, err := s.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

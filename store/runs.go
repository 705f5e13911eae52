package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Run statuses.
const (
	RunRunning     = "running"
	RunDone        = "done"
	RunFailed      = "failed"
	RunInterrupted = "interrupted"
)

// Run is one execution of a manifest.
type Run struct {
	ID           int64
	Name         string
	ManifestPath string
	ManifestText string
	ManifestHash string
	MasterSeed   uint64
	// Status is one of RunRunning, RunDone, RunFailed, RunInterrupted.
	Status string
	// OutputDir is the run folder; image paths are relative to it.
	OutputDir   string
	ToolVersion string
	Started     time.Time // UTC, millisecond precision
	Finished    time.Time // zero while running
}

func validRunStatus(s string) bool {
	switch s {
	case RunRunning, RunDone, RunFailed, RunInterrupted:
		return true
	}
	return false
}

// CreateRun records a new run and returns it with its ID. An empty Status
// means RunRunning and a zero Started means now.
func (s *Store) CreateRun(ctx context.Context, r Run) (Run, error) {
	if r.Status == "" {
		r.Status = RunRunning
	}
	if !validRunStatus(r.Status) {
		return Run{}, fmt.Errorf("create run %s: unknown status %q", r.Name, r.Status)
	}
	if r.Started.IsZero() {
		r.Started = s.now()
	}
	r.Started = time.UnixMilli(r.Started.UnixMilli()).UTC()
	if !r.Finished.IsZero() {
		r.Finished = time.UnixMilli(r.Finished.UnixMilli()).UTC()
	}
	err := s.do(ctx, func(t wtx) error {
		res, err := t.exec(`INSERT INTO runs (name, manifest_path, manifest_text, manifest_hash, master_seed,
			status, output_dir, tool_version, started_ms, finished_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.ManifestPath, r.ManifestText, r.ManifestHash, strconv.FormatUint(r.MasterSeed, 10),
			r.Status, r.OutputDir, r.ToolVersion, ms(r.Started), ms(r.Finished))
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("create run %s: %w", r.Name, err)
	}
	return r, nil
}

const runColumns = `id, name, manifest_path, manifest_text, manifest_hash, master_seed, status,
	output_dir, tool_version, started_ms, finished_ms`

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var (
		r                 Run
		seed              string
		started, finished sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.Name, &r.ManifestPath, &r.ManifestText, &r.ManifestHash, &seed, &r.Status,
		&r.OutputDir, &r.ToolVersion, &started, &finished)
	if err != nil {
		return Run{}, err
	}
	if r.MasterSeed, err = strconv.ParseUint(seed, 10, 64); err != nil {
		return Run{}, fmt.Errorf("run %d: master seed %q: %w", r.ID, seed, err)
	}
	r.Started, r.Finished = fromMS(started), fromMS(finished)
	return r, nil
}

// Run returns the run with the given id, or an error wrapping ErrNotFound.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(s.read.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("read run %d: %w", id, err)
	}
	return r, nil
}

// LatestRun returns the newest run of the manifest at manifestPath (the
// one to resume), and false when there is none.
func (s *Store) LatestRun(ctx context.Context, manifestPath string) (Run, bool, error) {
	r, err := scanRun(s.read.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE manifest_path = ? ORDER BY started_ms DESC, id DESC LIMIT 1`, manifestPath))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("read latest run of %s: %w", manifestPath, err)
	}
	return r, true, nil
}

// Runs returns every run, oldest first.
func (s *Store) Runs(ctx context.Context) ([]Run, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+runColumns+` FROM runs ORDER BY started_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// SetRunStatus sets a run's status. Any status but RunRunning also sets
// its finish time to now; RunRunning (a resume) clears it.
func (s *Store) SetRunStatus(ctx context.Context, id int64, status string) error {
	if !validRunStatus(status) {
		return fmt.Errorf("set status of run %d: unknown status %q", id, status)
	}
	var finished sql.NullInt64
	if status != RunRunning {
		finished = ms(s.now())
	}
	err := s.do(ctx, func(t wtx) error {
		res, err := t.exec(`UPDATE runs SET status = ?, finished_ms = ? WHERE id = ?`, status, finished, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set status of run %d to %s: %w", id, status, err)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/comfybatch/comfybatch"
)

// Run statuses.
const (
	RunRunning = "running"
	// RunDone: every job done, every candidate scored, every group full.
	RunDone = "done"
	// RunIncomplete: the run finished with failed jobs, candidates still
	// waiting for a scorer, or groups short of their top_k.
	RunIncomplete = "incomplete"
	// RunStopped: an outage (every instance, or a scorer) outlasted its
	// deadline and the run stopped cleanly.
	RunStopped     = "stopped"
	RunFailed      = "failed" // an unexpected error
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
	// Status is one of RunRunning, RunDone, RunIncomplete, RunStopped,
	// RunFailed, RunInterrupted.
	Status string
	// OutputDir is the run folder; image paths are relative to it.
	OutputDir   string
	ToolVersion string
	Started     time.Time // UTC, millisecond precision
	Finished    time.Time // zero while running
	// Workflow is the base API-format workflow every job patches, and
	// Sweep the names of the swept params in manifest order; with Bindings
	// they let job rows keep only their swept values. A run created
	// without Workflow (or read from before schema 2) keeps each job's
	// whole patched workflow instead.
	Workflow json.RawMessage
	Sweep    []string
	Bindings map[string]Binding
}

// Binding says which node input a param sets and the kind of its values
// (comfybatch.KindInt, KindFloat, ...).
type Binding struct {
	Node  string `json:"node"`
	Input string `json:"input"`
	Kind  string `json:"kind"`
}

// compact reports whether the run's job rows keep only swept values.
func (r Run) compact() bool { return len(r.Workflow) > 0 }

func validRunStatus(s string) bool {
	switch s {
	case RunRunning, RunDone, RunIncomplete, RunStopped, RunFailed, RunInterrupted:
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
	var sweep sql.NullString
	bindings := []byte("{}")
	if r.compact() {
		canon, err := comfybatch.Canonical(r.Workflow)
		if err != nil {
			return Run{}, fmt.Errorf("create run %s: base workflow: %w", r.Name, err)
		}
		r.Workflow = canon
		b, err := json.Marshal(nonNil(r.Sweep))
		if err != nil {
			return Run{}, fmt.Errorf("create run %s: %w", r.Name, err)
		}
		sweep = sql.NullString{String: string(b), Valid: true}
		for _, name := range r.Sweep {
			if _, ok := r.Bindings[name]; !ok {
				return Run{}, fmt.Errorf("create run %s: swept param %s has no binding", r.Name, name)
			}
		}
		if bindings, err = json.Marshal(r.Bindings); err != nil {
			return Run{}, fmt.Errorf("create run %s: %w", r.Name, err)
		}
	}
	err := s.do(ctx, func(t wtx) error {
		res, err := t.exec(`INSERT INTO runs (name, manifest_path, manifest_text, manifest_hash, master_seed,
			status, output_dir, tool_version, started_ms, finished_ms, workflow, sweep, bindings)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.ManifestPath, r.ManifestText, r.ManifestHash, strconv.FormatUint(r.MasterSeed, 10),
			r.Status, r.OutputDir, r.ToolVersion, ms(r.Started), ms(r.Finished), string(r.Workflow), sweep, string(bindings))
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
	output_dir, tool_version, started_ms, finished_ms, workflow, sweep, bindings`

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var (
		r                  Run
		seed, wf, bindings string
		sweep              sql.NullString
		started, finished  sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.Name, &r.ManifestPath, &r.ManifestText, &r.ManifestHash, &seed, &r.Status,
		&r.OutputDir, &r.ToolVersion, &started, &finished, &wf, &sweep, &bindings)
	if err != nil {
		return Run{}, err
	}
	if r.MasterSeed, err = strconv.ParseUint(seed, 10, 64); err != nil {
		return Run{}, fmt.Errorf("run %d: master seed %q: %w", r.ID, seed, err)
	}
	r.Started, r.Finished = fromMS(started), fromMS(finished)
	if wf != "" {
		r.Workflow = json.RawMessage(wf)
	}
	if sweep.Valid {
		if err := json.Unmarshal([]byte(sweep.String), &r.Sweep); err != nil {
			return Run{}, fmt.Errorf("run %d: sweep: %w", r.ID, err)
		}
	}
	if bindings != "{}" {
		if err := json.Unmarshal([]byte(bindings), &r.Bindings); err != nil {
			return Run{}, fmt.Errorf("run %d: bindings: %w", r.ID, err)
		}
	}
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

package store

import (
	"context"
	"fmt"
	"time"
)

// InstanceStat is what one ComfyUI instance did during a run.
type InstanceStat struct {
	Instance   string
	Prompts    int           // prompts submitted
	Failures   int           // prompts that failed
	Busy       time.Duration // time spent executing our prompts
	ModelLoads int           // affinity changes (checkpoint loads)
	Down       time.Duration // time the instance was unreachable
}

// SaveInstanceStats records st for run runID, replacing earlier stats of
// the same instances, and returns once committed.
func (s *Store) SaveInstanceStats(ctx context.Context, runID int64, st []InstanceStat) error {
	err := s.do(ctx, func(t wtx) error {
		for _, x := range st {
			_, err := t.exec(`INSERT INTO instance_stats (run_id, instance, prompts, failures, busy_ms, model_loads, down_ms)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, instance) DO UPDATE SET
				prompts = excluded.prompts, failures = excluded.failures, busy_ms = excluded.busy_ms,
				model_loads = excluded.model_loads, down_ms = excluded.down_ms`,
				runID, x.Instance, x.Prompts, x.Failures, x.Busy.Milliseconds(), x.ModelLoads, x.Down.Milliseconds())
			if err != nil {
				return fmt.Errorf("instance %s: %w", x.Instance, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save instance stats of run %d: %w", runID, err)
	}
	return nil
}

// InstanceStats returns the instance stats of run runID by instance name.
func (s *Store) InstanceStats(ctx context.Context, runID int64) ([]InstanceStat, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT instance, prompts, failures, busy_ms, model_loads, down_ms
		FROM instance_stats WHERE run_id = ? ORDER BY instance`, runID)
	if err != nil {
		return nil, fmt.Errorf("read instance stats of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []InstanceStat
	for rows.Next() {
		var (
			x          InstanceStat
			busy, down int64
		)
		if err := rows.Scan(&x.Instance, &x.Prompts, &x.Failures, &busy, &x.ModelLoads, &down); err != nil {
			return nil, fmt.Errorf("read instance stats of run %d: %w", runID, err)
		}
		x.Busy, x.Down = time.Duration(busy)*time.Millisecond, time.Duration(down)*time.Millisecond
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read instance stats of run %d: %w", runID, err)
	}
	return out, nil
}

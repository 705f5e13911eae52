package store

import (
	"context"
	"fmt"

	"github.com/comfybatch/comfybatch"
)

// SaveSelections replaces the selection of one group of run runID with
// sel, in one transaction, and returns once it has committed. Entries with
// an empty Group take group; any other group is an error.
func (s *Store) SaveSelections(ctx context.Context, runID int64, group string, sel []comfybatch.Selection) error {
	for i := range sel {
		if sel[i].Group != "" && sel[i].Group != group {
			return fmt.Errorf("save selection of group %s: entry %d belongs to group %s", group, i, sel[i].Group)
		}
	}
	err := s.do(ctx, func(t wtx) error {
		if _, err := t.exec(`DELETE FROM selections WHERE run_id = ? AND group_name = ?`, runID, group); err != nil {
			return err
		}
		for _, x := range sel {
			if _, err := t.exec(`INSERT INTO selections (run_id, group_name, rank, job_key, total, reason)
				VALUES (?, ?, ?, ?, ?, ?)`, runID, group, x.Rank, x.JobKey, x.Total, x.Reason); err != nil {
				return fmt.Errorf("rank %d (job %s): %w", x.Rank, x.JobKey, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save selection of group %s of run %d: %w", group, runID, err)
	}
	return nil
}

// Selections returns the selections of run runID by group, then rank.
func (s *Store) Selections(ctx context.Context, runID int64) ([]comfybatch.Selection, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT group_name, rank, job_key, total, reason FROM selections
		WHERE run_id = ? ORDER BY group_name, rank`, runID)
	if err != nil {
		return nil, fmt.Errorf("read selections of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []comfybatch.Selection
	for rows.Next() {
		var x comfybatch.Selection
		if err := rows.Scan(&x.Group, &x.Rank, &x.JobKey, &x.Total, &x.Reason); err != nil {
			return nil, fmt.Errorf("read selections of run %d: %w", runID, err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read selections of run %d: %w", runID, err)
	}
	return out, nil
}

package store

import (
	"context"
	"errors"
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
			res, err := t.exec(`INSERT INTO selections (run_id, group_name, rank, candidate_id, total, reason)
				SELECT ?, ?, ?, c.id, ?, ? FROM candidates c JOIN jobs j ON j.id = c.job_id
				WHERE j.run_id = ? AND j.job_key = ? AND c.node = ? AND c.batch_index = ?`,
				runID, group, x.Rank, x.Total, x.Reason, runID, x.JobKey, x.Output, x.BatchIndex)
			if err != nil {
				return fmt.Errorf("rank %d (candidate %s): %w", x.Rank, x.Ref(), err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errors.Join(err, fmt.Errorf("rank %d: candidate %s: %w", x.Rank, x.Ref(), ErrNotFound))
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
	rows, err := s.read.QueryContext(ctx, `SELECT x.group_name, x.rank, j.job_key, c.node, c.batch_index, x.total, x.reason
		FROM selections x JOIN candidates c ON c.id = x.candidate_id JOIN jobs j ON j.id = c.job_id
		WHERE x.run_id = ? ORDER BY x.group_name, x.rank`, runID)
	if err != nil {
		return nil, fmt.Errorf("read selections of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []comfybatch.Selection
	for rows.Next() {
		var x comfybatch.Selection
		if err := rows.Scan(&x.Group, &x.Rank, &x.JobKey, &x.Output, &x.BatchIndex, &x.Total, &x.Reason); err != nil {
			return nil, fmt.Errorf("read selections of run %d: %w", runID, err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read selections of run %d: %w", runID, err)
	}
	return out, nil
}

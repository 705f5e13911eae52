package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/comfybatch/comfybatch"
)

const (
	qUpsertCandidate = `INSERT INTO jobs (run_id, job_key, idx, group_name, params, workflow, inputs, tags, affinity,
			status, instance, prompt_id, attempts, error_class, error_message,
			queued_ms, started_ms, finished_ms, generation_ms, download_ms, total, rejected)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, '', '', ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, job_key) DO UPDATE SET
			status = 'done', instance = excluded.instance, prompt_id = excluded.prompt_id,
			attempts = excluded.attempts, error_class = '', error_message = '',
			queued_ms = excluded.queued_ms, started_ms = excluded.started_ms, finished_ms = excluded.finished_ms,
			generation_ms = excluded.generation_ms, download_ms = excluded.download_ms,
			total = excluded.total, rejected = excluded.rejected`
	qUpsertImage = `INSERT INTO images (run_id, job_key, sha256, rel_path, width, height, bytes)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, job_key) DO UPDATE SET
			sha256 = excluded.sha256, rel_path = excluded.rel_path, width = excluded.width,
			height = excluded.height, bytes = excluded.bytes`
	qDeleteScorerResults = `DELETE FROM scorer_results WHERE run_id = ? AND job_key = ?`
	qDeleteScores        = `DELETE FROM scores WHERE run_id = ? AND job_key = ?`
	qInsertScorerResult  = `INSERT INTO scorer_results (run_id, job_key, ord, scorer, error, vals) VALUES (?, ?, ?, ?, ?, ?)`
	qInsertScore         = `INSERT INTO scores (run_id, job_key, ord, scorer, metric, value) VALUES (?, ?, ?, ?, ?, ?)`
)

// RecordCandidate queues the record of a finished job: its row becomes
// done with instance, prompt id, attempt and timings, total and rejection,
// plus its image row (when Candidate.Path is set) and its scores, which
// replace any recorded before. Recording the same job again updates it;
// a job that was never planned is inserted. It returns once queued; write
// errors surface from Flush or Close.
//
// Write the image (WriteImage) before calling it: the file comes before
// the row that points at it.
func (s *Store) RecordCandidate(ctx context.Context, runID int64, sc comfybatch.Scored) error {
	c := sc.Candidate
	j := c.Job
	if j.Key == "" {
		return fmt.Errorf("record candidate %d of run %d: job has no key", j.Index, runID)
	}
	row, err := encodeJob(j)
	if err != nil {
		return fmt.Errorf("record candidate: %w", err)
	}
	type result struct {
		scorer, errText, vals string
		metrics               []string
	}
	results := make([]result, len(sc.Scores))
	for i, score := range sc.Scores {
		vals := []byte("{}")
		if len(score.Values) > 0 {
			if vals, err = json.Marshal(score.Values); err != nil {
				return fmt.Errorf("record candidate %s: scorer %s: %w", j.Key, score.Scorer, err)
			}
		}
		results[i] = result{scorer: score.Scorer, errText: score.Err, vals: string(vals), metrics: score.MetricNames()}
	}
	var generation time.Duration
	if !c.Started.IsZero() && !c.Finished.IsZero() {
		generation = c.Finished.Sub(c.Started)
	}
	width, height := imageSize(c)
	qerr := s.enqueue(ctx, op{fn: func(t wtx) error {
		if _, err := t.exec(qUpsertCandidate, runID, j.Key, j.Index, j.Group, row.params, row.workflow, row.inputs,
			row.tags, j.Affinity, c.Instance, c.PromptID, c.Attempt, ms(c.Queued), ms(c.Started), ms(c.Finished),
			durMS(generation), durMS(c.Download), sc.Total, sc.Rejected); err != nil {
			return fmt.Errorf("record candidate %s: %w", j.Key, err)
		}
		if c.Path != "" {
			if _, err := t.exec(qUpsertImage, runID, j.Key, c.SHA256, c.Path, width, height, len(c.Image)); err != nil {
				return fmt.Errorf("record image of candidate %s: %w", j.Key, err)
			}
		}
		if _, err := t.exec(qDeleteScores, runID, j.Key); err != nil {
			return fmt.Errorf("record scores of candidate %s: %w", j.Key, err)
		}
		if _, err := t.exec(qDeleteScorerResults, runID, j.Key); err != nil {
			return fmt.Errorf("record scores of candidate %s: %w", j.Key, err)
		}
		for i, r := range results {
			if _, err := t.exec(qInsertScorerResult, runID, j.Key, i, r.scorer, r.errText, r.vals); err != nil {
				return fmt.Errorf("record scorer %s of candidate %s: %w", r.scorer, j.Key, err)
			}
			for _, m := range r.metrics {
				if _, err := t.exec(qInsertScore, runID, j.Key, i, r.scorer, m, sc.Scores[i].Metrics[m]); err != nil {
					return fmt.Errorf("record score %s.%s of candidate %s: %w", r.scorer, m, j.Key, err)
				}
			}
		}
		if c.PromptID != "" {
			if _, err := t.exec(qAttemptsOutcome, c.PromptID, "done", runID, j.Key, c.PromptID); err != nil {
				return fmt.Errorf("record attempts of candidate %s: %w", j.Key, err)
			}
		}
		return nil
	}})
	if qerr != nil {
		return fmt.Errorf("record candidate %s: %w", j.Key, qerr)
	}
	return nil
}

// imageSize returns the candidate's pixel size: from Pixels when decoded,
// else from a PNG header, else 0, 0.
func imageSize(c comfybatch.Candidate) (int, int) {
	if c.Pixels != nil {
		b := c.Pixels.Bounds()
		return b.Dx(), b.Dy()
	}
	if w, h, ok := pngSize(c.Image); ok {
		return w, h
	}
	return 0, 0
}

// UpdateRanking rewrites the total and rejection reason of already
// recorded candidates (after ranking), in one transaction, and returns once
// it has committed. Candidates the run doesn't have are an error wrapping
// ErrNotFound, and nothing is changed.
func (s *Store) UpdateRanking(ctx context.Context, runID int64, ranked []comfybatch.Scored) error {
	err := s.do(ctx, func(t wtx) error {
		for _, sc := range ranked {
			key := sc.Candidate.Job.Key
			res, err := t.exec(`UPDATE jobs SET total = ?, rejected = ? WHERE run_id = ? AND job_key = ?`,
				sc.Total, sc.Rejected, runID, key)
			if err != nil {
				return fmt.Errorf("job %s: %w", key, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("job %s: %w", key, ErrNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update ranking of run %d: %w", runID, err)
	}
	return nil
}

// Candidates returns the done jobs of run runID (of one group, or all when
// group is ""), in plan order (index, then key), each with its scores in
// the order they were recorded (Score.Metrics is never nil; Score.Values
// is nil when empty). Candidate.Image and Pixels are not
// loaded: read the file at Run.OutputDir/Candidate.Path.
func (s *Store) Candidates(ctx context.Context, runID int64, group string) ([]comfybatch.Scored, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT j.job_key, j.idx, j.group_name, j.params, j.workflow, j.inputs,
			j.tags, j.affinity, j.instance, j.prompt_id, j.attempts, j.queued_ms, j.started_ms, j.finished_ms,
			j.download_ms, j.total, j.rejected, coalesce(i.rel_path, ''), coalesce(i.sha256, '')
		FROM jobs j LEFT JOIN images i ON i.run_id = j.run_id AND i.job_key = j.job_key
		WHERE j.run_id = ? AND j.status = 'done' AND (? = '' OR j.group_name = ?)
		ORDER BY j.idx, j.job_key`, runID, group, group)
	if err != nil {
		return nil, fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []comfybatch.Scored
	pos := make(map[string]int)
	for rows.Next() {
		var (
			sc                                comfybatch.Scored
			c                                 = &sc.Candidate
			params, workflow, inputs, tags    string
			queued, started, finished, dlTime sql.NullInt64
			total                             sql.NullFloat64
		)
		if err := rows.Scan(&c.Job.Key, &c.Job.Index, &c.Job.Group, &params, &workflow, &inputs, &tags,
			&c.Job.Affinity, &c.Instance, &c.PromptID, &c.Attempt, &queued, &started, &finished, &dlTime,
			&total, &sc.Rejected, &c.Path, &c.SHA256); err != nil {
			return nil, fmt.Errorf("read candidates of run %d: %w", runID, err)
		}
		if c.Job.Params, err = decodeParams(params); err != nil {
			return nil, fmt.Errorf("read candidate %s: %w", c.Job.Key, err)
		}
		c.Job.Workflow = json.RawMessage(workflow)
		if err := json.Unmarshal([]byte(inputs), &c.Job.Inputs); err != nil {
			return nil, fmt.Errorf("read candidate %s: inputs: %w", c.Job.Key, err)
		}
		if err := json.Unmarshal([]byte(tags), &c.Job.Tags); err != nil {
			return nil, fmt.Errorf("read candidate %s: tags: %w", c.Job.Key, err)
		}
		if len(c.Job.Inputs) == 0 {
			c.Job.Inputs = nil
		}
		if len(c.Job.Tags) == 0 {
			c.Job.Tags = nil
		}
		c.Queued, c.Started, c.Finished = fromMS(queued), fromMS(started), fromMS(finished)
		c.Download = time.Duration(dlTime.Int64) * time.Millisecond
		sc.Total = total.Float64
		pos[c.Job.Key] = len(out)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	if err := s.readScores(ctx, runID, out, pos); err != nil {
		return nil, err
	}
	return out, nil
}

// readScores fills in the Scores of out (indexed by job key in pos).
func (s *Store) readScores(ctx context.Context, runID int64, out []comfybatch.Scored, pos map[string]int) error {
	if len(out) == 0 {
		return nil
	}
	type slot struct {
		key string
		ord int
	}
	// where maps a scorer result to its place: out[where[0]].Scores[where[1]].
	where := make(map[slot][2]int)
	rows, err := s.read.QueryContext(ctx, `SELECT job_key, ord, scorer, error, vals FROM scorer_results
		WHERE run_id = ? ORDER BY job_key, ord`, runID)
	if err != nil {
		return fmt.Errorf("read scores of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			sl   slot
			sc   comfybatch.Score
			vals string
		)
		if err := rows.Scan(&sl.key, &sl.ord, &sc.Scorer, &sc.Err, &vals); err != nil {
			return fmt.Errorf("read scores of run %d: %w", runID, err)
		}
		i, ok := pos[sl.key]
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(vals), &sc.Values); err != nil {
			return fmt.Errorf("read scores of candidate %s: %w", sl.key, err)
		}
		if len(sc.Values) == 0 {
			sc.Values = nil
		}
		sc.Metrics = make(map[string]float64)
		out[i].Scores = append(out[i].Scores, sc)
		where[sl] = [2]int{i, len(out[i].Scores) - 1}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read scores of run %d: %w", runID, err)
	}
	mrows, err := s.read.QueryContext(ctx, `SELECT job_key, ord, metric, value FROM scores WHERE run_id = ?`, runID)
	if err != nil {
		return fmt.Errorf("read scores of run %d: %w", runID, err)
	}
	defer mrows.Close()
	for mrows.Next() {
		var (
			sl     slot
			metric string
			value  float64
		)
		if err := mrows.Scan(&sl.key, &sl.ord, &metric, &value); err != nil {
			return fmt.Errorf("read scores of run %d: %w", runID, err)
		}
		if w, ok := where[sl]; ok {
			out[w[0]].Scores[w[1]].Metrics[metric] = value
		}
	}
	if err := mrows.Err(); err != nil {
		return fmt.Errorf("read scores of run %d: %w", runID, err)
	}
	return nil
}

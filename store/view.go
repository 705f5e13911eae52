package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// The queries in this file serve the read views (show, compare, report,
// grid, export): they read what people look at and nothing the engine
// needs to resume (no workflow, inputs or tags), and they stream or
// aggregate in SQL, so their memory does not grow with the run.

// ViewCandidate is one done job as the read views see it.
type ViewCandidate struct {
	JobKey string
	// OutputNode and BatchIndex complete a candidate's identity once one
	// prompt can yield several images (issue 16); until the schema keeps
	// them they are "" and 0.
	OutputNode string
	BatchIndex int
	Index      int
	Group      string
	Params     []comfybatch.Param
	Instance   string
	PromptID   string
	Attempts   int
	Queued     time.Time
	Started    time.Time
	Finished   time.Time
	Generation time.Duration
	Download   time.Duration
	Total      float64
	Rejected   string
	// Path is the stored image relative to the run folder, "" when none
	// was recorded; SHA256, Width, Height and Bytes describe it.
	Path          string
	SHA256        string
	Width, Height int
	Bytes         int64
	// Scores are in the order they were recorded; Metrics is never nil,
	// Values is nil when empty.
	Scores []comfybatch.Score
}

// CandidateQuery narrows EachCandidate. The zero value means every done
// job of the run.
type CandidateQuery struct {
	// Group, when set, is the one group to read.
	Group string
	// Keys, when not nil, are the only job keys to read.
	Keys []string
	// NoScores skips reading scores, which is faster when only params,
	// totals and rejections are needed.
	NoScores bool
}

const qViewCandidates = `SELECT j.job_key, j.idx, j.group_name, j.params, j.instance, j.prompt_id, j.attempts,
		j.queued_ms, j.started_ms, j.finished_ms, j.generation_ms, j.download_ms, j.total, j.rejected,
		coalesce(i.rel_path, ''), coalesce(i.sha256, ''), coalesce(i.width, 0), coalesce(i.height, 0),
		coalesce(i.bytes, 0)%s
	FROM jobs j LEFT JOIN images i ON i.run_id = j.run_id AND i.job_key = j.job_key%s
	WHERE j.run_id = ? AND j.status = 'done' AND (? = '' OR j.group_name = ?)%s
	ORDER BY j.idx, j.job_key%s`

// EachCandidate calls fn with each done job of run runID that q selects,
// in plan order (index, then key), and stops at the first error fn
// returns, which it returns. It streams: one candidate is in memory at a
// time, however large the run.
func (s *Store) EachCandidate(ctx context.Context, runID int64, q CandidateQuery, fn func(ViewCandidate) error) error {
	args := []any{runID, q.Group, q.Group}
	keyFilter := ""
	if q.Keys != nil {
		keys, err := json.Marshal(q.Keys)
		if err != nil {
			return fmt.Errorf("read candidates of run %d: %w", runID, err)
		}
		keyFilter = " AND j.job_key IN (SELECT value FROM json_each(?))"
		args = append(args, string(keys))
	}
	// One row per metric (or per scorer without metrics, or per job
	// without scorers): the primary keys of scorer_results and scores
	// make the joins lookups, and ordering by them keeps a job's rows
	// together.
	scoreCols, scoreJoin, scoreOrder := ", NULL, NULL, NULL, NULL, NULL, NULL", "", ""
	if !q.NoScores {
		scoreCols = ", r.ord, r.scorer, r.error, r.vals, m.metric, m.value"
		scoreJoin = ` LEFT JOIN scorer_results r ON r.run_id = j.run_id AND r.job_key = j.job_key
		LEFT JOIN scores m ON m.run_id = r.run_id AND m.job_key = r.job_key AND m.ord = r.ord`
		scoreOrder = ", r.ord, m.metric"
	}
	query := fmt.Sprintf(qViewCandidates, scoreCols, scoreJoin, keyFilter, scoreOrder)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	defer rows.Close()
	var (
		cur     ViewCandidate
		have    bool
		lastOrd = -1
	)
	for rows.Next() {
		var (
			c                                  ViewCandidate
			params                             string
			queued, started, finished, gen, dl sql.NullInt64
			total, value                       sql.NullFloat64
			ord                                sql.NullInt64
			scorer, scoreErr, vals, metric     sql.NullString
		)
		if err := rows.Scan(&c.JobKey, &c.Index, &c.Group, &params, &c.Instance, &c.PromptID, &c.Attempts,
			&queued, &started, &finished, &gen, &dl, &total, &c.Rejected,
			&c.Path, &c.SHA256, &c.Width, &c.Height, &c.Bytes,
			&ord, &scorer, &scoreErr, &vals, &metric, &value); err != nil {
			return fmt.Errorf("read candidates of run %d: %w", runID, err)
		}
		if !have || c.JobKey != cur.JobKey {
			if have {
				if err := fn(cur); err != nil {
					return err
				}
			}
			if c.Params, err = decodeParams(params); err != nil {
				return fmt.Errorf("read candidate %s: %w", c.JobKey, err)
			}
			c.Queued, c.Started, c.Finished = fromMS(queued), fromMS(started), fromMS(finished)
			c.Generation = time.Duration(gen.Int64) * time.Millisecond
			c.Download = time.Duration(dl.Int64) * time.Millisecond
			c.Total = total.Float64
			cur, have, lastOrd = c, true, -1
		}
		if !ord.Valid {
			continue // no scorer results
		}
		if int(ord.Int64) != lastOrd {
			sc := comfybatch.Score{Scorer: scorer.String, Err: scoreErr.String, Metrics: map[string]float64{}}
			if vals.String != "" {
				if err := json.Unmarshal([]byte(vals.String), &sc.Values); err != nil {
					return fmt.Errorf("read scores of candidate %s: %w", cur.JobKey, err)
				}
				if len(sc.Values) == 0 {
					sc.Values = nil
				}
			}
			cur.Scores = append(cur.Scores, sc)
			lastOrd = int(ord.Int64)
		}
		if metric.Valid {
			cur.Scores[len(cur.Scores)-1].Metrics[metric.String] = value.Float64
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	if have {
		return fn(cur)
	}
	return nil
}

// ReasonCount is how many done jobs of a group share one rejection
// reason; Reason "" counts the ones not rejected.
type ReasonCount struct {
	Group  string
	Reason string
	Count  int
}

// RejectionCounts counts the done jobs of run runID by group and
// rejection reason, in SQL, ordered by group and reason.
func (s *Store) RejectionCounts(ctx context.Context, runID int64) ([]ReasonCount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT group_name, rejected, count(*) FROM jobs
		WHERE run_id = ? AND status = 'done' GROUP BY group_name, rejected ORDER BY group_name, rejected`, runID)
	if err != nil {
		return nil, fmt.Errorf("count rejections of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []ReasonCount
	for rows.Next() {
		var r ReasonCount
		if err := rows.Scan(&r.Group, &r.Reason, &r.Count); err != nil {
			return nil, fmt.Errorf("count rejections of run %d: %w", runID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count rejections of run %d: %w", runID, err)
	}
	return out, nil
}

// ClassCount is how many failed jobs of a group share one error class.
type ClassCount struct {
	Group string
	Class string
	Count int
}

// FailureClasses counts the failed jobs of run runID by group and error
// class, in SQL, ordered by group and class.
func (s *Store) FailureClasses(ctx context.Context, runID int64) ([]ClassCount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT group_name, error_class, count(*) FROM jobs
		WHERE run_id = ? AND status = 'failed' GROUP BY group_name, error_class ORDER BY group_name, error_class`, runID)
	if err != nil {
		return nil, fmt.Errorf("count failures of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []ClassCount
	for rows.Next() {
		var c ClassCount
		if err := rows.Scan(&c.Group, &c.Class, &c.Count); err != nil {
			return nil, fmt.Errorf("count failures of run %d: %w", runID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count failures of run %d: %w", runID, err)
	}
	return out, nil
}

// EachFailure calls fn with the failed jobs of run runID (of one group,
// or all when group is ""), in plan order, at most limit of them (all
// when limit <= 0), with their params. It stops at the first error fn
// returns, which it returns.
func (s *Store) EachFailure(ctx context.Context, runID int64, group string, limit int, fn func(Failure, []comfybatch.Param) error) error {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.read.QueryContext(ctx, `SELECT job_key, idx, group_name, attempts, error_class, error_message,
		instance, prompt_id, finished_ms, params FROM jobs WHERE run_id = ? AND status = 'failed'
		AND (? = '' OR group_name = ?) ORDER BY idx, job_key LIMIT ?`, runID, group, group, limit)
	if err != nil {
		return fmt.Errorf("read failures of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			f        Failure
			finished sql.NullInt64
			params   string
		)
		if err := rows.Scan(&f.JobKey, &f.Index, &f.Group, &f.Attempts, &f.Class, &f.Message,
			&f.Instance, &f.PromptID, &finished, &params); err != nil {
			return fmt.Errorf("read failures of run %d: %w", runID, err)
		}
		f.Finished = fromMS(finished)
		ps, err := decodeParams(params)
		if err != nil {
			return fmt.Errorf("read failure %s: %w", f.JobKey, err)
		}
		if err := fn(f, ps); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read failures of run %d: %w", runID, err)
	}
	return nil
}

// SelectedPath is where LayoutSelected puts the image of a selected
// candidate, relative to the run folder:
// selected/<group>/<rank>_<seed><ext>, the group sanitised to a file name
// and the first 12 characters of the job key standing in for a missing
// seed. imagePath is the stored image's path (for its extension).
func SelectedPath(group string, rank int, jobKey string, params []comfybatch.Param, imagePath string) string {
	seed := jobKey[:min(12, len(jobKey))]
	if v, ok := (comfybatch.Job{Params: params}).Seed(); ok {
		seed = strconv.FormatUint(v, 10)
	}
	return path.Join("selected", safeName(group), strconv.Itoa(rank)+"_"+seed+path.Ext(imagePath))
}

// ThumbPath is where a thumbnail of the image with hex SHA-256 sha is kept,
// relative to the run folder (see WriteThumbnail).
func ThumbPath(sha string) string {
	if len(sha) < 2 || strings.Trim(sha, "0123456789abcdef") != "" {
		return "" // not a hex digest: never a path
	}
	return "thumbs/" + sha[:2] + "/" + sha + ".jpg"
}

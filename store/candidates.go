package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// Candidate states: scored, or waiting for a scorer that was unavailable.
const (
	CandidateScored  = "scored"
	CandidatePending = "pending"
)

const (
	qFinishJob = `INSERT INTO jobs (run_id, job_key, idx, group_name, params, workflow, inputs, affinity, images,
			status, instance, prompt_id, attempts, queued_ms, started_ms, finished_ms, download_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, job_key) DO UPDATE SET
			status = 'done', images = excluded.images, instance = excluded.instance, prompt_id = excluded.prompt_id,
			attempts = excluded.attempts, error_class = '', error_message = '',
			queued_ms = excluded.queued_ms, started_ms = excluded.started_ms, finished_ms = excluded.finished_ms,
			download_ms = excluded.download_ms
		RETURNING id`
	qUpsertCandidate = `INSERT INTO candidates (job_id, node, batch_index, state, pending, sha256, rel_path,
			width, height, bytes, total, rejected, scores)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (job_id, node, batch_index) DO UPDATE SET
			state = excluded.state, pending = excluded.pending, sha256 = excluded.sha256,
			rel_path = excluded.rel_path, width = excluded.width, height = excluded.height,
			bytes = excluded.bytes, total = excluded.total, rejected = excluded.rejected, scores = excluded.scores
		RETURNING id`
	qDropOtherCandidates = `DELETE FROM candidates WHERE job_id = ? AND id NOT IN (SELECT value FROM json_each(?))`
	qReplaceScores       = `UPDATE candidates SET state = ?, pending = ?, total = ?, rejected = ?, scores = ?
		WHERE job_id = (SELECT id FROM jobs WHERE run_id = ? AND job_key = ?) AND node = ? AND batch_index = ?`
)

// candidateRow is one candidate's encoded columns.
type candidateRow struct {
	sc            comfybatch.Scored
	state         string
	pending       string
	width, height int
	scores        string // the scores column
}

func encodeCandidate(sc comfybatch.Scored) (candidateRow, error) {
	r := candidateRow{sc: sc, state: CandidateScored}
	if len(sc.Pending) > 0 {
		r.state, r.pending = CandidatePending, strings.Join(sc.Pending, ",")
	}
	r.width, r.height = imageSize(sc.Candidate)
	var err error
	r.scores, err = encodeScores(sc.Scores)
	return r, err
}

// total is the total column: NULL while the candidate waits for a scorer.
func (r candidateRow) total() sql.NullFloat64 {
	if r.state != CandidateScored {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: r.sc.Total, Valid: true}
}

// RecordCandidates queues the record of a finished job and every candidate
// it yielded, in one transaction: the job row becomes done with instance,
// prompt id, attempt and timings (from the first candidate), and each
// candidate (job, output node, batch index) gets its image, state, total,
// rejection and scores, which replace any recorded before. Candidates the
// job had before and cands does not name are removed, so a job is never
// half recorded. A job that was never planned is inserted. All cands must
// belong to one job. It returns once queued; write errors surface from
// Flush or Close.
//
// Write the images (WriteImage) before calling it: the file comes before
// the row that points at it.
func (s *Store) RecordCandidates(ctx context.Context, runID int64, cands []comfybatch.Scored) error {
	if len(cands) == 0 {
		return fmt.Errorf("record candidates of run %d: none given", runID)
	}
	first := cands[0].Candidate
	j := first.Job
	if j.Key == "" {
		return fmt.Errorf("record candidate %d of run %d: job has no key", j.Index, runID)
	}
	rows := make([]candidateRow, len(cands))
	for i, sc := range cands {
		if sc.Candidate.Job.Key != j.Key {
			return fmt.Errorf("record candidates of job %s: candidate %d belongs to job %s", j.Key, i, sc.Candidate.Job.Key)
		}
		var err error
		if rows[i], err = encodeCandidate(sc); err != nil {
			return fmt.Errorf("record candidate %s: %w", sc.Candidate.Ref(), err)
		}
	}
	// Only a job that was never planned needs these.
	params, err := encodeParams(j.Params)
	if err != nil {
		return fmt.Errorf("record candidate %s: %w", j.Key, err)
	}
	inputs, err := encodeInputs(j.Inputs)
	if err != nil {
		return fmt.Errorf("record candidate %s: %w", j.Key, err)
	}
	wf := string(j.Workflow)
	if wf == "" {
		wf = "{}"
	}
	download := time.Duration(0)
	for _, sc := range cands {
		download += sc.Candidate.Download
	}
	qerr := s.enqueue(ctx, op{images: true, fn: func(t wtx) error {
		var jobID int64
		err := t.queryRow(qFinishJob, runID, j.Key, j.Index, j.Group, params, wf, inputs, j.Affinity, len(cands),
			first.Instance, first.PromptID, first.Attempt, ms(first.Queued), ms(first.Started), ms(first.Finished),
			durMS(download)).Scan(&jobID)
		if err != nil {
			return fmt.Errorf("record job %s: %w", j.Key, err)
		}
		ids := make([]any, 0, len(rows))
		for _, r := range rows {
			id, err := writeCandidate(t, jobID, r)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		keep, err := json.Marshal(ids)
		if err != nil {
			return err
		}
		if _, err := t.exec(qDropOtherCandidates, jobID, string(keep)); err != nil {
			return fmt.Errorf("record job %s: %w", j.Key, err)
		}
		if first.PromptID != "" {
			if _, err := t.exec(qSettleAttempts, first.PromptID, OutcomeDone, jobID, first.PromptID); err != nil {
				return fmt.Errorf("record attempts of job %s: %w", j.Key, err)
			}
		}
		return nil
	}})
	if qerr != nil {
		return fmt.Errorf("record job %s: %w", j.Key, qerr)
	}
	return nil
}

// RecordCandidate records a job that yielded one candidate; see
// RecordCandidates.
func (s *Store) RecordCandidate(ctx context.Context, runID int64, sc comfybatch.Scored) error {
	return s.RecordCandidates(ctx, runID, []comfybatch.Scored{sc})
}

// writeCandidate upserts one candidate row of job jobID with its scores;
// it returns the candidate's row id.
func writeCandidate(t wtx, jobID int64, r candidateRow) (int64, error) {
	c := r.sc.Candidate
	var id int64
	if err := t.queryRow(qUpsertCandidate, jobID, c.Output, c.BatchIndex, r.state, r.pending, c.SHA256, c.Path,
		r.width, r.height, len(c.Image), r.total(), r.sc.Rejected, r.scores).Scan(&id); err != nil {
		return 0, fmt.Errorf("record candidate %s: %w", c.Ref(), err)
	}
	return id, nil
}

// ReplaceScores replaces, in one transaction, the scores, state, total
// and rejection of candidates already recorded (rescoring), leaving their
// jobs and images alone. It returns once committed; a candidate the run
// does not have is an error wrapping ErrNotFound, and then nothing changes.
func (s *Store) ReplaceScores(ctx context.Context, runID int64, cands []comfybatch.Scored) error {
	_, err := s.ReplaceScoresSeq(ctx, runID, func(yield func(comfybatch.Scored, error) bool) {
		for _, c := range cands {
			if !yield(c, nil) {
				return
			}
		}
	})
	return err
}

// ReplaceScoresSeq is ReplaceScores for candidates that arrive one at a
// time, so that a caller rescoring a million candidates never holds them
// all: it writes each candidate seq yields in one transaction, which
// commits once seq ends and is rolled back, leaving every stored score as
// it was, when seq yields an error (returned as it is) or a write fails.
// seq runs on the writer's goroutine, and other writes wait until it
// ends. It returns how many candidates were written.
func (s *Store) ReplaceScoresSeq(ctx context.Context, runID int64, seq iter.Seq2[comfybatch.Scored, error]) (int, error) {
	n := 0
	var stop error // from seq: returned as it is
	// A write that waits for its commit (do) commits in a transaction of
	// its own and is never retried, so seq is read once.
	err := s.do(ctx, func(t wtx) error {
		for sc, err := range seq {
			if err != nil {
				stop = err
				return err
			}
			r, err := encodeCandidate(sc)
			if err != nil {
				return fmt.Errorf("candidate %s: %w", sc.Candidate.Ref(), err)
			}
			c := r.sc.Candidate
			res, err := t.exec(qReplaceScores, r.state, r.pending, r.total(), r.sc.Rejected, r.scores,
				runID, c.Job.Key, c.Output, c.BatchIndex)
			if err != nil {
				return fmt.Errorf("candidate %s: %w", c.Ref(), err)
			}
			if m, err := res.RowsAffected(); err != nil || m == 0 {
				return errors.Join(err, fmt.Errorf("candidate %s: %w", c.Ref(), ErrNotFound))
			}
			n++
		}
		return nil
	})
	switch {
	case stop != nil:
		return 0, stop
	case err != nil:
		return 0, fmt.Errorf("replace scores of run %d: %w", runID, err)
	}
	return n, nil
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

// setTotalsRows is how many candidates one statement of SetTotals
// updates.
const setTotalsRows = 128

// setTotalsQuery updates n candidates from n (id, total, rejected) rows.
func setTotalsQuery(n int) string {
	return `UPDATE candidates SET total = v.column2, rejected = v.column3
		FROM (VALUES ` + strings.Repeat("(?, ?, ?), ", n-1) + `(?, ?, ?)) AS v WHERE candidates.id = v.column1`
}

// qSetTotals updates setTotalsRows candidates: one statement for many rows
// costs less than a statement per row.
var qSetTotals = setTotalsQuery(setTotalsRows)

// A Total is what ranking decided for one candidate: its total and its
// rejection reason ("" when it may be selected).
type Total struct {
	Candidate int64 // the candidate's id, as RankingCandidates returns it
	Total     float64
	Rejected  string
}

// SetTotals rewrites the total and rejection reason of recorded
// candidates (each id once), in one transaction, and returns once it has
// committed. A candidate id the database doesn't have is an error
// wrapping ErrNotFound, and nothing is changed.
func (s *Store) SetTotals(ctx context.Context, totals []Total) error {
	if len(totals) == 0 {
		return nil
	}
	err := s.do(ctx, func(t wtx) error {
		args := make([]any, 0, 3*setTotalsRows)
		for chunk := range slices.Chunk(totals, setTotalsRows) {
			args = args[:0]
			for _, x := range chunk {
				args = append(args, x.Candidate, x.Total, x.Rejected)
			}
			q := qSetTotals
			if len(chunk) < setTotalsRows {
				q = setTotalsQuery(len(chunk))
			}
			res, err := t.exec(q, args...)
			if err != nil {
				return fmt.Errorf("candidates %d to %d: %w", chunk[0].Candidate, chunk[len(chunk)-1].Candidate, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
				return errors.Join(err, fmt.Errorf("%d of candidates %d to %d: %w", int64(len(chunk))-n,
					chunk[0].Candidate, chunk[len(chunk)-1].Candidate, ErrNotFound))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set totals: %w", err)
	}
	return nil
}

// Candidates returns the candidates of the done jobs of run runID (of one
// group, or all when group is ""), in plan order (job index, then key,
// output node and batch index), each with its scores in the order they
// were recorded (Score.Metrics is never nil; Score.Values is nil when
// empty) and Pending set for candidates waiting for a scorer.
// Candidate.Image, Pixels and Job.Workflow are not loaded: read the file
// at Run.OutputDir/Candidate.Path, and JobWorkflow for the workflow.
func (s *Store) Candidates(ctx context.Context, runID int64, group string) ([]comfybatch.Scored, error) {
	var out []comfybatch.Scored
	err := s.eachScored(ctx, runID, group, false, func(sc comfybatch.Scored) error {
		out = append(out, sc)
		return nil
	})
	return out, err
}

// candidatesQuery reads the candidates of a run (args: run id), or of one
// group (args: run id, group). The group and state conditions are written
// only when they apply, so that SQLite reads a group through its index
// instead of the run; and the order is the order of the index it reads
// (the plan index, unique in a run, then columns that tell nothing apart),
// so that SQLite does not sort. TestReadPlans checks both.
func candidatesQuery(group, pendingOnly bool) string {
	where, order := `j.run_id = ? AND j.status = 'done'`, `j.idx, j.id`
	if group {
		where, order = where+` AND j.group_name = ?`, `j.idx, j.job_key, j.id`
	}
	if pendingOnly {
		where += ` AND c.state = 'pending'`
	}
	return `SELECT ` + candidateColumns + `, c.state, c.pending, c.total, c.rejected, c.scores
		FROM candidates c JOIN jobs j ON j.id = c.job_id
		WHERE ` + where + `
		ORDER BY ` + order + `, c.node, c.batch_index`
}

// qRankingCandidates reads one group's candidates for ranking (args: run
// id, group), in the order of the group index, as candidatesQuery does.
const qRankingCandidates = `SELECT c.id, j.job_key, j.idx, c.node, c.batch_index, c.state, c.pending,
		c.total, c.rejected, c.scores
	FROM candidates c JOIN jobs j ON j.id = c.job_id
	WHERE j.run_id = ? AND j.group_name = ? AND j.status = 'done'
	ORDER BY j.idx, j.job_key, j.id, c.node, c.batch_index`

// RankingCandidates returns one group's candidates with what ranking and
// selection need: identity, plan index, scores, total, rejection and
// pending scorers; and each one's id, for SetTotals. The rest (the job's
// params, inputs and tags, the image's path and hash, where and when it
// ran) is left out, which makes a large group cheaper to read and to
// hold; FillJobs reads it for the candidates that need it.
func (s *Store) RankingCandidates(ctx context.Context, runID int64, group string) ([]comfybatch.Scored, []int64, error) {
	rows, err := s.read.QueryContext(ctx, qRankingCandidates, runID, group)
	if err != nil {
		return nil, nil, fmt.Errorf("read candidates of group %s of run %d: %w", group, runID, err)
	}
	defer rows.Close()
	var (
		out []comfybatch.Scored
		ids []int64
	)
	for rows.Next() {
		var (
			sc                    comfybatch.Scored
			c                     = &sc.Candidate
			state, pending, score string
			total                 sql.NullFloat64
			id                    int64
		)
		if err := rows.Scan(&id, &c.Job.Key, &c.Job.Index, &c.Output, &c.BatchIndex, &state, &pending, &total,
			&sc.Rejected, &score); err != nil {
			return nil, nil, fmt.Errorf("read candidates of group %s of run %d: %w", group, runID, err)
		}
		c.Job.Group = group
		if err := readScoring(&sc, total, state, pending, score); err != nil {
			return nil, nil, err
		}
		out, ids = append(out, sc), append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read candidates of group %s of run %d: %w", group, runID, err)
	}
	return out, ids, nil
}

// EachScored calls fn with each candidate of run runID as Candidates
// returns them (pendingOnly: only those that wait for a scorer, Scored.Pending
// set), one at a time from one read, in plan order, so that a caller holds
// one candidate, not the run. An error from fn stops the read and is
// returned as it is.
func (s *Store) EachScored(ctx context.Context, runID int64, pendingOnly bool, fn func(comfybatch.Scored) error) error {
	return s.eachScored(ctx, runID, "", pendingOnly, fn)
}

func (s *Store) eachScored(ctx context.Context, runID int64, group string, pendingOnly bool, fn func(comfybatch.Scored) error) error {
	var only []string
	if group != "" {
		only = []string{group}
	}
	codec, err := s.codec(ctx, runID, only...)
	if err != nil {
		return err
	}
	args := []any{runID}
	if group != "" {
		args = append(args, group)
	}
	rows, err := s.read.QueryContext(ctx, candidatesQuery(group != "", pendingOnly), args...)
	if err != nil {
		return fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			sc                     comfybatch.Scored
			state, pending, scores string
			total                  sql.NullFloat64
		)
		if err := scanCandidate(rows, codec, &sc.Candidate, &state, &pending, &total, &sc.Rejected, &scores); err != nil {
			return fmt.Errorf("read candidates of run %d: %w", runID, err)
		}
		if err := readScoring(&sc, total, state, pending, scores); err != nil {
			return err
		}
		if err := fn(sc); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	return nil
}

// candidateColumns are the columns of a candidate (c) and its job (j)
// that make a comfybatch.Candidate, in scanCandidate's order.
const candidateColumns = `j.job_key, j.idx, j.group_name, j.params, j.inputs, j.affinity,
	j.instance, j.prompt_id, j.attempts, j.queued_ms, j.started_ms, j.finished_ms, j.download_ms,
	c.node, c.batch_index, c.rel_path, c.sha256`

// scanCandidate reads a row that starts with candidateColumns into c,
// and the columns after them into extra.
func scanCandidate(rows *sql.Rows, codec *runCodec, c *comfybatch.Candidate, extra ...any) error {
	var (
		params, inputs                    string
		queued, started, finished, dlTime sql.NullInt64
	)
	dest := append([]any{&c.Job.Key, &c.Job.Index, &c.Job.Group, &params, &inputs, &c.Job.Affinity,
		&c.Instance, &c.PromptID, &c.Attempt, &queued, &started, &finished, &dlTime,
		&c.Output, &c.BatchIndex, &c.Path, &c.SHA256}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	var err error
	if c.Job.Params, err = codec.params(c.Job.Group, params); err != nil {
		return fmt.Errorf("candidate %s: %w", c.Ref(), err)
	}
	if c.Job.Inputs, err = decodeInputs(inputs); err != nil {
		return fmt.Errorf("candidate %s: %w", c.Ref(), err)
	}
	c.Job.Tags = codec.groups[c.Job.Group].tags
	c.Queued, c.Started, c.Finished = fromMS(queued), fromMS(started), fromMS(finished)
	c.Download = time.Duration(dlTime.Int64) * time.Millisecond
	return nil
}

// FillJobs fills in what RankingCandidates leaves out of candidates: the
// job's params, inputs, tags and affinity, where and when it ran (instance,
// prompt id, attempts, times) and the image's SHA-256, in one query, so
// that they read as Candidates returns them. run is the candidates' run
// as Run or CreateRun returned it: a selection fills each group's
// candidates in turn, and the run is read once, not once per group.
func (s *Store) FillJobs(ctx context.Context, run Run, cands []comfybatch.Scored) error {
	runID := run.ID
	if len(cands) == 0 {
		return nil
	}
	idx := make([]int, 0, len(cands))
	var groups []string
	for _, c := range cands {
		idx = append(idx, c.Candidate.Job.Index)
		if !slices.Contains(groups, c.Candidate.Job.Group) {
			groups = append(groups, c.Candidate.Job.Group)
		}
	}
	codec, err := s.codecFor(ctx, run, groups...)
	if err != nil {
		return err
	}
	// By plan index rather than key: the jobs of a group are near one
	// another in the plan index, and far apart in the key's.
	list, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+candidateColumns+`
		FROM jobs j JOIN candidates c ON c.job_id = j.id
		WHERE j.run_id = ? AND j.idx IN (SELECT value FROM json_each(?))`, runID, string(list))
	if err != nil {
		return fmt.Errorf("read jobs of run %d: %w", runID, err)
	}
	defer rows.Close()
	read := map[comfybatch.Ref]comfybatch.Candidate{}
	for rows.Next() {
		var c comfybatch.Candidate
		if err := scanCandidate(rows, codec, &c); err != nil {
			return fmt.Errorf("read jobs of run %d: %w", runID, err)
		}
		read[c.Ref()] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read jobs of run %d: %w", runID, err)
	}
	for i := range cands {
		c, ok := read[cands[i].Candidate.Ref()]
		if !ok {
			return fmt.Errorf("read candidate %s of run %d: %w", cands[i].Candidate.Ref(), runID, ErrNotFound)
		}
		cands[i].Candidate = c
	}
	return nil
}

// readScoring fills in what a candidate row says of its scoring: total,
// pending scorers (a candidate waiting for a scorer) and scores.
func readScoring(sc *comfybatch.Scored, total sql.NullFloat64, state, pending, scores string) error {
	sc.Total = total.Float64
	if state == CandidatePending && pending != "" {
		sc.Pending = strings.Split(pending, ",")
	}
	var err error
	if sc.Scores, err = decodeScores(scores); err != nil {
		return fmt.Errorf("read candidate %s: %w", sc.Candidate.Ref(), err)
	}
	return nil
}

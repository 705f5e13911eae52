package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/comfybatch/comfybatch"
)

// jobRow holds a job's encoded columns.
type jobRow struct {
	params, workflow, inputs, tags string
}

func encodeJob(j comfybatch.Job) (jobRow, error) {
	params, err := encodeParams(j.Params)
	if err != nil {
		return jobRow{}, fmt.Errorf("job %s: %w", j.Key, err)
	}
	inputs, err := json.Marshal(nonNil(j.Inputs))
	if err != nil {
		return jobRow{}, fmt.Errorf("job %s: inputs: %w", j.Key, err)
	}
	tags, err := json.Marshal(nonNil(j.Tags))
	if err != nil {
		return jobRow{}, fmt.Errorf("job %s: tags: %w", j.Key, err)
	}
	wf := string(j.Workflow)
	if wf == "" {
		wf = "{}"
	}
	return jobRow{params: params, workflow: wf, inputs: string(inputs), tags: string(tags)}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// PlanJobs records jobs as pending rows of run runID. Jobs whose key the
// run already has are left untouched, so planning again on resume is
// safe. It returns once the rows are committed.
func (s *Store) PlanJobs(ctx context.Context, runID int64, jobs []comfybatch.Job) error {
	rows := make([]jobRow, len(jobs))
	for i, j := range jobs {
		if j.Key == "" {
			return fmt.Errorf("plan jobs of run %d: job %d has no key", runID, j.Index)
		}
		var err error
		if rows[i], err = encodeJob(j); err != nil {
			return fmt.Errorf("plan jobs of run %d: %w", runID, err)
		}
	}
	err := s.do(ctx, func(t wtx) error {
		for i, j := range jobs {
			_, err := t.exec(`INSERT INTO jobs (run_id, job_key, idx, group_name, params, workflow, inputs, tags, affinity)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, job_key) DO NOTHING`,
				runID, j.Key, j.Index, j.Group, rows[i].params, rows[i].workflow, rows[i].inputs, rows[i].tags, j.Affinity)
			if err != nil {
				return fmt.Errorf("job %s: %w", j.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("plan jobs of run %d: %w", runID, err)
	}
	return nil
}

// Attempt is one submission of a job: the prompt id we chose and sent.
type Attempt struct {
	Instance string
	PromptID string
	// Number counts submissions of the job, starting at 1.
	Number    int
	Submitted time.Time
	// Outcome is "" while the prompt may still be on the server, then one
	// of the Outcome constants. It is filled in by the store;
	// RecordAttempt ignores it.
	Outcome string
}

// Attempt outcomes.
const (
	// OutcomeDone: the attempt produced the job's candidate.
	OutcomeDone = "done"
	// OutcomeFailed: the attempt ended without an image and counted as a
	// failure (the job was retried or failed).
	OutcomeFailed = "failed"
	// OutcomeMoved: tail stealing took the prompt off a queue before it
	// ran, to run the job on a faster instance. Not a failure.
	OutcomeMoved = "moved"
	// OutcomeCancelled: a shutdown removed the prompt (deleted it from the
	// queue, or interrupted it when the grace period ended) or the job was
	// left unfinished by it. Not a failure.
	OutcomeCancelled = "cancelled"
)

// SetAttemptOutcome queues the record of one attempt's outcome, one of
// the Outcome constants (or "" to mark it in flight again). An attempt
// already done keeps that outcome: a late report of a prompt that did
// produce the candidate must not hide it. An attempt the run never
// recorded is ignored. Later RecordFailure and RecordCandidate calls keep
// outcomes set here (they mark failed only the attempts still in flight).
// It returns once queued; write errors surface from Flush or Close.
func (s *Store) SetAttemptOutcome(ctx context.Context, runID int64, jobKey, promptID, outcome string) error {
	switch outcome {
	case "", OutcomeDone, OutcomeFailed, OutcomeMoved, OutcomeCancelled:
	default:
		return fmt.Errorf("record outcome of attempt %s of job %s: unknown outcome %q", promptID, jobKey, outcome)
	}
	err := s.enqueue(ctx, op{fn: func(t wtx) error {
		_, err := t.exec(`UPDATE attempts SET outcome = ? WHERE run_id = ? AND job_key = ? AND prompt_id = ? AND outcome != 'done'`,
			outcome, runID, jobKey, promptID)
		if err != nil {
			return fmt.Errorf("record outcome %q of attempt %s of job %s: %w", outcome, promptID, jobKey, err)
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("record outcome %q of attempt %s of job %s: %w", outcome, promptID, jobKey, err)
	}
	return nil
}

// RequeueCancelled queues making a submitted job pending again after its
// latest attempt, promptID, was cancelled: nothing of the job is queued or
// running anywhere, so it must not be shown as submitted, and a rerun
// generates it (after looking its recorded attempts up, so a prompt that
// finished after all is adopted rather than generated again). A job that
// is done or failed, or whose latest recorded attempt is another prompt,
// is left as it is. It returns once queued; write errors surface from
// Flush or Close.
func (s *Store) RequeueCancelled(ctx context.Context, runID int64, jobKey, promptID string) error {
	err := s.enqueue(ctx, op{fn: func(t wtx) error {
		_, err := t.exec(`UPDATE jobs SET status = 'pending' WHERE run_id = ? AND job_key = ? AND status = 'submitted' AND prompt_id = ?`,
			runID, jobKey, promptID)
		if err != nil {
			return fmt.Errorf("requeue cancelled job %s: %w", jobKey, err)
		}
		return nil
	}})
	if err != nil {
		return fmt.Errorf("requeue cancelled job %s: %w", jobKey, err)
	}
	return nil
}

// JobState is what resume needs to know about a planned job.
type JobState struct {
	Key string
	// Status is one of comfybatch.StatusPending, StatusSubmitted,
	// StatusDone, StatusFailed.
	Status string
	// ErrorClass is the comfybatch.Class of a failed job's error ("" for
	// others): resume retries failures unless they were bad input.
	ErrorClass string
	// Attempts are every prompt id recorded for the job, in the order
	// they were submitted.
	Attempts []Attempt
}

// JobStates returns the state of every job of run runID by key.
func (s *Store) JobStates(ctx context.Context, runID int64) (map[string]JobState, error) {
	out := make(map[string]JobState)
	rows, err := s.read.QueryContext(ctx, `SELECT job_key, status, coalesce(error_class, '') FROM jobs WHERE run_id = ?`, runID)
	if err != nil {
		return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st JobState
		if err := rows.Scan(&st.Key, &st.Status, &st.ErrorClass); err != nil {
			return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
		}
		out[st.Key] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
	}
	arows, err := s.read.QueryContext(ctx, `SELECT job_key, instance, prompt_id, attempt, submitted_ms, outcome
		FROM attempts WHERE run_id = ? ORDER BY job_key, submitted_ms, attempt, prompt_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("read attempts of run %d: %w", runID, err)
	}
	defer arows.Close()
	for arows.Next() {
		var (
			key       string
			a         Attempt
			submitted sql.NullInt64
		)
		if err := arows.Scan(&key, &a.Instance, &a.PromptID, &a.Number, &submitted, &a.Outcome); err != nil {
			return nil, fmt.Errorf("read attempts of run %d: %w", runID, err)
		}
		a.Submitted = fromMS(submitted)
		st := out[key]
		st.Attempts = append(st.Attempts, a)
		out[key] = st
	}
	if err := arows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts of run %d: %w", runID, err)
	}
	return out, nil
}

// RecordAttempt records that the job is about to be submitted with
// a.PromptID, and marks it submitted. It is durable when it returns: it
// goes through the writer and waits for its transaction to commit, so call
// it before POST /prompt and a crash can never leave an unrecorded prompt
// on a server. Recording the same prompt id again updates it. The job must
// have been planned (else the error wraps ErrNotFound).
func (s *Store) RecordAttempt(ctx context.Context, runID int64, jobKey string, a Attempt) error {
	if a.PromptID == "" {
		return fmt.Errorf("record attempt %d of job %s: empty prompt id", a.Number, jobKey)
	}
	if a.Submitted.IsZero() {
		a.Submitted = s.now()
	}
	err := s.do(ctx, func(t wtx) error {
		// A done job keeps its status (and its candidate) if it is
		// submitted again; RecordCandidate then replaces the result.
		res, err := t.exec(`UPDATE jobs SET status = CASE status WHEN 'done' THEN 'done' ELSE 'submitted' END,
			instance = ?, prompt_id = ?, attempts = max(attempts, ?), queued_ms = ? WHERE run_id = ? AND job_key = ?`,
			a.Instance, a.PromptID, a.Number, ms(a.Submitted), runID, jobKey)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("job is not planned in run %d: %w", runID, ErrNotFound))
		}
		_, err = t.exec(`INSERT INTO attempts (run_id, job_key, prompt_id, attempt, instance, submitted_ms)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, job_key, prompt_id) DO UPDATE SET
			attempt = excluded.attempt, instance = excluded.instance, submitted_ms = excluded.submitted_ms`,
			runID, jobKey, a.PromptID, a.Number, a.Instance, ms(a.Submitted))
		return err
	})
	if err != nil {
		return fmt.Errorf("record attempt %d of job %s on %s: %w", a.Number, jobKey, a.Instance, err)
	}
	return nil
}

const (
	qFailJob = `UPDATE jobs SET status = CASE status WHEN 'done' THEN 'done' ELSE 'failed' END,
		attempts = ?, error_class = ?, error_message = ?, finished_ms = ? WHERE run_id = ? AND job_key = ?`
	qAttemptsOutcome = `UPDATE attempts SET outcome = CASE WHEN prompt_id = ? THEN ? ELSE 'failed' END
		WHERE run_id = ? AND job_key = ? AND (outcome = '' OR prompt_id = ?)`
)

// RecordFailure queues the record that the job ended without an image
// after attempts submissions: its class (comfybatch.Class(err)) and
// message. Every attempt still in flight is marked failed; moved and
// cancelled attempts keep their outcome. A job already
// done stays done: a failed re-submission doesn't lose its image. It returns once
// queued; a write error surfaces from Flush or Close.
func (s *Store) RecordFailure(ctx context.Context, runID int64, jobKey string, attempts int, err error) error {
	class, msg := comfybatch.Class(err), ""
	if err != nil {
		msg = err.Error()
	}
	if class == "" {
		class = comfybatch.ClassOther
	}
	finished := ms(s.now())
	qerr := s.enqueue(ctx, op{fn: func(t wtx) error {
		res, err := t.exec(qFailJob, attempts, class, msg, finished, runID, jobKey)
		if err != nil {
			return fmt.Errorf("record failure of job %s: %w", jobKey, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("record failure of job %s: not planned in run %d: %w", jobKey, runID, ErrNotFound))
		}
		if _, err := t.exec(qAttemptsOutcome, "", "failed", runID, jobKey, ""); err != nil {
			return fmt.Errorf("record failure of job %s: %w", jobKey, err)
		}
		return nil
	}})
	if qerr != nil {
		return fmt.Errorf("record failure of job %s: %w", jobKey, qerr)
	}
	return nil
}

// Failure is a job that ended without an image.
type Failure struct {
	JobKey   string
	Index    int
	Group    string
	Attempts int
	// Class is one of the comfybatch.Class* names.
	Class    string
	Message  string
	Instance string // of the last attempt
	PromptID string // of the last attempt
	Finished time.Time
}

// Failures returns the failed jobs of run runID in plan order.
func (s *Store) Failures(ctx context.Context, runID int64) ([]Failure, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT job_key, idx, group_name, attempts, error_class, error_message,
		instance, prompt_id, finished_ms FROM jobs WHERE run_id = ? AND status = 'failed' ORDER BY idx, job_key`, runID)
	if err != nil {
		return nil, fmt.Errorf("read failures of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() {
		var (
			f        Failure
			finished sql.NullInt64
		)
		if err := rows.Scan(&f.JobKey, &f.Index, &f.Group, &f.Attempts, &f.Class, &f.Message,
			&f.Instance, &f.PromptID, &finished); err != nil {
			return nil, fmt.Errorf("read failures of run %d: %w", runID, err)
		}
		f.Finished = fromMS(finished)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read failures of run %d: %w", runID, err)
	}
	return out, nil
}

// Tally counts jobs by status.
type Tally struct {
	Total, Pending, Submitted, Done, Failed int
}

func (t *Tally) add(status string, n int) {
	t.Total += n
	switch status {
	case comfybatch.StatusPending:
		t.Pending += n
	case comfybatch.StatusSubmitted:
		t.Submitted += n
	case comfybatch.StatusDone:
		t.Done += n
	case comfybatch.StatusFailed:
		t.Failed += n
	}
}

// Counts are a run's job counts, overall and per group.
type Counts struct {
	All    Tally
	Groups map[string]Tally
}

// GroupNames returns the names of c.Groups, sorted.
func (c Counts) GroupNames() []string {
	names := make([]string, 0, len(c.Groups))
	for g := range c.Groups {
		names = append(names, g)
	}
	sort.Strings(names)
	return names
}

// Counts returns the job counts of run runID.
func (s *Store) Counts(ctx context.Context, runID int64) (Counts, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT group_name, status, count(*) FROM jobs
		WHERE run_id = ? GROUP BY group_name, status`, runID)
	if err != nil {
		return Counts{}, fmt.Errorf("count jobs of run %d: %w", runID, err)
	}
	defer rows.Close()
	c := Counts{Groups: make(map[string]Tally)}
	for rows.Next() {
		var (
			group, status string
			n             int
		)
		if err := rows.Scan(&group, &status, &n); err != nil {
			return Counts{}, fmt.Errorf("count jobs of run %d: %w", runID, err)
		}
		c.All.add(status, n)
		g := c.Groups[group]
		g.add(status, n)
		c.Groups[group] = g
	}
	if err := rows.Err(); err != nil {
		return Counts{}, fmt.Errorf("count jobs of run %d: %w", runID, err)
	}
	return c, nil
}

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

// Group is one group of a run as the manifest planned it.
type Group struct {
	Name string
	// TopK is how many candidates the group delivers (0 = unknown).
	TopK int
	// Planned is how many candidates the group was planned to yield.
	Planned int
	// Tags are the instance tags its jobs require.
	Tags []string
	// Params are the group's fixed params (read back only).
	Params []comfybatch.Param
}

// SaveGroups records the groups of run runID (name, top_k, planned count
// and tags), replacing those values of groups already recorded. It
// returns once committed.
func (s *Store) SaveGroups(ctx context.Context, runID int64, groups []Group) error {
	err := s.do(ctx, func(t wtx) error {
		for _, g := range groups {
			tags, err := json.Marshal(nonNil(g.Tags))
			if err != nil {
				return fmt.Errorf("group %s: %w", g.Name, err)
			}
			if _, err := t.exec(`INSERT INTO run_groups (run_id, name, tags, top_k, planned) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (run_id, name) DO UPDATE SET tags = excluded.tags, top_k = excluded.top_k,
				planned = excluded.planned`, runID, g.Name, string(tags), g.TopK, g.Planned); err != nil {
				return fmt.Errorf("group %s: %w", g.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save groups of run %d: %w", runID, err)
	}
	return nil
}

// Groups returns the recorded groups of run runID, by name.
func (s *Store) Groups(ctx context.Context, runID int64) ([]Group, error) {
	c, err := s.codec(ctx, runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT name, top_k, planned FROM run_groups WHERE run_id = ? ORDER BY name`, runID)
	if err != nil {
		return nil, fmt.Errorf("read groups of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.Name, &g.TopK, &g.Planned); err != nil {
			return nil, fmt.Errorf("read groups of run %d: %w", runID, err)
		}
		g.Params, g.Tags = c.groups[g.Name].params, c.groups[g.Name].tags
		out = append(out, g)
	}
	return out, rows.Err()
}

// plannedJob is a job's encoded columns.
type plannedJob struct {
	j                     comfybatch.Job
	params, inputs, fixed string
	workflow              sql.NullString
}

// PlanJobs records jobs as pending rows of run runID. Jobs whose key the
// run already has are left untouched, so planning again on resume is
// safe. In a run with a base workflow (Run.Workflow) a row keeps only the
// raw values of the swept params, and each group's fixed params are
// recorded once; jobs without raw values keep their whole workflow. It
// returns once the rows are committed.
func (s *Store) PlanJobs(ctx context.Context, runID int64, jobs []comfybatch.Job) error {
	run, err := s.Run(ctx, runID)
	if err != nil {
		return fmt.Errorf("plan jobs: %w", err)
	}
	rows := make([]plannedJob, len(jobs))
	groups := map[string]int{} // group -> first job of it in this call
	for i, j := range jobs {
		if j.Key == "" {
			return fmt.Errorf("plan jobs of run %d: job %d has no key", runID, j.Index)
		}
		r := plannedJob{j: j}
		if r.params, r.workflow, err = encodeJobParams(run, j); err != nil {
			return fmt.Errorf("plan jobs of run %d: %w", runID, err)
		}
		if r.inputs, err = encodeInputs(j.Inputs); err != nil {
			return fmt.Errorf("plan jobs of run %d: job %s: %w", runID, j.Key, err)
		}
		if _, seen := groups[j.Group]; !seen {
			groups[j.Group] = i
			if !r.workflow.Valid {
				if r.fixed, err = fixedParams(run, j.Params); err != nil {
					return fmt.Errorf("plan jobs of run %d: job %s: %w", runID, j.Key, err)
				}
			}
		}
		rows[i] = r
	}
	err = s.do(ctx, func(t wtx) error {
		for name, i := range groups {
			tags, err := json.Marshal(nonNil(jobs[i].Tags))
			if err != nil {
				return err
			}
			fixed := rows[i].fixed
			if fixed == "" {
				fixed = "[]"
			}
			if _, err := t.exec(`INSERT INTO run_groups (run_id, name, params, tags) VALUES (?, ?, ?, ?)
				ON CONFLICT (run_id, name) DO UPDATE SET params = excluded.params, tags = excluded.tags`,
				runID, name, fixed, string(tags)); err != nil {
				return fmt.Errorf("group %s: %w", name, err)
			}
		}
		for _, r := range rows {
			_, err := t.exec(qPlanJob, runID, r.j.Key, r.j.Index, r.j.Group, r.params, r.workflow, r.inputs, r.j.Affinity)
			if err != nil {
				return fmt.Errorf("job %s: %w", r.j.Key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("plan jobs of run %d: %w", runID, err)
	}
	return nil
}

const qPlanJob = `INSERT INTO jobs (run_id, job_key, idx, group_name, params, workflow, inputs, affinity)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, job_key) DO NOTHING`

// JobWorkflow returns the patched workflow of one job of run runID,
// rebuilt from the run's base workflow when the row keeps only its values.
func (s *Store) JobWorkflow(ctx context.Context, runID int64, jobKey string) (json.RawMessage, error) {
	var (
		group, params string
		wf            sql.NullString
	)
	err := s.read.QueryRowContext(ctx, `SELECT group_name, params, workflow FROM jobs WHERE run_id = ? AND job_key = ?`,
		runID, jobKey).Scan(&group, &params, &wf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %s of run %d: %w", jobKey, runID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s of run %d: %w", jobKey, runID, err)
	}
	c, err := s.codec(ctx, runID, group)
	if err != nil {
		return nil, err
	}
	ps, err := c.params(group, params)
	if err != nil {
		return nil, fmt.Errorf("job %s of run %d: %w", jobKey, runID, err)
	}
	out, err := c.workflow(wf, ps)
	if err != nil {
		return nil, fmt.Errorf("job %s of run %d: %w", jobKey, runID, err)
	}
	return out, nil
}

// Attempt outcomes. An attempt is in flight ("") until it ends.
const (
	OutcomeDone      = "done"
	OutcomeFailed    = "failed"
	OutcomeMoved     = "moved"     // taken off a queue before it ran, to run elsewhere
	OutcomeCancelled = "cancelled" // taken off a queue before it ran, when the run stopped
)

// Attempt is one submission of a job: the prompt id we chose and sent.
type Attempt struct {
	Instance string
	PromptID string
	// Number counts submissions of the job, starting at 1.
	Number    int
	Submitted time.Time
	// Outcome is "" while the prompt may still be on the server, then one
	// of the Outcome* values. It is filled in by the store; RecordAttempt
	// ignores it.
	Outcome string
}

// JobState is what resume needs to know about a planned job.
type JobState struct {
	Key string
	// Status is one of comfybatch.StatusPending, StatusSubmitted,
	// StatusDone, StatusFailed.
	Status string
	// ErrorClass is the comfybatch.Class of a failed job's error ("" for
	// others).
	ErrorClass string
	// Attempts are every prompt id recorded for the job, in the order
	// they were submitted.
	Attempts []Attempt
}

// JobStatesOf returns the state of the named jobs of run runID by key
// (jobs the run does not have are left out): what resume needs about one
// chunk of a plan streamed in order, in memory bounded by the chunk.
func (s *Store) JobStatesOf(ctx context.Context, runID int64, keys []string) (map[string]JobState, error) {
	out := make(map[string]JobState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT j.job_key, j.status, j.error_class, a.instance, a.prompt_id, a.attempt,
			a.submitted_ms, a.outcome
		FROM jobs j LEFT JOIN attempts a ON a.job_id = j.id
		WHERE j.run_id = ? AND j.job_key IN (SELECT value FROM json_each(?))
		ORDER BY j.job_key, a.submitted_ms, a.attempt, a.prompt_id`, runID, string(list))
	if err != nil {
		return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st                  JobState
			instance, pid, outc sql.NullString
			number              sql.NullInt64
			submitted           sql.NullInt64
		)
		if err := rows.Scan(&st.Key, &st.Status, &st.ErrorClass, &instance, &pid, &number, &submitted, &outc); err != nil {
			return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
		}
		prev, seen := out[st.Key]
		if seen {
			st = prev
		}
		if pid.Valid {
			st.Attempts = append(st.Attempts, Attempt{Instance: instance.String, PromptID: pid.String, Number: int(number.Int64),
				Submitted: fromMS(submitted), Outcome: outc.String})
		}
		out[st.Key] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
	}
	return out, nil
}

// JobStates returns the state of every job of run runID by key.
func (s *Store) JobStates(ctx context.Context, runID int64) (map[string]JobState, error) {
	out := make(map[string]JobState)
	rows, err := s.read.QueryContext(ctx, `SELECT job_key, status, error_class FROM jobs WHERE run_id = ?`, runID)
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
	arows, err := s.read.QueryContext(ctx, `SELECT j.job_key, a.instance, a.prompt_id, a.attempt, a.submitted_ms, a.outcome
		FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.run_id = ?
		ORDER BY j.job_key, a.submitted_ms, a.attempt, a.prompt_id`, runID)
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

const (
	qSubmitJob = `UPDATE jobs SET status = CASE status WHEN 'done' THEN 'done' ELSE 'submitted' END,
		instance = ?, prompt_id = ?, attempts = max(attempts, ?), queued_ms = ? WHERE run_id = ? AND job_key = ?
		RETURNING id`
	qInsertAttempt = `INSERT INTO attempts (job_id, prompt_id, attempt, instance, submitted_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (job_id, prompt_id) DO UPDATE SET attempt = excluded.attempt, instance = excluded.instance,
		submitted_ms = excluded.submitted_ms`
)

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
	err := s.doBypass(ctx, func(t wtx) error {
		// A done job keeps its status (and its candidates) if it is
		// submitted again; RecordCandidates then replaces the result.
		var id int64
		err := t.queryRow(qSubmitJob, a.Instance, a.PromptID, a.Number, ms(a.Submitted), runID, jobKey).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("job is not planned in run %d: %w", runID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = t.exec(qInsertAttempt, id, a.PromptID, a.Number, a.Instance, ms(a.Submitted))
		return err
	})
	if err != nil {
		return fmt.Errorf("record attempt %d of job %s on %s: %w", a.Number, jobKey, a.Instance, err)
	}
	return nil
}

const (
	qFailJob = `UPDATE jobs SET status = CASE status WHEN 'done' THEN 'done' ELSE 'failed' END,
		attempts = ?, error_class = ?, error_message = ?, finished_ms = ? WHERE run_id = ? AND job_key = ?
		RETURNING id`
	// qSettleAttempts ends the job's attempts still in flight: the one
	// named (if any) with the given outcome, the others as failed.
	qSettleAttempts = `UPDATE attempts SET outcome = CASE WHEN prompt_id = ? THEN ? ELSE 'failed' END
		WHERE job_id = ? AND (outcome = '' OR prompt_id = ?)`
)

// RecordFailure queues the record that the job ended without an image
// after attempts submissions: its class (comfybatch.Class(err)) and
// message. Every attempt still in flight is marked failed; moved and
// cancelled attempts keep their outcome. A job already done stays done: a
// failed re-submission doesn't lose its images. It returns once queued; a
// write error surfaces from Flush or Close.
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
		var id int64
		err := t.queryRow(qFailJob, attempts, class, msg, finished, runID, jobKey).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("record failure of job %s: not planned in run %d: %w", jobKey, runID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("record failure of job %s: %w", jobKey, err)
		}
		if _, err := t.exec(qSettleAttempts, "", OutcomeFailed, id, ""); err != nil {
			return fmt.Errorf("record failure of job %s: %w", jobKey, err)
		}
		return nil
	}})
	if qerr != nil {
		return fmt.Errorf("record failure of job %s: %w", jobKey, qerr)
	}
	return nil
}

// SetAttemptOutcome records how one attempt ended without producing the
// job's candidate: OutcomeMoved (tail stealing took it off a queue to run
// the job elsewhere), OutcomeCancelled (a shutdown took it off the queue
// before it ran, or it was never sent), OutcomeFailed (it failed and the
// job was retried), or "" when a shutdown stopped waiting for it although
// it may have run: it stays to be looked up (and its image adopted) by the
// next run, as in-flight attempts are. An attempt already done keeps that
// outcome: a late report of a prompt that did produce the candidate must
// not hide it. Later RecordFailure and RecordCandidate calls keep the
// outcomes set here (they settle only the attempts still in flight).
//
// A submitted job then becomes pending again when nothing of it is being
// worked on: no attempt is in flight any more, or a shutdown gave up this
// attempt ("" or OutcomeCancelled) and it is the job's latest (the fleet
// sends a new attempt only after the previous one ended). So nothing reads
// as submitted when nothing is queued, and a rerun generates the job. It
// returns once committed.
func (s *Store) SetAttemptOutcome(ctx context.Context, runID int64, jobKey, promptID, outcome string) error {
	switch outcome {
	case "", OutcomeMoved, OutcomeCancelled, OutcomeFailed:
	default:
		return fmt.Errorf("set outcome of prompt %s: %q is not %q, %q, %q or \"\"", promptID, outcome, OutcomeMoved, OutcomeCancelled, OutcomeFailed)
	}
	err := s.doBypass(ctx, func(t wtx) error {
		var id int64
		var current string
		err := t.queryRow(`SELECT a.job_id, a.outcome FROM attempts a JOIN jobs j ON j.id = a.job_id
			WHERE j.run_id = ? AND j.job_key = ? AND a.prompt_id = ?`, runID, jobKey, promptID).Scan(&id, &current)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("prompt %s of job %s: %w", promptID, jobKey, ErrNotFound)
		}
		if err != nil || current == OutcomeDone {
			return err
		}
		if _, err := t.exec(`UPDATE attempts SET outcome = ? WHERE job_id = ? AND prompt_id = ?`, outcome, id, promptID); err != nil {
			return err
		}
		_, err = t.exec(`UPDATE jobs SET status = 'pending' WHERE id = ? AND status = 'submitted'
			AND (NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = jobs.id AND a.outcome = '')
				OR (? IN ('cancelled', '') AND prompt_id = ?))`, id, outcome, promptID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set outcome of prompt %s of job %s to %s: %w", promptID, jobKey, outcome, err)
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

// Tally counts jobs by status, and candidates still waiting for a scorer.
type Tally struct {
	Total, Pending, Submitted, Done, Failed int
	// Unscored counts candidates of done jobs that some scorer has not
	// scored yet (scoring pending).
	Unscored int
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
	urows, err := s.read.QueryContext(ctx, `SELECT j.group_name, count(*) FROM candidates c JOIN jobs j ON j.id = c.job_id
		WHERE j.run_id = ? AND c.state = 'pending' GROUP BY j.group_name`, runID)
	if err != nil {
		return Counts{}, fmt.Errorf("count unscored candidates of run %d: %w", runID, err)
	}
	defer urows.Close()
	for urows.Next() {
		var (
			group string
			n     int
		)
		if err := urows.Scan(&group, &n); err != nil {
			return Counts{}, fmt.Errorf("count unscored candidates of run %d: %w", runID, err)
		}
		c.All.Unscored += n
		g := c.Groups[group]
		g.Unscored += n
		c.Groups[group] = g
	}
	if err := urows.Err(); err != nil {
		return Counts{}, fmt.Errorf("count unscored candidates of run %d: %w", runID, err)
	}
	return c, nil
}

// JobStatus is one recorded job as a rerun reads them in plan order.
type JobStatus struct {
	Index                   int
	Key, Status, ErrorClass string
}

// StatusCursor reads a run's job statuses in plan order, one row at a
// time, so a rerun can pass over a million finished jobs without holding
// them. Close it when done.
type StatusCursor struct {
	rows *sql.Rows
	cur  JobStatus
	more bool
	err  error
}

// JobStatuses opens a cursor over the jobs of run runID in plan order.
func (s *Store) JobStatuses(ctx context.Context, runID int64) (*StatusCursor, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT idx, job_key, status, error_class FROM jobs WHERE run_id = ? ORDER BY idx`, runID)
	if err != nil {
		return nil, fmt.Errorf("read job states of run %d: %w", runID, err)
	}
	return &StatusCursor{rows: rows, more: true, cur: JobStatus{Index: -1}}, nil
}

// At returns the recorded job with plan index idx, if there is one.
// Successive calls must ask for increasing indexes.
func (c *StatusCursor) At(idx int) (JobStatus, bool) {
	for c.more && c.cur.Index < idx {
		if !c.rows.Next() {
			c.more = false
			c.err = c.rows.Err()
			break
		}
		if err := c.rows.Scan(&c.cur.Index, &c.cur.Key, &c.cur.Status, &c.cur.ErrorClass); err != nil {
			c.more, c.err = false, err
		}
	}
	return c.cur, c.more && c.cur.Index == idx
}

// Err is the first error the cursor met.
func (c *StatusCursor) Err() error { return c.err }

// Close releases the cursor.
func (c *StatusCursor) Close() error { return c.rows.Close() }

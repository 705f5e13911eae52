package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The jobs API of newer ComfyUI servers (0.8.0 and later; docs/comfyui.md):
// GET /api/jobs lists the queue and the history as jobs, GET
// /api/jobs/{id} shows one, with its outputs and status once it finished.
// Servers without it answer 404 with aiohttp's plain-text page.

// ErrNoJobsAPI means the server has no jobs API (ComfyUI before 0.8):
// use GET /queue and GET /history/{id} instead, as Lookup does.
var ErrNoJobsAPI = errors.New("server has no jobs API")

// JobStatus is a job's state in the jobs API.
type JobStatus string

// The job states. An interrupted prompt is JobFailed without an
// ExecutionError; its ExecutionStatus says it was interrupted.
const (
	JobPending    JobStatus = "pending"
	JobInProgress JobStatus = "in_progress"
	JobCompleted  JobStatus = "completed"
	JobFailed     JobStatus = "failed"
)

// Job is one prompt as the jobs API shows it. Times are Unix milliseconds,
// 0 when the server did not send them.
type Job struct {
	ID       string      `json:"id"`
	Status   JobStatus   `json:"status"`
	Priority json.Number `json:"priority"` // the queue number
	// CreateTime is when the server received the prompt.
	CreateTime         int64 `json:"create_time"`
	ExecutionStartTime int64 `json:"execution_start_time"`
	ExecutionEndTime   int64 `json:"execution_end_time"`
	// ExecutionError is the execution_error message of a failed job; nil
	// for an interrupted one.
	ExecutionError json.RawMessage `json:"execution_error"`
	OutputsCount   int             `json:"outputs_count"`
	PreviewOutput  *JobPreview     `json:"preview_output"`
	// WorkflowID is extra_data.extra_pnginfo.workflow.id, if the prompt had one.
	WorkflowID string `json:"workflow_id"`
	// Outputs and ExecutionStatus are set by Job (not Jobs) for a
	// finished job: the history entry's outputs and status.
	Outputs         map[string]NodeOutput `json:"outputs"`
	ExecutionStatus *HistoryStatus        `json:"execution_status"`
}

// JobPreview is the output a job's list entry shows.
type JobPreview struct {
	ImageRef
	NodeID    string `json:"nodeId"`
	MediaType string `json:"mediaType"`
}

// Finished reports whether the job completed or failed.
func (j *Job) Finished() bool { return j.Status == JobCompleted || j.Status == JobFailed }

// History returns the job as a history entry (outputs and status), or nil
// when the job has not finished or was read from a list, which carries
// neither.
func (j *Job) History() *HistoryEntry {
	if !j.Finished() || j.ExecutionStatus == nil {
		return nil
	}
	return &HistoryEntry{PromptID: j.ID, Outputs: j.Outputs, Status: *j.ExecutionStatus}
}

// JobsQuery selects jobs for Client.Jobs. The zero value lists every job,
// newest first.
type JobsQuery struct {
	Statuses   []JobStatus // none: all
	WorkflowID string
	// ByDuration sorts by execution time instead of creation time.
	ByDuration bool
	Ascending  bool
	Limit      int // 0: no limit
	Offset     int
}

// JobList is one page of GET /api/jobs.
type JobList struct {
	Jobs       []Job `json:"jobs"`
	Pagination struct {
		Offset  int  `json:"offset"`
		Limit   *int `json:"limit"` // nil: no limit
		Total   int  `json:"total"`
		HasMore bool `json:"has_more"`
	} `json:"pagination"`
}

// Jobs lists jobs with GET /api/jobs. A server without the jobs API gives
// ErrNoJobsAPI; a query the server refuses is ErrInvalid with its reason.
func (c *Client) Jobs(ctx context.Context, q JobsQuery) (JobList, error) {
	v := url.Values{}
	if len(q.Statuses) > 0 {
		s := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			s[i] = string(st)
		}
		v.Set("status", strings.Join(s, ","))
	}
	if q.WorkflowID != "" {
		v.Set("workflow_id", q.WorkflowID)
	}
	if q.ByDuration {
		v.Set("sort_by", "execution_duration")
	}
	if q.Ascending {
		v.Set("sort_order", "asc")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	var list JobList
	found, err := c.jobsGet(ctx, "/api/jobs", v, &list)
	if err == nil && !found {
		err = fmt.Errorf("GET /api/jobs: %w", ErrNoJobsAPI)
	}
	return list, err
}

// Job returns one job with GET /api/jobs/{id}, or nil, nil when the server
// has no job of that id (never received, or lost in a restart). A server
// without the jobs API gives ErrNoJobsAPI.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var job Job
	found, err := c.jobsGet(ctx, "/api/jobs/"+url.PathEscape(id), nil, &job)
	if err != nil || !found {
		return nil, err
	}
	return &job, nil
}

// HasJobs reports whether the server has the jobs API. The answer is
// the server's at the time of the call: a server restarted as another
// version may answer otherwise.
func (c *Client) HasJobs(ctx context.Context) (bool, error) {
	_, err := c.Jobs(ctx, JobsQuery{Limit: 1})
	switch {
	case errors.Is(err, ErrNoJobsAPI):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// jobsGet GETs a jobs API path into out. It reports found=false, with no
// error, for a JSON 404 ({"error": "Job not found"}), and ErrNoJobsAPI for
// a 404 that is not JSON: the route does not exist on that server.
func (c *Client) jobsGet(ctx context.Context, path string, q url.Values, out any) (found bool, err error) {
	data, status, ctype, err := c.doTyped(ctx, path, q)
	if err != nil {
		return false, err
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	switch {
	case status == http.StatusNotFound && mt != "application/json":
		return false, fmt.Errorf("GET %s: %w", path, ErrNoJobsAPI)
	case status == http.StatusNotFound:
		return false, nil
	case status == http.StatusBadRequest:
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &e)
		return false, &HTTPError{Method: http.MethodGet, Path: path, Status: status, Body: cmpOr(e.Error, short(data))}
	case status != http.StatusOK:
		return false, &HTTPError{Method: http.MethodGet, Path: path, Status: status, Body: short(data)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("GET %s: decode: %w", path, transientError{err})
	}
	return true, nil
}

// doTyped is a GET that also returns the answer's Content-Type, which
// tells a missing route (text) from a missing job (JSON). Network failures
// are ErrTransient, as for every request of the Client.
func (c *Client) doTyped(ctx context.Context, path string, q url.Values) ([]byte, int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint(path, q), nil)
	if err != nil {
		return nil, 0, "", fmt.Errorf("GET %s: %w", path, err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, "", fmt.Errorf("GET %s: %w", path, ctx.Err())
		}
		return nil, 0, "", fmt.Errorf("GET %s: %w", path, transientError{err})
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, "", fmt.Errorf("GET %s: %w", path, ctx.Err())
		}
		return nil, 0, "", fmt.Errorf("GET %s: read body: %w", path, transientError{err})
	}
	c.log.Debug("comfyui request", "method", http.MethodGet, "path", path, "status", resp.StatusCode, "bytes", len(data))
	return data, resp.StatusCode, resp.Header.Get("Content-Type"), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// PromptState is where a prompt is on a server: Status is "" when the
// server knows nothing of it (never received, or lost in a restart).
type PromptState struct {
	Status JobStatus
	// History is the finished prompt's history entry, nil before.
	History *HistoryEntry
}

// Lookup reports where a prompt is, for reconciling after a reconnect or
// a restart. With the jobs API it costs one request (GET /api/jobs/{id});
// without it (ErrNoJobsAPI) it asks GET /history/{id} and then GET /queue,
// and the answer is the same.
func (c *Client) Lookup(ctx context.Context, promptID string) (PromptState, error) {
	job, err := c.Job(ctx, promptID)
	switch {
	case err == nil && job == nil:
		return PromptState{}, nil
	case err == nil && job.Finished():
		if h := job.History(); h != nil {
			return PromptState{Status: job.Status, History: h}, nil
		}
	case err == nil:
		return PromptState{Status: job.Status}, nil
	case !errors.Is(err, ErrNoJobsAPI):
		return PromptState{}, err
	}
	h, err := c.History(ctx, promptID)
	if err != nil {
		return PromptState{}, err
	}
	if h != nil {
		st := JobCompleted
		if h.Status.StatusStr == "error" {
			st = JobFailed
		}
		return PromptState{Status: st, History: h}, nil
	}
	q, err := c.Queue(ctx)
	switch {
	case err != nil:
		return PromptState{}, err
	case q.IsRunning(promptID):
		return PromptState{Status: JobInProgress}, nil
	case q.IsPending(promptID):
		return PromptState{Status: JobPending}, nil
	}
	// It may have finished between the two requests.
	if h, err = c.History(ctx, promptID); err != nil || h == nil {
		return PromptState{}, err
	}
	st := JobCompleted
	if h.Status.StatusStr == "error" {
		st = JobFailed
	}
	return PromptState{Status: st, History: h}, nil
}

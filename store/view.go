package store

import (
	"context"
	"database/sql"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/comfybatch/comfybatch"
)

// The queries in this file serve the read views (show, compare, report,
// grid, export): they read what people look at and nothing the engine
// needs to resume (no workflow, inputs or tags), and they stream or
// aggregate in SQL, so their memory does not grow with the run.

// ViewCandidate is one candidate (one image of a done job) as the read
// views see it.
type ViewCandidate struct {
	// Ref identifies it: job key, output node and batch index.
	Ref        comfybatch.Ref
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
	// Pending names the scorers the candidate still waits for; it is
	// then neither selected nor rejected yet.
	Pending []string
	// Path is the stored image relative to the run folder, "" when none
	// was recorded; SHA256, Width, Height and Bytes describe it.
	Path          string
	SHA256        string
	Width, Height int
	Bytes         int64
	// Images is how many candidates the job yielded (1 for a prompt that
	// saved one image), and BatchSize how many of them the candidate's
	// output node saved: the size of the batch BatchIndex counts in.
	Images    int
	BatchSize int
	// Scores are in the order they were recorded; Metrics is never nil,
	// Values is nil when empty.
	Scores []comfybatch.Score
}

// CandidateQuery narrows EachCandidate. The zero value means every
// candidate of the run.
type CandidateQuery struct {
	// Group, when set, is the one group to read.
	Group string
	// SelectedOnly reads the selected candidates only.
	SelectedOnly bool
	// NoScores skips reading scores, which is faster when only params,
	// totals and rejections are needed.
	NoScores bool
}

const qViewCandidates = `SELECT j.job_key, c.node, c.batch_index, j.idx, j.group_name, j.params, j.instance,
		j.prompt_id, j.attempts, j.queued_ms, j.started_ms, j.finished_ms, j.download_ms, c.total, c.rejected,
		c.state, c.pending, c.rel_path, c.sha256, c.width, c.height, c.bytes, j.images, %s%s
	FROM %s
	WHERE j.run_id = ? AND j.status = 'done'%s
	ORDER BY %s, c.node, c.batch_index`

// EachCandidate calls fn with each candidate of run runID that q
// selects, in plan order (index, key, output node, batch index), and
// stops at the first error fn returns, which it returns. It streams: the
// candidates of one job are in memory at a time, however large the run.
func (s *Store) EachCandidate(ctx context.Context, runID int64, q CandidateQuery, fn func(ViewCandidate) error) error {
	codec, err := s.codec(ctx, runID)
	if err != nil {
		return err
	}
	// As in candidatesQuery: the group condition only when there is one,
	// so that SQLite reads the group's index, and the order of the index
	// it reads.
	args := []any{runID}
	from, filter, order := "jobs j JOIN candidates c ON c.job_id = j.id", "", "j.idx, j.id"
	if q.Group != "" {
		filter, order = " AND j.group_name = ?", "j.idx, j.job_key, j.id"
		args = append(args, q.Group)
	}
	// A candidate's batch size is how many candidates its job has at its
	// node. Reading every candidate, the rows of a job come together and
	// batches counts them; reading the few selected ones, a subquery does.
	batchCol, emit, flush := "0", fn, func() error { return nil }
	if q.SelectedOnly {
		// Start from the few selections, not from every job in plan
		// order: a million-candidate run has a few hundred selected.
		// (CROSS JOIN keeps SQLite from choosing another outer table.)
		from = "selections x CROSS JOIN candidates c ON c.id = x.candidate_id CROSS JOIN jobs j ON j.id = c.job_id"
		filter += " AND x.run_id = ?"
		args = append(args, runID)
		batchCol = `CASE WHEN j.images > 1 THEN
			(SELECT count(*) FROM candidates b WHERE b.job_id = c.job_id AND b.node = c.node) ELSE 1 END`
	} else {
		b := &batches{fn: fn}
		emit, flush = b.add, b.flush
	}
	scoreCol := ", ''"
	if !q.NoScores {
		scoreCol = ", c.scores"
	}
	query := fmt.Sprintf(qViewCandidates, batchCol, scoreCol, from, filter, order)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c                             ViewCandidate
			params, state, pending        string
			scores                        string
			queued, started, finished, dl sql.NullInt64
			total                         sql.NullFloat64
		)
		if err := rows.Scan(&c.Ref.JobKey, &c.Ref.Output, &c.Ref.BatchIndex, &c.Index, &c.Group, &params,
			&c.Instance, &c.PromptID, &c.Attempts, &queued, &started, &finished, &dl, &total, &c.Rejected,
			&state, &pending, &c.Path, &c.SHA256, &c.Width, &c.Height, &c.Bytes, &c.Images, &c.BatchSize,
			&scores); err != nil {
			return fmt.Errorf("read candidates of run %d: %w", runID, err)
		}
		if c.Params, err = codec.params(c.Group, params); err != nil {
			return fmt.Errorf("read candidate %s: %w", c.Ref, err)
		}
		c.Queued, c.Started, c.Finished = fromMS(queued), fromMS(started), fromMS(finished)
		if !c.Started.IsZero() && c.Finished.After(c.Started) {
			c.Generation = c.Finished.Sub(c.Started)
		}
		c.Download = time.Duration(dl.Int64) * time.Millisecond
		c.Total = total.Float64
		if state == CandidatePending && pending != "" {
			c.Pending = strings.Split(pending, ",")
		}
		if c.Scores, err = decodeScores(scores); err != nil {
			return fmt.Errorf("read scores of candidate %s: %w", c.Ref, err)
		}
		if err := emit(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read candidates of run %d: %w", runID, err)
	}
	return flush()
}

// batches holds the candidates of one job that yielded several, in
// stream order, until the job's last one, so each can be given its batch
// size: how many the job has at its output node. A job of one candidate
// passes straight through.
type batches struct {
	fn  func(ViewCandidate) error
	job []ViewCandidate
}

func (b *batches) add(c ViewCandidate) error {
	if len(b.job) > 0 && b.job[0].Ref.JobKey != c.Ref.JobKey {
		if err := b.flush(); err != nil {
			return err
		}
	}
	if c.Images <= 1 {
		c.BatchSize = 1
		return b.fn(c)
	}
	b.job = append(b.job, c)
	return nil
}

func (b *batches) flush() error {
	// Rows come ordered by node, then batch index: a node's candidates
	// are one run of the slice.
	for i := 0; i < len(b.job); {
		end := i + 1
		for end < len(b.job) && b.job[end].Ref.Output == b.job[i].Ref.Output {
			end++
		}
		for k := i; k < end; k++ {
			b.job[k].BatchSize = end - i
		}
		i = end
	}
	for _, c := range b.job {
		if err := b.fn(c); err != nil {
			return err
		}
	}
	b.job = b.job[:0]
	return nil
}

// CandidateCount is how many candidates of a group one output node saved
// with one outcome: a rejection reason ("" for the ones not rejected), or
// Pending for the ones that still wait for a scorer.
type CandidateCount struct {
	Group   string
	Reason  string
	Pending bool
	// Node is the output node's id, "" for candidates recorded before
	// images had an identity (the job's first saved image).
	Node  string
	Count int
	// MaxBatchIndex is the largest batch index among them: 0 when every
	// prompt saved one image there.
	MaxBatchIndex int
}

// CandidateCounts counts the candidates of run runID by group, rejection
// reason, whether they wait for a scorer and output node, in one pass in
// SQL (the read views need every tally, and a pass over a million
// candidates is what costs), ordered by those columns.
func (s *Store) CandidateCounts(ctx context.Context, runID int64) ([]CandidateCount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT j.group_name, c.rejected, c.state = 'pending', c.node, count(*),
			max(c.batch_index)
		FROM jobs j JOIN candidates c ON c.job_id = j.id WHERE j.run_id = ? AND j.status = 'done'
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, runID)
	if err != nil {
		return nil, fmt.Errorf("count candidates of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []CandidateCount
	for rows.Next() {
		var c CandidateCount
		if err := rows.Scan(&c.Group, &c.Reason, &c.Pending, &c.Node, &c.Count, &c.MaxBatchIndex); err != nil {
			return nil, fmt.Errorf("count candidates of run %d: %w", runID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count candidates of run %d: %w", runID, err)
	}
	return out, nil
}

// PendingCounts counts the candidates of run runID that wait for a
// scorer, by the scorer they wait for (one waiting for two counts for
// both), in SQL: no candidate is read.
func (s *Store) PendingCounts(ctx context.Context, runID int64) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT c.pending, count(*)
		FROM jobs j JOIN candidates c ON c.job_id = j.id
		WHERE j.run_id = ? AND j.status = 'done' AND c.state = 'pending' GROUP BY 1`, runID)
	if err != nil {
		return nil, fmt.Errorf("count waiting candidates of run %d: %w", runID, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var names string
		var n int
		if err := rows.Scan(&names, &n); err != nil {
			return nil, fmt.Errorf("count waiting candidates of run %d: %w", runID, err)
		}
		for name := range strings.SplitSeq(names, ",") {
			if name != "" {
				out[name] += n
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count waiting candidates of run %d: %w", runID, err)
	}
	return out, nil
}

// ReasonCount is how many candidates of a group share one rejection
// reason; Reason "" counts the ones not rejected, Pending the ones that
// still wait for a scorer.
type ReasonCount struct {
	Group   string
	Reason  string
	Pending bool
	Count   int
}

// RejectionCounts counts the candidates of run runID by group, rejection
// reason and whether they wait for a scorer (CandidateCounts without the
// output nodes), ordered by group and reason.
func (s *Store) RejectionCounts(ctx context.Context, runID int64) ([]ReasonCount, error) {
	counts, err := s.CandidateCounts(ctx, runID)
	if err != nil {
		return nil, err
	}
	var out []ReasonCount
	for _, c := range counts {
		r := ReasonCount{Group: c.Group, Reason: c.Reason, Pending: c.Pending}
		if n := len(out); n > 0 && out[n-1].Group == r.Group && out[n-1].Reason == r.Reason && out[n-1].Pending == r.Pending {
			out[n-1].Count += c.Count // the same outcome from another output node: rows are ordered
			continue
		}
		r.Count = c.Count
		out = append(out, r)
	}
	return out, nil
}

// OutputCount is how many candidates of a run one output node saved.
type OutputCount struct {
	// Node is the output node's id, "" for candidates recorded before
	// images had an identity (the job's first saved image).
	Node       string
	Candidates int
	// MaxBatchIndex is the largest batch index among them: 0 when every
	// prompt saved one image there.
	MaxBatchIndex int
}

// OutputCounts counts the candidates of run runID by output node
// (CandidateCounts by node alone), ordered by node id as text.
func (s *Store) OutputCounts(ctx context.Context, runID int64) ([]OutputCount, error) {
	counts, err := s.CandidateCounts(ctx, runID)
	if err != nil {
		return nil, err
	}
	return OutputCountsOf(counts), nil
}

// OutputCountsOf sums counts by output node, ordered by node id as text.
func OutputCountsOf(counts []CandidateCount) []OutputCount {
	at := map[string]int{} // node -> index in out
	var out []OutputCount
	for _, c := range counts {
		i, ok := at[c.Node]
		if !ok {
			i = len(out)
			at[c.Node] = i
			out = append(out, OutputCount{Node: c.Node})
		}
		out[i].Candidates += c.Count
		out[i].MaxBatchIndex = max(out[i].MaxBatchIndex, c.MaxBatchIndex)
	}
	slices.SortFunc(out, func(a, b OutputCount) int { return strings.Compare(a.Node, b.Node) })
	return out
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
	codec, err := s.codec(ctx, runID)
	if err != nil {
		return err
	}
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
		ps, err := codec.params(f.Group, params)
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
// selected/<group>/<rank>_<seed>[_<batch index>]<ext>, the group
// sanitised to a file name and the first 12 characters of the job key
// standing in for a missing seed. imagePath is the stored image's path
// (for its extension).
func SelectedPath(group string, rank int, ref comfybatch.Ref, params []comfybatch.Param, imagePath string) string {
	seed := ref.JobKey[:min(12, len(ref.JobKey))]
	if v, ok := (comfybatch.Job{Params: params}).Seed(); ok {
		seed = strconv.FormatUint(v, 10)
	}
	return path.Join("selected", safeName(group), selectedName(rank, seed, ref.BatchIndex)+path.Ext(imagePath))
}

// ThumbPath is where a thumbnail of the image with hex SHA-256 sha is kept,
// relative to the run folder (see WriteThumbnail).
func ThumbPath(sha string) string {
	if len(sha) < 2 || strings.Trim(sha, "0123456789abcdef") != "" {
		return "" // not a hex digest: never a path
	}
	return "thumbs/" + sha[:2] + "/" + sha + ".jpg"
}

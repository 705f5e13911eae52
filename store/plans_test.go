package store

import (
	"fmt"
	"strings"
	"testing"
)

// TestReadPlans: the reads that go through every candidate of a large run
// or group use the index they were written for, in its order, without a
// sort (a temporary B-tree) and without reading the whole run to find one
// group. A change to an index or to a query's ORDER BY can silently turn
// a group's read into a scan of a million jobs; this catches it.
func TestReadPlans(t *testing.T) {
	s, dir := openTest(t)
	run := createRun(t, s, dir)
	for i := range 20 {
		if err := s.RecordCandidate(t.Context(), run.ID, testScored(testJob(i, fmt.Sprint("g", i%2)), float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		args        []any
		index       string // the index the jobs are read through
	}{
		{"RankingCandidates", qRankingCandidates, []any{run.ID, "g1"}, "COVERING INDEX jobs_by_group_status"},
		{"Candidates of a group", candidatesQuery(true, false), []any{run.ID, "g1"}, "INDEX jobs_by_group_status"},
		{"Candidates of a run", candidatesQuery(false, false), []any{run.ID}, "INDEX jobs_by_idx"},
		{"EachCandidate", fmt.Sprintf(qViewCandidates, "0", ", c.scores", "jobs j JOIN candidates c ON c.job_id = j.id", "", "j.idx, j.id"),
			[]any{run.ID}, "INDEX jobs_by_idx"},
		{"EachCandidate of a group", fmt.Sprintf(qViewCandidates, "0", ", c.scores", "jobs j JOIN candidates c ON c.job_id = j.id",
			" AND j.group_name = ?", "j.idx, j.job_key, j.id"), []any{run.ID, "g1"}, "INDEX jobs_by_group_status"},
	} {
		rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(plan[0], "SEARCH j USING "+tc.index) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan %q; want jobs read first through %s, and no sort", tc.name, text, tc.index)
		}
	}
}

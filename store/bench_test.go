package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/comfybatch/comfybatch"
)

// benchScored returns candidate n with six scores, as a run with a few
// scorers records it.
func benchScored(n int) comfybatch.Scored {
	j := testJob(n, fmt.Sprintf("g%d", n%4))
	j.Key = fmt.Sprintf("%064x", n)
	sc := testScored(j, float64(n))
	sc.Scores = []comfybatch.Score{
		{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": 120.5, "tenengrad": 33.1}},
		{Scorer: "size", Metrics: map[string]float64{"width": 1024, "height": 1024}},
		{Scorer: "clip", Metrics: map[string]float64{"similarity": 0.31}},
		{Scorer: "phash", Metrics: map[string]float64{"distance": 12}, Values: map[string]string{"hash": "f0f0e1e1"}},
	}
	return sc
}

// BenchmarkRecordCandidates measures stored candidates per second: each
// iteration queues 256 candidates (six metrics each) and flushes.
func BenchmarkRecordCandidates(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "runs.sqlite"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	run, err := s.CreateRun(b.Context(), Run{OutputDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	const perIter = 256
	n := 0
	for b.Loop() {
		for range perIter {
			if err := s.RecordCandidate(b.Context(), run.ID, benchScored(n)); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := s.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "candidates/s")
}

// BenchmarkAttemptThenCandidate measures the pipeline's pattern: a durable
// RecordAttempt (one commit each) then a queued RecordCandidate, per job.
func BenchmarkAttemptThenCandidate(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "runs.sqlite"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	run, err := s.CreateRun(ctx, Run{OutputDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		sc := benchScored(n)
		if err := s.PlanJobs(ctx, run.ID, []comfybatch.Job{sc.Candidate.Job}); err != nil {
			b.Fatal(err)
		}
		a := Attempt{Instance: "gpu-1", PromptID: sc.Candidate.PromptID, Number: 1}
		if err := s.RecordAttempt(ctx, run.ID, sc.Candidate.Job.Key, a); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordCandidate(ctx, run.ID, sc); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEachCandidate measures streaming a run's candidates with their
// scores, as report and export read them: 20,000 candidates that are one
// image per prompt, or the same number as batches of 4 (whose rows also
// count their batch).
func BenchmarkEachCandidate(b *testing.B) {
	const n = 20_000
	for _, batch := range []int{1, 4} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "runs.sqlite"), Options{BatchSize: 2048})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := b.Context()
			run, err := s.CreateRun(ctx, Run{OutputDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i += batch {
				var cands []comfybatch.Scored
				for k := range batch {
					sc := benchScored(i)
					sc.Candidate.Output, sc.Candidate.BatchIndex = "9", k
					cands = append(cands, sc)
				}
				if err := s.RecordCandidates(ctx, run.ID, cands); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				got := 0
				if err := s.EachCandidate(ctx, run.ID, CandidateQuery{}, func(c ViewCandidate) error {
					if c.BatchSize != batch {
						b.Fatalf("candidate %s: batch size %d, want %d", c.Ref, c.BatchSize, batch)
					}
					got++
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("%d candidates, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "candidates/s")
		})
	}
}

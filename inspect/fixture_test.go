package inspect_test

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/runview"
	"github.com/comfybatch/comfybatch/store"
)

// base is the fixture's clock: every time the store records is fixed, so
// its reports can be compared with golden files.
var base = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

// fixture is a database with two finished runs, filled in through the
// store's public API the way the pipeline fills it.
type fixture struct {
	st             *store.Store
	nightly, smoke store.Run
	jobs           []comfybatch.Job // of nightly, by index
}

func fixtureJob(t testing.TB, i int, group string, params ...comfybatch.Param) comfybatch.Job {
	t.Helper()
	wf := fmt.Sprintf(`{"3":{"class_type":"KSampler","inputs":{"seed":%d,"group":%q}}}`, i, group)
	key, err := comfybatch.KeyOf([]byte(wf), nil)
	if err != nil {
		t.Fatal(err)
	}
	return comfybatch.Job{Key: key, Index: i, Group: group, Workflow: []byte(wf), Params: params}
}

func params(seed uint64, sampler string, steps int64, cfg float64) []comfybatch.Param {
	return []comfybatch.Param{
		{Name: "seed", Value: seed}, {Name: "sampler_name", Value: sampler},
		{Name: "steps", Value: steps}, {Name: "cfg", Value: cfg},
	}
}

func scored(j comfybatch.Job, total, sharp float64, rejected string) comfybatch.Scored {
	return comfybatch.Scored{
		Candidate: comfybatch.Candidate{
			Job: j, Instance: "gpu-1", PromptID: "p" + j.Key[:6], Attempt: 1,
			Path: "images/" + j.Key[:2] + "/" + j.Key + ".png", SHA256: j.Key,
			Queued: base, Started: base.Add(time.Second), Finished: base.Add(4 * time.Second),
		},
		Scores: []comfybatch.Score{
			{Scorer: "sharpness", Metrics: map[string]float64{"laplacian_var": sharp}},
			{Scorer: "phash", Metrics: map[string]float64{}, Values: map[string]string{"hash": "f0f0f0f0f0f0f0f0"}},
		},
		Total:    total,
		Rejected: rejected,
	}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	now := base
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "runs.sqlite"), store.Options{
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("store.Open = %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	f := &fixture{st: st}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	f.nightly, err = st.CreateRun(ctx, store.Run{Name: "nightly", ManifestPath: "headshots.yaml",
		OutputDir: "/srv/runs/nightly", Started: base})
	must(err)
	const bigSeed = uint64(1)<<63 + 5 // beyond int64 and float64's exact integers
	f.jobs = []comfybatch.Job{
		fixtureJob(t, 0, "cats", params(1, "euler", 8, 7)...),
		fixtureJob(t, 1, "cats", params(2, "euler", 20, 7)...),
		fixtureJob(t, 2, "cats", params(3, "dpmpp_2m", 100, 7.5)...),
		fixtureJob(t, 3, "cats", params(bigSeed, "dpmpp_2m_sde", 20, 7.5)...),
		fixtureJob(t, 4, "cats", params(5, "dpmpp_2m", 8, 7)...),
		fixtureJob(t, 5, "dogs", params(1, "euler", 20, 7)...),
		fixtureJob(t, 6, "dogs", params(2, "dpmpp_2m", 20, 7)...),
		fixtureJob(t, 7, "dogs", params(3, "euler", 8, 7)...),
		fixtureJob(t, 8, "dogs", params(4, "euler", 100, 7)...),
		fixtureJob(t, 9, "dogs", params(5, "dpmpp_2m", 20, 7)...),
		fixtureJob(t, 10, "dogs", params(6, "euler", 20, 7)...),
	}
	must(st.PlanJobs(ctx, f.nightly.ID, f.jobs))
	j := f.jobs
	for _, sc := range []comfybatch.Scored{
		scored(j[0], 0.9, 240, ""),
		scored(j[1], 0.55, 31.5, "gate sharpness.laplacian_var: 31.5 < min 50"),
		scored(j[2], 0.7, 180, ""),
		scored(j[3], 0.85, 200, "near-duplicate of job 0"),
		scored(j[4], 0.2, 12, "gate sharpness.laplacian_var: 12 < min 50"),
		scored(j[5], 0.6, 150, ""),
		scored(j[6], 0.8, 175, ""),
		scored(j[7], 0.1, 0, "scoring error: clip: connection refused\nretry later"),
		scored(j[8], 0.3, 90, "missing metric clip.similarity"),
	} {
		must(st.RecordAttempt(ctx, f.nightly.ID, sc.Candidate.Job.Key, store.Attempt{
			Instance: "gpu-1", PromptID: sc.Candidate.PromptID, Number: 1}))
		must(st.RecordCandidate(ctx, f.nightly.ID, sc))
	}
	// Job 9 failed twice on gpu-2; job 10 was planned and never submitted.
	must(st.RecordAttempt(ctx, f.nightly.ID, j[9].Key, store.Attempt{Instance: "gpu-2", PromptID: "p9", Number: 2}))
	now = base.Add(50 * time.Minute)
	must(st.RecordFailure(ctx, f.nightly.ID, j[9].Key, 2,
		fmt.Errorf("run on gpu-2: node 3 (KSampler): CUDA error: device-side assert\ttriggered: %w", comfybatch.ErrExecution)))
	must(st.Flush(ctx))
	must(st.SaveSelections(ctx, f.nightly.ID, "cats", []comfybatch.Selection{
		{Group: "cats", Rank: 1, JobKey: j[0].Key, Total: 0.9, Reason: "top 2 by total"},
		{Group: "cats", Rank: 2, JobKey: j[2].Key, Total: 0.7, Reason: "top 2 by total"},
	}))
	must(st.SaveSelections(ctx, f.nightly.ID, "dogs", []comfybatch.Selection{
		{Group: "dogs", Rank: 1, JobKey: j[6].Key, Total: 0.8, Reason: "top 2 by total"},
		{Group: "dogs", Rank: 2, JobKey: j[5].Key, Total: 0.6, Reason: "top 2 by total"},
	}))
	now = base.Add(time.Hour + 2*time.Minute + 3*time.Second + 400*time.Millisecond)
	must(st.SetRunStatus(ctx, f.nightly.ID, store.RunDone))

	// smoke was interrupted with one job done, one submitted, one failed.
	now = base.Add(3 * time.Hour)
	f.smoke, err = st.CreateRun(ctx, store.Run{Name: "smoke", ManifestPath: "smoke.yaml", OutputDir: "/srv/runs/smoke"})
	must(err)
	smoke := []comfybatch.Job{
		fixtureJob(t, 0, "all", params(1, "euler", 4, 1)...),
		fixtureJob(t, 1, "all", params(2, "euler", 4, 1)...),
		fixtureJob(t, 2, "all", params(3, "euler", 4, 1)...),
	}
	must(st.PlanJobs(ctx, f.smoke.ID, smoke))
	must(st.RecordCandidate(ctx, f.smoke.ID, scored(smoke[0], 1, 100, "")))
	must(st.RecordAttempt(ctx, f.smoke.ID, smoke[1].Key, store.Attempt{Instance: "gpu-1", PromptID: "s1", Number: 1}))
	must(st.RecordFailure(ctx, f.smoke.ID, smoke[2].Key, 3, fmt.Errorf("dial gpu-3: %w", errors.Join(comfybatch.ErrTransient))))
	must(st.Flush(ctx))
	now = base.Add(3*time.Hour + 90*time.Second)
	must(st.SetRunStatus(ctx, f.smoke.ID, store.RunInterrupted))
	return f
}

// open reads run id of the fixture's database as the commands do.
func (f *fixture) open(t testing.TB, id int64) *runview.Run {
	t.Helper()
	r, err := runview.Open(t.Context(), f.st, id)
	if err != nil {
		t.Fatalf("runview.Open(%d) = %v", id, err)
	}
	return r
}

// at is a clock for reports of runs that have not finished.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }

package pipeline

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/manifests"
	"github.com/comfybatch/comfybatch/report"
	"github.com/comfybatch/comfybatch/store"
)

// RunData reads a stored run into the form the report and export packages
// take. costPerGPUHour prices every instance (0 = no cost estimate).
func RunData(ctx context.Context, st *store.Store, runID int64, costPerGPUHour float64) (report.Run, error) {
	run, err := st.Run(ctx, runID)
	if err != nil {
		return report.Run{}, err
	}
	abs, err := filepath.Abs(run.OutputDir)
	if err != nil {
		return report.Run{}, err
	}
	out := report.Run{
		ID: run.ID, Name: run.Name, ManifestPath: run.ManifestPath, Started: run.Started,
		Finished: run.Finished, Status: run.Status, OutputDir: abs,
	}
	counts, err := st.Counts(ctx, runID)
	if err != nil {
		return report.Run{}, err
	}
	out.Counts = report.Counts{Jobs: counts.All.Total, Done: counts.All.Done, Failed: counts.All.Failed,
		Pending: counts.All.Pending + counts.All.Submitted}
	stats, err := st.InstanceStats(ctx, runID)
	if err != nil {
		return report.Run{}, err
	}
	for _, s := range stats {
		out.Instances = append(out.Instances, report.Instance{Name: s.Instance, Prompts: s.Prompts,
			Failures: s.Failures, Busy: s.Busy, ModelLoads: s.ModelLoads, CostPerGPUHour: costPerGPUHour})
	}
	if m, err := manifests.Parse(run.ManifestPath, []byte(run.ManifestText), filepath.Dir(run.ManifestPath)); err == nil {
		for _, r := range Rules(m) {
			if r.Min != nil || r.Max != nil {
				out.Gates = append(out.Gates, r.Scorer+"."+r.Metric)
			}
		}
	}
	cands, err := st.Candidates(ctx, runID, "")
	if err != nil {
		return report.Run{}, err
	}
	if out.Selections, err = st.Selections(ctx, runID); err != nil {
		return report.Run{}, err
	}
	topK := map[string]int{}
	for _, s := range out.Selections {
		topK[s.Group]++
	}
	byGroup := map[string][]comfybatch.Scored{}
	keyOfIndex := map[int]string{}
	for _, c := range cands {
		byGroup[c.Candidate.Job.Group] = append(byGroup[c.Candidate.Job.Group], c)
		keyOfIndex[c.Candidate.Job.Index] = c.Candidate.Job.Key
	}
	names := make([]string, 0, len(byGroup))
	for g := range byGroup {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		grp := report.Group{Name: g, TopK: topK[g], Candidates: byGroup[g], NearDuplicates: map[string]string{}}
		for _, c := range byGroup[g] {
			if kind, of := comfybatch.ParseRejection(c.Rejected); kind == comfybatch.RejectNearDuplicate {
				if i, err := strconv.Atoi(of); err == nil {
					grp.NearDuplicates[c.Candidate.Job.Key] = keyOfIndex[i]
				}
			}
		}
		out.Groups = append(out.Groups, grp)
	}
	failures, err := st.Failures(ctx, runID)
	if err != nil {
		return report.Run{}, fmt.Errorf("read failures: %w", err)
	}
	for _, f := range failures {
		out.Failed = append(out.Failed, report.Failure{JobIndex: f.Index, JobKey: f.JobKey, Group: f.Group,
			Class: f.Class, Message: f.Message, Attempts: f.Attempts})
	}
	return out, nil
}

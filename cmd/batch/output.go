package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/comfybatch/comfybatch"
	"github.com/comfybatch/comfybatch/pipeline"
	"github.com/comfybatch/comfybatch/runview"
)

// printOutcome writes the selected candidates of every group as a table
// with the params that were swept within a group (seed, sampler, cfg ...),
// then where the database and images are and the master seed.
func printOutcome(w io.Writer, out *pipeline.Outcome, seedChosen bool) {
	metrics := metricColumns(out)
	params := sweptColumns(out)
	batched, outputs := imageColumns(out)
	if batched && !slices.Contains(params, "seed") {
		params = append(params, "seed") // with the batch index, what renders an image again
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := []string{"GROUP", "RANK", "JOB"}
	for _, p := range params {
		hdr = append(hdr, strings.ToUpper(p))
	}
	if batched {
		hdr = append(hdr, "BATCH")
	}
	if outputs {
		hdr = append(hdr, "OUTPUT")
	}
	hdr = append(hdr, "INSTANCE", "TOTAL")
	for _, m := range metrics {
		hdr = append(hdr, strings.ToUpper(m))
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, g := range out.Groups {
		byRef := candidatesByRef(g)
		for _, s := range g.Selection {
			c := byRef[s.Ref()]
			row := []string{g.Name, fmt.Sprint(s.Rank), fmt.Sprint(c.Candidate.Job.Index)}
			for _, p := range params {
				v, _ := c.Candidate.Job.Param(p)
				row = append(row, short(runview.FormatValue(v), 24))
			}
			if batched {
				row = append(row, fmt.Sprint(s.BatchIndex))
			}
			if outputs {
				row = append(row, s.Output)
			}
			row = append(row, c.Candidate.Instance, runview.FormatTotal(s.Total))
			for _, m := range metrics {
				scorer, metric, _ := strings.Cut(m, ".")
				if v, ok := c.Metric(scorer, metric); ok {
					row = append(row, runview.FormatMetric(metric, v))
				} else {
					row = append(row, "-")
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	tw.Flush()
	if len(out.Instances) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tPROMPTS\tFAILURES\tBUSY\tUTILIZATION\tMODEL LOADS\tDOWN")
		for _, s := range out.Instances {
			util := "-"
			if out.Elapsed > 0 {
				util = fmt.Sprintf("%.0f%%", 100*s.Busy.Seconds()/out.Elapsed.Seconds())
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%s\n", s.Name, s.Prompts, s.Failures,
				s.Busy.Round(time.Millisecond), util, s.ModelLoads, s.Down.Round(time.Millisecond))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	selected := 0
	for _, g := range out.Groups {
		selected += len(g.Selection)
	}
	fmt.Fprintf(w, "run %d: %d jobs, %d generated now, %d already done, %d failed; %d selected in %d groups (%s)\n",
		out.Run.ID, out.Total, out.Done, out.Skipped, out.Failed, selected, len(out.Groups), out.Elapsed.Round(10*time.Millisecond))
	if r := out.Summary.Retried; len(r) > 0 || out.Summary.Rescored > 0 {
		var parts []string
		for _, c := range sortedKeys(r) {
			parts = append(parts, fmt.Sprintf("%d %s", r[c], c))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "retried failed jobs of earlier runs: %s\n", strings.Join(parts, ", "))
		}
		if out.Summary.Rescored > 0 {
			fmt.Fprintf(w, "scored %d candidates that waited for a scorer\n", out.Summary.Rescored)
		}
	}
	if lines := out.Summary.Lines(manifestArg(out), out.Run.ID); len(lines) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintf(w, "database: %s\n", out.Database)
	fmt.Fprintf(w, "images:   %s\n", out.Run.OutputDir)
	fmt.Fprintf(w, "selected: %s\n", filepath.Join(out.Run.OutputDir, "selected"))
	if seedChosen && !out.Resumed {
		fmt.Fprintf(w, "master seed: %d, chosen for this run; add master_seed: %d to the manifest to draw the same random seeds again\n",
			out.Run.MasterSeed, out.Run.MasterSeed)
	} else {
		fmt.Fprintf(w, "master seed: %d\n", out.Run.MasterSeed)
	}
}

// sweptColumns lists the params that vary within a group, in the order
// they first appear: the ones that tell a group's selected candidates
// apart. A param set once per group (its prompt) is not one. With none,
// the seed is shown.
func sweptColumns(out *pipeline.Outcome) []string {
	var cols []string
	for _, g := range out.Groups {
		swept, _ := runview.SplitParams(func(yield func([]comfybatch.Param) bool) {
			for _, c := range g.Ranked {
				if !yield(c.Candidate.Job.Params) {
					return
				}
			}
		})
		for _, name := range swept {
			if !slices.Contains(cols, name) {
				cols = append(cols, name)
			}
		}
	}
	if len(cols) == 0 {
		cols = []string{"seed"}
	}
	return cols
}

// imageColumns reports whether the run's prompts saved batches (some
// ranked candidate has a batch index above 0) and images at more than one
// output node: the table then says which image of its prompt each
// selected candidate is.
func imageColumns(out *pipeline.Outcome) (batched, outputs bool) {
	first := ""
	seen := false
	for _, g := range out.Groups {
		for _, c := range g.Ranked {
			batched = batched || c.Candidate.BatchIndex > 0
			if !seen {
				first, seen = c.Candidate.Output, true
			}
			outputs = outputs || c.Candidate.Output != first
		}
	}
	return batched, outputs
}

// metricColumns lists "scorer.metric" names that carry weight, in a
// stable order, for the table's score columns.
func metricColumns(out *pipeline.Outcome) []string {
	seen := map[string]bool{}
	for _, g := range out.Groups {
		for _, c := range g.Ranked {
			for _, s := range c.Scores {
				for m := range s.Metrics {
					if m == "ok" || m == "width" || m == "height" || m == "bytes" {
						continue // shown as gates, not columns
					}
					seen[s.Scorer+"."+m] = true
				}
			}
		}
	}
	var cols []string
	for k := range seen {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	return cols
}

// selectionJSON is one line of --json output: an API, keep keys stable.
type selectionJSON struct {
	Event    string             `json:"event"` // "selected"
	Run      int64              `json:"run"`
	Group    string             `json:"group"`
	Rank     int                `json:"rank"`
	Job      int                `json:"job"`
	JobKey   string             `json:"job_key"`
	Params   map[string]any     `json:"params"`
	Instance string             `json:"instance"`
	PromptID string             `json:"prompt_id"`
	Total    float64            `json:"total"`
	Scores   map[string]float64 `json:"scores"`
	Image    string             `json:"image"`
}

func printJSON(w io.Writer, out *pipeline.Outcome) {
	enc := json.NewEncoder(w)
	for _, g := range out.Groups {
		byRef := candidatesByRef(g)
		for _, s := range g.Selection {
			c := byRef[s.Ref()]
			line := selectionJSON{
				Event: "selected", Run: out.Run.ID, Group: g.Name, Rank: s.Rank, Job: c.Candidate.Job.Index, JobKey: s.JobKey,
				Params: map[string]any{}, Instance: c.Candidate.Instance, PromptID: c.Candidate.PromptID,
				Total: s.Total, Scores: map[string]float64{}, Image: filepath.Join(out.Run.OutputDir, c.Candidate.Path),
			}
			for _, p := range c.Candidate.Job.Params {
				line.Params[p.Name] = p.Value
			}
			for _, sc := range c.Scores {
				for m, v := range sc.Metrics {
					line.Scores[sc.Scorer+"."+m] = v
				}
			}
			_ = enc.Encode(line)
		}
	}
	_ = enc.Encode(summaryJSON{Event: "summary", Run: out.Run.ID, Status: out.Run.Status, Problems: out.Summary.Problems(),
		Summary: out.Summary, Generated: out.Done, FailedNow: out.Failed, Skipped: out.Skipped})
}

// summaryJSON is the last --json line of a run: the same counts as the
// summary people read, and the run's status.
type summaryJSON struct {
	Event    string `json:"event"`
	Run      int64  `json:"run"`
	Status   string `json:"status"`
	Problems int    `json:"problems"`
	pipeline.Summary
	Generated int `json:"generated"`  // jobs done by this process
	FailedNow int `json:"failed_now"` // jobs failed in this process
	Skipped   int `json:"skipped"`    // jobs an earlier process finished
}

// manifestArg is how the summary names the manifest in the commands it
// suggests: relative to the current folder when it is below it.
func manifestArg(out *pipeline.Outcome) string {
	p := out.Run.ManifestPath
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return p
}

func candidatesByRef(g pipeline.GroupResult) map[comfybatch.Ref]comfybatch.Scored {
	byRef := make(map[comfybatch.Ref]comfybatch.Scored, len(g.Ranked))
	for _, c := range g.Ranked {
		byRef[c.Candidate.Ref()] = c
	}
	return byRef
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

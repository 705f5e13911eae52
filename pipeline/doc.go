// Package pipeline is the one orchestrator of a candidate-pool run:
//
//	manifest -> jobs -> instances -> scorers -> selectors -> store
//
// Run plans the manifest's jobs, opens (or resumes) the run in the store,
// streams the jobs through a generate.Fleet, decodes each image once and
// hands it to every scorer while generation continues, records every
// candidate, then ranks and selects the top K per group. Select re-runs only
// the last step from stored scores.
//
// The interfaces the pipeline consumes (Scorer, Generator) are declared here,
// small and found by use; the adapters return concrete types. Functions are
// safe for concurrent use as long as they are given different stores.
package pipeline

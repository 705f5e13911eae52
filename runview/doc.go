// Package runview is the one read-only view of a stored run: what show,
// compare, report, grid and export present. The pipeline writes runs
// through package store; every presentation reads them through here, so a
// value is ordered, formatted and identified the same way everywhere and a
// schema change touches only the store.
//
// Open reads what does not grow with the run: its record, job counts per
// group, rejection and failure tallies (aggregated in SQL), selections,
// instance statistics and, from the manifest it was started with, each
// group's top_k and the gated metrics. Candidates stream in plan order
// through Run.Each, or load through Run.LoadCandidates when a presentation
// needs them all (a report, a grid); a million-candidate run can be
// summarised without loading any.
//
// A candidate is one image: a prompt that saves a batch, or saves at
// several output nodes, yields several candidates of one job, told apart
// by their ID (job key, output node, batch index). Candidate.Value reads
// a param or one of the image fields batch_index, batch_size and output,
// which --where, grid axes and compare take like params; Run.Outputs
// names the output nodes from the run's workflow, and Run.BatchLink says
// where LatentFromBatch goes to render one image of a batch alone.
//
// Values of parameters have one natural order (CompareValues: numbers
// numerically and exactly, strings with their digits read as numbers) and
// one identity (ValueKey), and metrics one human format (FormatMetric).
//
// A Run is safe for concurrent use; it reads through the *store.Store it
// was opened with, which must stay open while the Run is used. Reading a
// run that is being written is allowed (the store uses WAL): Open retries
// until its counts agree, and a later stream sees the rows committed by
// then.
package runview

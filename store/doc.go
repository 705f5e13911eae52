// Package store records runs, jobs, attempts, images, scores, selections
// and instance statistics in SQLite (modernc.org/sqlite, no cgo), and keeps
// each run's image files in its run folder. The database is the source of
// truth of every run; resume reads it back.
//
// Entry points: Open (creates the file, applies the embedded migrations),
// then CreateRun or LatestRun, PlanJobs, RecordAttempt before each
// submission, WriteImage followed by RecordCandidate for each result,
// RecordFailure, Flush, SaveSelections and LayoutSelected; Close at the end.
// Reads: Run, Runs, JobStates, Candidates, Failures, Selections, Counts,
// InstanceStats.
//
// A Store is safe for concurrent use. Reads use their own connection pool
// and run in parallel with writes (WAL). Every write goes through one
// goroutine owned by the Store that commits batches of up to
// Options.BatchSize records per transaction, or whatever arrived within
// Options.FlushInterval. RecordCandidate and RecordFailure return as soon
// as they are queued, and their errors surface from Flush or Close; every
// other write (RecordAttempt included) waits until its transaction has
// committed. Writes are idempotent by key, so recording again after a
// crash or on resume updates rows and never duplicates them.
//
// It is not for scheduling or scoring decisions: it stores what the other
// packages decided. Times are stored as UTC unix milliseconds.
package store

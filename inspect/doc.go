// Package inspect answers the questions people ask of the run database the
// morning after a build: which runs there are (batch runs), how one run went
// (batch show) and how the values of one or two parameters compare (batch
// compare), with enough statistics to tell a real difference from
// seed-to-seed noise.
//
// Entry points: Runs reads a *store.Store; Show and Compare read a run
// through its *runview.Run, the one read view every presentation shares.
// WriteRunsText, WriteRunsJSON and the WriteText and WriteJSON methods of
// RunReport and Comparison format them. Text is for people, fits Width
// columns unless wide is asked for, and may change; JSON is an API with
// stable snake_case keys, times in RFC 3339 UTC and durations in
// milliseconds.
//
// Show reads aggregates, the selected candidates and a page of failures,
// never every candidate, so it is quick on a run of a million. Compare
// streams the candidates and keeps one total per candidate.
//
// The arithmetic lives in pure functions usable without a database:
// Rejections (why candidates were rejected, with a pass rate per gate),
// CompareBy (statistics, seeded bootstrap intervals of the mean and of
// the difference from the best value) and NewRunSummary.
//
// Errors for a run, group or parameter the database doesn't have wrap
// store.ErrNotFound. The package holds no state, and its functions only
// read, so they are safe for concurrent use, also while a run is writing
// to the same database (WAL).
package inspect

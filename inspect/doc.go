// Package inspect answers the questions people ask of the run database the
// morning after a build: which runs there are (batch runs), how one run went
// (batch show) and how the values of one parameter compare (batch compare).
//
// Entry points: Runs, Show and Compare read a *store.Store and return plain
// values; WriteRunsText, WriteRunsJSON and the WriteText and WriteJSON
// methods of RunReport and Comparison format them. Text is a tabwriter table
// for people and may change; JSON is an API with stable snake_case keys,
// times in RFC 3339 UTC and durations in milliseconds.
//
// The arithmetic lives in pure functions over the root types, usable without
// a database: Rejections (why candidates were rejected, with a pass rate per
// gate), CompareBy (statistics per parameter value) and NewRunSummary.
//
// Errors for a run, group or parameter the database doesn't have wrap
// store.ErrNotFound. The package holds no state, and its functions only
// read, so they are safe for concurrent use, also while a run is writing
// to the same database (WAL).
package inspect

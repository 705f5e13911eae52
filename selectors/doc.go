// Package selectors turns the scored candidates of one group into a ranked,
// gated, diverse selection. Everything here is a pure function over
// comfybatch.Scored values: no I/O, safe for concurrent use.
//
// Two steps, kept apart so each can be re-run from stored scores:
//
//   - Rank computes every candidate's Total from its metrics (normalised
//     within the group, weighted) and marks the ones that fail a gate or
//     could not be scored as Rejected.
//   - A Selector (TopK is the built-in one) picks the delivered candidates
//     from the ranked group.
package selectors

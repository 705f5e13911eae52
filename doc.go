// Package comfybatch holds the domain types shared by every stage of a
// candidate-pool run: a Job (one candidate to generate), a Candidate (what a
// ComfyUI instance produced for it), a Score (what one scorer said about it),
// a Selection (a candidate chosen for delivery), and the error kinds that
// decide retries and exit codes.
//
// It imports only the standard library. The stages live in their own
// packages and depend on these types, never on each other:
//
//	manifests  -> []Job
//	generate   Job -> Candidate
//	score      Candidate -> Score
//	selectors  []Scored -> []Selection
//	store      everything, in SQLite
//	pipeline   wires them together
package comfybatch

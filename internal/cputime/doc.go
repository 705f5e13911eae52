// Package cputime reads the CPU time of this process, for benchmarks.
//
// On a machine shared with other work, a benchmark's wall time counts the
// time it waited for a core; its CPU time (user + system, every thread,
// the garbage collector's included) does not, so paired measurements of
// CPU time compare two implementations more steadily. Benchmarks report
// it with PerOp next to ns/op.
package cputime

// Package cputime reads the CPU time of this process, for benchmarks.
//
// On a machine shared with other work, a benchmark's wall time counts the
// time it waited for a core; its CPU time (user + system, every thread,
// the garbage collector's included) does not, so paired measurements of
// CPU time compare two implementations more steadily. Benchmarks report
// it with PerOp next to ns/op.
package cputime

import (
	"testing"
	"time"
)

// PerOp reports the CPU time this process spent since start (a value of
// Now) divided by b.N, as the metric "cpu-ns/op". Call it after the
// benchmark loop; where the system does not say (Supported is false) it
// reports nothing.
func PerOp(b *testing.B, start time.Duration) {
	if !Supported {
		return
	}
	b.ReportMetric(float64((Now()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

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

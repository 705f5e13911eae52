//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Supported says whether Now reads the CPU time on this system.
const Supported = true

// Now is the CPU time (user + system) this process has used so far.
func Now() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

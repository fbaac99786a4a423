//go:build unix

package trace

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used, so
// that benchmarks can report CPU cost as well as wall time: on a shared
// machine the wall time depends on what else runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

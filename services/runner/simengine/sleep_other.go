//go:build !linux

package simengine

import (
	"runtime"
	"time"
)

// preciseThread does nothing where there is no portable way to tighten the
// thread's timer slack.
func preciseThread() {}

// preciseSleep yields in a loop until d has passed: precise, at the cost of
// CPU during the last coarseMargin before each deadline. The simulator is
// meant to run on Linux; this keeps it correct elsewhere.
func preciseSleep(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		runtime.Gosched()
	}
}

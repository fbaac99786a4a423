//go:build !linux

package pacer

import (
	"runtime"
	"time"
)

// LockThread does nothing where there is no portable way to tighten the
// thread's timer slack.
func LockThread() {}

// Sleep yields in a loop until d has passed: precise, at the cost of CPU.
// The runner is meant for Linux; this keeps it correct elsewhere.
func Sleep(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		runtime.Gosched()
	}
}

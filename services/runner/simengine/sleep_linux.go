//go:build linux

package simengine

import (
	"runtime"
	"syscall"
	"time"
)

// preciseThread pins the clock goroutine to its OS thread and lowers that
// thread's timer slack from the default 50 µs to 1 ns, so that nanosleep
// returns within a few microseconds of the requested time. The goroutine
// never unlocks the thread: when it exits, the runtime ends the thread, and
// the changed slack never reaches a thread that runs other goroutines.
func preciseThread() {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_TIMERSLACK, 1, 0)
}

// preciseSleep sleeps for d with nanosleep, which, unlike Go timers, is not
// rounded to the network poller's millisecond resolution. It is only called
// for d <= fineSlice, so the thread is never blocked for long.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}

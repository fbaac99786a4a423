//go:build linux

package pacer

import (
	"runtime"
	"syscall"
	"time"
)

// LockThread pins the calling goroutine to its OS thread and lowers that
// thread's timer slack from the default 50 µs to 1 ns, so that Sleep returns
// within a few microseconds of the requested time. It never unlocks: when
// the goroutine exits the runtime ends the thread, so the changed slack never
// reaches a thread that runs other goroutines.
func LockThread() {
	runtime.LockOSThread()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_TIMERSLACK, 1, 0)
}

// Sleep sleeps for d with nanosleep, which unlike Go timers is not rounded to
// the network poller's millisecond resolution. Keep d short: the thread is
// blocked meanwhile.
func Sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}

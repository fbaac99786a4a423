package sigstorestack

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// onEndingThread runs f on a thread that ends when f returns, and returns
// that thread's id: Go ends the thread of a goroutine that returns while
// locked to it, except the main thread, which it keeps.
func onEndingThread(f func()) (tid int) {
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		if syscall.Gettid() == syscall.Getpid() {
			// Holding the main thread, the next goroutine gets another.
			id := onEndingThread(f)
			runtime.UnlockOSThread()
			done <- id
			return
		}
		f()
		done <- syscall.Gettid()
	}()
	return <-done
}

// A server must outlive the thread that happened to start it. The servers
// get SIGKILL when their parent thread ends (so that a killed test leaves
// none behind), and Go ends a thread whenever a goroutine locked to it
// returns, as the simulated engine's clock does on purpose: a server
// started from such a thread died with it (the flaky "connection refused"
// from Fulcio in TestSignerRoleKeyless).
func TestServerOutlivesTheStartingThread(t *testing.T) {
	dir := t.TempDir()
	var p *process
	var err error
	tid := onEndingThread(func() { p, err = startProcess("sleeper", "/bin/sleep", []string{"60"}, dir) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop(time.Second)

	task := fmt.Sprintf("/proc/self/task/%d", tid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test's premise: thread %d should have ended", tid)
		}
	}
	select {
	case <-p.done:
		t.Fatalf("the server died with the thread that started it: %v", p.waitErr)
	case <-time.After(500 * time.Millisecond):
	}
}

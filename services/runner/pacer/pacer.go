// Package pacer waits until a moment with sub-millisecond precision.
//
// Go timers are woken by the network poller, whose epoll timeout has
// millisecond resolution: a timer fires up to ~1 ms late (0.3 ms typical on
// these machines). A load generator that promises a dispatch lag under 1 ms,
// and a simulated engine whose timing tests check a client to within 1 ms,
// both need better. YieldUntil waits on an ordinary timer until Margin before
// the moment and yields the processor for the rest. A goroutine that must
// sleep precisely instead calls LockThread, which gives it its own OS thread
// with the kernel's timer slack lowered to 1 ns, and then Sleep (nanosleep).
package pacer

import (
	"context"
	"runtime"
	"time"
)

// Margin is how far before a moment a precise wait (YieldUntil, the
// simulated engine's clock) stops trusting Go timers: their lateness is
// below ~1 ms plus scheduling delay.
const Margin = 2 * time.Millisecond

// YieldUntil waits until the monotonic time of now() reaches deadline (both
// in nanoseconds on the same clock) and reports false if ctx ended first. It
// spends the last Margin yielding the processor (runtime.Gosched) instead of
// sleeping in the kernel. A dispatcher must use it: goroutines it starts are
// queued on its own processor, which a thread blocked in nanosleep would
// hold until the scheduler's monitor takes it back (up to 10 ms when the
// process is idle). Yielding runs them at once. The cost is CPU in the last
// Margin before each moment, when there is nothing else to run.
func YieldUntil(ctx context.Context, timer *time.Timer, now func() int64, deadline int64) bool {
	if rem := time.Duration(deadline - now()); rem > Margin {
		timer.Reset(rem - Margin)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return false
		}
	}
	for now() < deadline {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return ctx.Err() == nil
}

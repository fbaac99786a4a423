package pacer

import (
	"context"
	"sort"
	"testing"
	"time"
)

func TestYieldUntil(t *testing.T) {
	base := time.Now()
	now := func() int64 { return int64(time.Since(base)) }
	timer := time.NewTimer(time.Hour)
	var late []time.Duration
	for i := range 40 {
		deadline := now() + int64(time.Duration(i%8+1)*700*time.Microsecond)
		if !YieldUntil(context.Background(), timer, now, deadline) {
			t.Fatal("YieldUntil reported a cancelled context")
		}
		late = append(late, time.Duration(now()-deadline))
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	if late[0] < 0 {
		t.Fatalf("woke %v early", -late[0])
	}
	// Generous: the machine may be busy; the point is sub-millisecond, where
	// plain Go timers are typically 0.3 ms and up to ~1 ms late.
	if p50 := late[len(late)/2]; p50 > 500*time.Microsecond {
		t.Fatalf("median lateness %v", p50)
	}
	t.Logf("lateness: median %v, max %v", late[len(late)/2], late[len(late)-1])

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Both phases give up on a cancelled context: the timer wait and the
	// yielding within Margin of the deadline.
	for _, ahead := range []time.Duration{time.Second, Margin / 2} {
		if YieldUntil(ctx, time.NewTimer(time.Hour), now, now()+int64(ahead)) {
			t.Fatalf("YieldUntil %v ahead ignored a cancelled context", ahead)
		}
	}
}

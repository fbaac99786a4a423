package simengine

import (
	"context"
	"sync"
	"time"

	"github.com/inferencebench/bench/services/runner/pacer"
)

// Why a clock of our own: Go timers are woken by the network poller, whose
// epoll timeout has millisecond resolution, so a timer fires up to ~1 ms
// late (0.3 ms typical). Tests of the benchmarking client compare its TTFT
// with the configured one to within 1 ms, so the engine must be a good deal
// better than that. One goroutine per engine keeps every pending deadline in
// a heap; it sleeps on an ordinary timer until pacer.Margin before the
// earliest one, then in short precise sleeps (nanosleep with the thread's
// timer slack lowered, see package pacer) until it is due, and wakes the
// waiting request. Only this one goroutine ever sleeps precisely, so the
// cost does not grow with the number of streams, and it exits when nothing
// has been pending for idleLinger, so an idle engine holds no goroutine.
const (
	// fineSlice bounds one precise sleep, so that a deadline added while the
	// clock sleeps precisely, earlier than the one it sleeps for, is late by
	// at most this much.
	fineSlice = 100 * time.Microsecond
	// idleLinger is how long the loop goroutine outlives its last deadline.
	// Its thread is created and destroyed with it (see pacer.LockThread), so
	// it should not come and go with every request of a sequential client.
	idleLinger = 50 * time.Millisecond
)

// waiter is one request waiting for a deadline. Each request owns one and
// reuses it for all its deadlines, so waiting allocates nothing.
type waiter struct {
	when int64         // deadline, nanoseconds since clock.base (monotonic)
	idx  int           // position in the heap; -1 when not queued
	ch   chan struct{} // capacity 1; receives one value when the deadline passes
}

func newWaiter() waiter { return waiter{idx: -1, ch: make(chan struct{}, 1)} }

type clock struct {
	base time.Time     // origin of the monotonic nanosecond deadlines
	kick chan struct{} // capacity 1; tells the loop that the earliest deadline changed

	mu      sync.Mutex
	heap    []*waiter // min-heap on when
	running bool      // the loop goroutine exists
}

func newClock() *clock {
	return &clock{base: time.Now(), kick: make(chan struct{}, 1)}
}

// now returns monotonic nanoseconds since c.base.
func (c *clock) now() int64 { return int64(time.Since(c.base)) }

// mono converts t (which must carry a monotonic reading, as time.Now's do)
// to the clock's nanoseconds.
func (c *clock) mono(t time.Time) int64 { return int64(t.Sub(c.base)) }

// sleepUntil blocks until the deadline when (clock nanoseconds) has passed
// or ctx is done, and reports whether the deadline was reached. w must not
// be in use by another call.
func (c *clock) sleepUntil(ctx context.Context, w *waiter, when int64) bool {
	if when <= c.now() {
		return true
	}
	w.when = when
	c.add(w)
	select {
	case <-w.ch:
		return true
	case <-ctx.Done():
		c.remove(w)
		return false
	}
}

func (c *clock) add(w *waiter) {
	c.mu.Lock()
	c.push(w)
	if !c.running {
		c.running = true
		go c.run()
	} else if w.idx == 0 {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	c.mu.Unlock()
}

// remove takes w out of the heap after its request gave up, and drains a
// wake-up that the loop may have sent in the meantime, so that w can be
// reused.
func (c *clock) remove(w *waiter) {
	c.mu.Lock()
	if w.idx >= 0 {
		wasHead := w.idx == 0
		c.removeAt(w.idx)
		if wasHead {
			// Let the loop recompute its sleep, and exit if nothing is left.
			select {
			case c.kick <- struct{}{}:
			default:
			}
		}
	}
	c.mu.Unlock()
	// The loop sends while holding mu, so any wake-up is in the channel now.
	select {
	case <-w.ch:
	default:
	}
}

// run is the loop goroutine. It wakes every waiter whose deadline has passed
// and sleeps until the next one; it returns when the heap has stayed empty
// for idleLinger.
func (c *clock) run() {
	pacer.LockThread()
	timer := time.NewTimer(idleLinger)
	defer timer.Stop()
	lingered := false // the heap has been empty for idleLinger
	c.mu.Lock()
	for {
		if len(c.heap) == 0 {
			if lingered {
				c.running = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			timer.Reset(idleLinger)
			select {
			case <-timer.C:
				lingered = true
			case <-c.kick:
				timer.Stop()
			}
			c.mu.Lock()
			continue
		}
		lingered = false
		now := c.now()
		for len(c.heap) > 0 && c.heap[0].when <= now {
			w := c.heap[0]
			c.removeAt(0)
			w.ch <- struct{}{} // never blocks: one send per add, capacity 1
		}
		if len(c.heap) == 0 {
			continue
		}
		rem := time.Duration(c.heap[0].when - now)
		c.mu.Unlock()
		if rem > pacer.Margin {
			timer.Reset(rem - pacer.Margin)
			select {
			case <-timer.C:
			case <-c.kick:
				timer.Stop()
			}
		} else {
			pacer.Sleep(min(rem, fineSlice))
			// The head is re-read below; an earlier kick needs no action.
			select {
			case <-c.kick:
			default:
			}
		}
		c.mu.Lock()
	}
}

// Heap operations; the caller holds mu. Written out rather than through
// container/heap to keep each waiter's index current without interface calls.

func (c *clock) push(w *waiter) {
	w.idx = len(c.heap)
	c.heap = append(c.heap, w)
	c.up(w.idx)
}

func (c *clock) removeAt(i int) {
	h := c.heap
	last := len(h) - 1
	w := h[i]
	if i != last {
		h[i] = h[last]
		h[i].idx = i
	}
	h[last] = nil
	c.heap = h[:last]
	if i != last {
		if !c.down(i) {
			c.up(i)
		}
	}
	w.idx = -1
}

func (c *clock) up(i int) {
	h := c.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].when <= h[i].when {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[p].idx, h[i].idx = p, i
		i = p
	}
}

// down moves element i towards the leaves and reports whether it moved.
func (c *clock) down(i int) bool {
	h := c.heap
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].when < h[l].when {
			m = r
		}
		if h[i].when <= h[m].when {
			break
		}
		h[i], h[m] = h[m], h[i]
		h[i].idx, h[m].idx = i, m
		i = m
	}
	return i > start
}

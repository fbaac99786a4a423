package runner

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/trace"
)

// progress shows a running count: requests done out of the expected total
// (or time elapsed out of the duration), the completion rate, errors, and
// the estimated time left. On a terminal it redraws one line five times a
// second; elsewhere (CI logs) it prints a line every ten seconds.
type progress struct {
	w             io.Writer
	tty           bool
	label         string
	total         int           // expected requests; 0 if bounded by time only
	duration      time.Duration // the time bound, if any
	start         time.Time
	done_, errors atomic.Int64
	stop          chan struct{}
	wg            sync.WaitGroup
}

func newProgress(w io.Writer, tty bool, point, points int, desc string, spec load.Spec) *progress {
	p := &progress{w: w, tty: tty, total: spec.Requests, duration: spec.Duration, start: time.Now(), stop: make(chan struct{})}
	p.label = desc
	if points > 1 {
		p.label = fmt.Sprintf("[%d/%d] %s", point, points, desc)
	}
	if w == nil {
		return p
	}
	every := 10 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print(false)
			case <-p.stop:
				return
			}
		}
	})
	return p
}

func (p *progress) done(r *trace.Record) {
	p.done_.Add(1)
	if !r.OK() {
		p.errors.Add(1)
	}
}

func (p *progress) finish() {
	if p.w == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.print(true)
}

func (p *progress) print(final bool) {
	n, errs := p.done_.Load(), p.errors.Load()
	elapsed := time.Since(p.start)
	rate := float64(n) / max(elapsed.Seconds(), 1e-9)
	var b strings.Builder
	b.WriteString(p.label)
	b.WriteString("  ")
	frac := -1.0
	switch {
	case p.total > 0:
		frac = float64(n) / float64(p.total)
		fmt.Fprintf(&b, "%s %d/%d requests", bar(frac), n, p.total)
	case p.duration > 0:
		frac = elapsed.Seconds() / p.duration.Seconds()
		fmt.Fprintf(&b, "%s %d requests, %s of %s", bar(frac), n, elapsed.Round(time.Second), p.duration)
	default:
		fmt.Fprintf(&b, "%d requests", n)
	}
	fmt.Fprintf(&b, "  %.1f req/s  errors %d", rate, errs)
	if !final && frac > 0 && frac < 1 {
		eta := time.Duration(float64(elapsed) * (1 - frac) / frac)
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	if final {
		fmt.Fprintf(&b, "  in %s", elapsed.Round(time.Millisecond))
	}
	if p.tty {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.w, "\r\033[K%s%s", b.String(), end)
	} else {
		fmt.Fprintln(p.w, b.String())
	}
}

func bar(frac float64) string {
	const width = 20
	frac = min(max(frac, 0), 1)
	full := int(frac * width)
	return "[" + strings.Repeat("=", full) + strings.Repeat(" ", width-full) + "]"
}

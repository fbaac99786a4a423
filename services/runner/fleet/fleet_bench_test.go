package fleet

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
)

var (
	benchJobs    = flag.Int("fleet.jobs", 100_000, "jobs in BenchmarkFleetDispatch")
	benchRunners = flag.Int("fleet.runners", 1000, "simulated runners in BenchmarkFleetDispatch")
)

// BenchmarkFleetDispatch is the fleet's scale check: -fleet.runners
// simulated runners (Workers with an executor that returns at once) in one
// pool take -fleet.jobs jobs (default 1,000 and 100,000) through one
// embedded NATS server. It reports dispatches/s (jobs settled per second
// from the start of the submission to the last job done), the submission's
// and the whole batch's wall time, and fails if a job is lost or run
// twice. Target: at least 1,000 dispatches/s. One iteration is the whole
// batch: run it with -benchtime 1x.
func BenchmarkFleetDispatch(b *testing.B) {
	nJobs, nRunners := *benchJobs, *benchRunners
	for b.Loop() {
		js, _ := startBus(b)
		ctx, cancel := context.WithCancel(context.Background())
		store, err := OpenStore(ctx, js)
		if err != nil {
			b.Fatal(err)
		}
		m := &Matrix{Batch: "scale", Pool: "scale", Engines: []matrixEngine{{Name: "instant", Endpoint: "http://127.0.0.1:1"}},
			Load: []matrixLoad{{Concurrency: numbers{1}, Requests: 1}}, Repeats: nJobs}
		m.Models = []matrixModel{{ID: "instant-model"}}
		jobs := expand(b, m)
		if len(jobs) != nJobs {
			b.Fatalf("%d jobs expanded", len(jobs))
		}

		var (
			runs    sync.Map // job id → *atomic.Int32: executions
			settled atomic.Int64
			dup     atomic.Int64
			allDone = make(chan struct{})
		)
		exec := ExecutorFunc(func(ctx context.Context, j *Job, _ *Run) error {
			n, _ := runs.LoadOrStore(j.ID, new(atomic.Int32))
			if n.(*atomic.Int32).Add(1) > 1 {
				dup.Add(1)
			}
			return nil
		})
		onSettled := func(id string, st State) {
			if st == Done && settled.Add(1) == int64(nJobs) {
				close(allDone)
			}
		}
		var wg sync.WaitGroup
		for i := range nRunners {
			w, err := NewWorker(WorkerConfig{JS: js, Store: store, Pool: "scale", ID: fmt.Sprintf("sim-%04d", i),
				Executor: exec, OnSettled: onSettled, Log: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				if err := w.Run(ctx); err != nil {
					b.Error(err)
				}
			})
		}
		waitUntil(b, time.Minute, "runners advertised", func() bool {
			rs, _ := Runners(ctx, js)
			return len(rs) == nRunners
		})
		goroutines := runtime.NumGoroutine()

		start := time.Now()
		res, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "scale", Parallel: 256})
		if err != nil {
			b.Fatal(err)
		}
		submitted := time.Since(start)
		select {
		case <-allDone:
		case <-time.After(30 * time.Minute):
			b.Fatalf("%d of %d jobs done after 30 minutes", settled.Load(), nJobs)
		}
		elapsed := time.Since(start)
		peakGoroutines := runtime.NumGoroutine()

		// Nothing lost, nothing run twice: every job ran once and its
		// record says done; the queue is empty.
		if res.Queued != nJobs || dup.Load() != 0 {
			b.Fatalf("%d queued, %d duplicate executions", res.Queued, dup.Load())
		}
		ran := 0
		runs.Range(func(_, v any) bool {
			if v.(*atomic.Int32).Load() == 1 {
				ran++
			}
			return true
		})
		batch, err := store.Batch(ctx, res.Batch.ID)
		if err != nil || len(batch.Jobs) != nJobs {
			b.Fatalf("batch record: %d jobs, %v", len(batch.Jobs), err)
		}
		statuses, err := store.Jobs(ctx, &batch)
		if err != nil {
			b.Fatal(err)
		}
		if s := Summarize(statuses); ran != nJobs || s.Done != nJobs {
			b.Fatalf("%d jobs ran once, %d recorded done, of %d", ran, s.Done, nJobs)
		}
		if n := bustest.Count(b, js, bus.StreamJobs); n != 0 {
			b.Fatalf("%d job messages left in the queue", n)
		}

		b.ReportMetric(float64(nJobs)/elapsed.Seconds(), "dispatches/s")
		b.ReportMetric(submitted.Seconds(), "submit-s")
		b.ReportMetric(elapsed.Seconds(), "submit-to-last-done-s")
		b.ReportMetric(float64(nJobs), "jobs")
		b.ReportMetric(float64(nRunners), "runners")
		b.Logf("%d jobs, %d runners: submitted in %s, last done after %s; goroutines %d idle, %d at the end",
			nJobs, nRunners, submitted.Round(time.Millisecond), elapsed.Round(time.Millisecond), goroutines, peakGoroutines)
		cancel()
		wg.Wait()
	}
}

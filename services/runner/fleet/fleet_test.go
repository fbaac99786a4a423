package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
)

// startBus starts an embedded NATS server with the contract's streams and
// buckets; the returned function opens another connection (a second
// "process").
func startBus(t testing.TB) (jetstream.JetStream, func() (*nats.Conn, jetstream.JetStream)) {
	t.Helper()
	b := bustest.Start(t, bus.Options{})
	return b.JS, func() (*nats.Conn, jetstream.JetStream) { return b.Connect(t) }
}

func testMatrix(batch, pool string, models int) *Matrix {
	m := &Matrix{Batch: batch, Pool: pool, Engines: []matrixEngine{{Name: "sim", Endpoint: "http://127.0.0.1:1"}},
		Load: []matrixLoad{{Concurrency: numbers{1}, Requests: 2}}}
	for i := range models {
		m.Models = append(m.Models, matrixModel{ID: fmt.Sprintf("model-%d", i)})
	}
	return m
}

func expand(t testing.TB, m *Matrix) []Job {
	t.Helper()
	jobs, err := m.Expand()
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// startWorker runs a worker until the test ends.
func startWorker(t testing.TB, js jetstream.JetStream, store *Store, cfg WorkerConfig) *Worker {
	t.Helper()
	cfg.JS, cfg.Store = js, store
	w, err := NewWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker %s: %v", w.ID(), err)
		}
	})
	return w
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jobState(t testing.TB, store *Store, id string) Status {
	t.Helper()
	st, _, err := store.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMatrixErrorsNameLineAndField(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown field", "batch: b\npool: p\nmodles:\n  - id: m\n", "m.yaml:3: modles: unknown field"},
		{"wrong type", "batch: b\npool: p\nmodels: [{id: m}]\nengines: [{name: e, endpoint: 'http://x'}]\nload:\n  - {rate: 1, requests: many}\n", "m.yaml:6: cannot unmarshal !!str `many` into int"},
		{"no engine command", "batch: b\npool: p\nmodels: [{id: m}]\nengines:\n  - name: vllm\nload: [{rate: 1, requests: 5}]\n", "m.yaml:5: engines[0]: give launch"},
		{"launch without port", "batch: b\npool: p\nmodels: [{id: m}]\nengines:\n  - name: vllm\n    launch: vllm serve {model}\nload: [{rate: 1, requests: 5}]\n", "m.yaml:6: engines[0].launch: the command must listen on {port}"},
		{"rate and concurrency", "batch: b\npool: p\nmodels: [{id: m}]\nengines: [{name: e, endpoint: 'http://x'}]\nload:\n  - {rate: 1, concurrency: 4, requests: 5}\n", "m.yaml:6: load[0]: give rate (open loop) or concurrency"},
		{"no bound", "batch: b\npool: p\nmodels: [{id: m}]\nengines: [{name: e, endpoint: 'http://x'}]\nload:\n  - {rate: 1}\n", "load[0]: give a bound"},
		{"bad pool", "batch: b\npool: a.b\nmodels: [{id: m}]\nengines: [{name: e, endpoint: 'http://x'}]\nload: [{rate: 1, requests: 5}]\n", "m.yaml:2: pool: letters, digits"},
		{"no batch", "pool: p\nmodels: [{id: m}]\nengines: [{name: e, endpoint: 'http://x'}]\nload: [{rate: 1, requests: 5}]\n", "batch: required"},
		{"bad slo template", "batch: b\npool: p\nmodels: [{id: m}]\nengines: [{name: e, endpoint: 'http://x'}]\nload: [{rate: 1, requests: 5}]\nslo_template: llm.fast\n", "m.yaml:6: slo_template: unknown template"},
		{"not yaml", "batch: [\n", "m.yaml:"},
		{"empty", "", "the file is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMatrix("m.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestExpandIsTheProductWithStableIDs(t *testing.T) {
	src := `
batch: nightly
pool: h100
models: [{id: a, revision: "1234567"}, {id: b}]
engines:
  - {name: vllm, launch: "vllm serve {model} --port {port}"}
  - {name: tgi, endpoint: "http://10.0.0.5:8080", pool: a100, labels: {gpu_count: "4"}}
datasets: [synthetic, {spec: random, input_len: 64, output_len: 16}]
load:
  - {rate: [1, 2, 4], requests: 100}
  - {concurrency: 8, duration: 30s}
seeds: [1, 2]
repeats: 2
`
	m, err := ParseMatrix("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	jobs := expand(t, m)
	if want := 2 * 2 * 2 * 2 * 2 * 2; len(jobs) != want {
		t.Fatalf("%d jobs, want %d (models × engines × datasets × load groups × seeds × repeats)", len(jobs), want)
	}
	again := expand(t, m)
	ids := map[string]bool{}
	for i, j := range jobs {
		if again[i].ID != j.ID || len(j.ID) != 32 {
			t.Fatalf("job %d: id %s then %s", i, j.ID, again[i].ID)
		}
		ids[j.ID] = true
	}
	if len(ids) != len(jobs) {
		t.Fatal("two jobs share an id")
	}
	if got := Pools(jobs); strings.Join(got, ",") != "a100,h100" {
		t.Fatalf("pools %v", got)
	}
	for _, j := range jobs {
		if j.Spec.Engine.Name == "tgi" && (j.Spec.Pool != "a100" || j.Spec.Labels["gpu_count"] != "4") {
			t.Fatalf("tgi job: pool %s labels %v", j.Spec.Pool, j.Spec.Labels)
		}
		if j.Spec.Engine.Name == "vllm" && j.Spec.Pool != "h100" {
			t.Fatalf("vllm job in pool %s", j.Spec.Pool)
		}
	}
	m.Batch = "other"
	if other := expand(t, m); other[0].ID == jobs[0].ID {
		t.Fatal("the same job in another batch has the same id")
	}
}

func TestSubmitRefusesJobsNobodyCanTake(t *testing.T) {
	js, _ := startBus(t)
	store, _ := OpenStore(context.Background(), js)
	jobs := expand(t, testMatrix("b", "gpu", 1))
	_, err := Submit(context.Background(), js, store, jobs, SubmitOptions{Name: "b"})
	if !errors.Is(err, ErrUnknownPool) || !strings.Contains(err.Error(), `pool "gpu" is unknown: no runner serves it (live pools: none)`) {
		t.Fatalf("no runners: %v", err)
	}
	never := ExecutorFunc(func(context.Context, *Job, *Run) error { t.Error("ran"); return nil })
	startWorker(t, js, store, WorkerConfig{Pool: "cpu", ID: "r1", Labels: map[string]string{"gpu_count": "0"}, Executor: never})
	waitUntil(t, 5*time.Second, "the runner's advert", func() bool { rs, _ := Runners(context.Background(), js); return len(rs) == 1 })
	_, err = Submit(context.Background(), js, store, jobs, SubmitOptions{Name: "b"})
	if !errors.Is(err, ErrUnknownPool) || !strings.Contains(err.Error(), "(live pools: cpu)") {
		t.Fatalf("wrong pool: %v", err)
	}
	m := testMatrix("b", "cpu", 1)
	m.Labels = map[string]string{"gpu_count": "8"}
	_, err = Submit(context.Background(), js, store, expand(t, m), SubmitOptions{Name: "b"})
	if !errors.Is(err, ErrUnknownPool) || !strings.Contains(err.Error(), `no runner of pool "cpu" has the labels map[gpu_count:8]`) {
		t.Fatalf("labels: %v", err)
	}
	if n := bustest.Count(t, js, bus.StreamJobs); n != 0 {
		t.Fatalf("%d jobs queued by refused submissions", n)
	}
}

// TestResubmitIsHarmless submits the same batch twice: the second time
// every job exists, nothing new is queued, and each job runs once.
func TestResubmitIsHarmless(t *testing.T) {
	js, _ := startBus(t)
	ctx := context.Background()
	store, _ := OpenStore(ctx, js)
	jobs := expand(t, testMatrix("b", "p", 5))
	res, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "b", AllowUnknownPool: true})
	if err != nil || res.Queued != 5 || res.Existing != 0 {
		t.Fatalf("first: %+v %v", res, err)
	}
	res2, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "b", AllowUnknownPool: true})
	if err != nil || res2.Queued != 0 || res2.Existing != 5 || res2.Batch.ID != res.Batch.ID {
		t.Fatalf("second: %+v %v", res2, err)
	}
	if n := bustest.Count(t, js, bus.StreamJobs); n != 5 {
		t.Fatalf("%d job messages, want 5", n)
	}
	var ran sync.Map
	var runs atomic.Int64
	startWorker(t, js, store, WorkerConfig{Pool: "p", ID: "r1", Executor: ExecutorFunc(func(_ context.Context, j *Job, _ *Run) error {
		if _, dup := ran.LoadOrStore(j.ID, true); dup {
			t.Errorf("job %s ran twice", j.ID)
		}
		runs.Add(1)
		return nil
	})})
	waitUntil(t, 10*time.Second, "5 jobs done", func() bool {
		all, _ := store.Jobs(ctx, &res.Batch)
		return Summarize(all).Done == 5
	})
	// A third submission after they are done queues nothing.
	res3, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "b", AllowUnknownPool: true})
	if err != nil || res3.Queued != 0 {
		t.Fatalf("third: %+v %v", res3, err)
	}
	time.Sleep(200 * time.Millisecond)
	if runs.Load() != 5 {
		t.Fatalf("%d runs, want 5", runs.Load())
	}
}

// TestCancelQueuedAndRunning cancels one job before any runner takes it
// and another while it runs: the first never runs, the second's executor
// sees its context end; both end cancelled and leave the queue.
func TestCancelQueuedAndRunning(t *testing.T) {
	js, _ := startBus(t)
	ctx := context.Background()
	store, _ := OpenStore(ctx, js)
	jobs := expand(t, testMatrix("b", "p", 2))
	queued, running := jobs[0].ID, jobs[1].ID
	if _, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "b", AllowUnknownPool: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := store.Cancel(ctx, queued, "not needed"); err != nil || st.State != Cancelled {
		t.Fatalf("cancel queued: %v %v", st.State, err)
	}
	started := make(chan struct{})
	stopped := make(chan error, 1)
	startWorker(t, js, store, WorkerConfig{Pool: "p", ID: "r1", Executor: ExecutorFunc(func(ctx context.Context, j *Job, _ *Run) error {
		if j.ID == queued {
			t.Error("the cancelled job ran")
			return nil
		}
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	})})
	<-started
	if st := jobState(t, store, running); st.State != Running || st.Runner != "r1" {
		t.Fatalf("running job: %s by %q", st.State, st.Runner)
	}
	if _, err := store.Cancel(ctx, running, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the running job was not stopped")
	}
	waitUntil(t, 10*time.Second, "the queue empty", func() bool { return bustest.Count(t, js, bus.StreamJobs) == 0 })
	for _, id := range []string{queued, running} {
		if st := jobState(t, store, id); st.State != Cancelled {
			t.Fatalf("job %s: %s", id, st.State)
		}
	}
	if st := jobState(t, store, running); st.Reason != "changed my mind" || st.Attempts[0].Error != "cancelled" {
		t.Fatalf("running job record: reason %q, attempts %+v", st.Reason, st.Attempts)
	}
}

// TestFailingJobIsDeadLetteredWithEveryReason lets a job fail on every
// attempt: after MaxAttempts it is failed for good and on the dead-letter
// stream with the reason of each attempt.
func TestFailingJobIsDeadLetteredWithEveryReason(t *testing.T) {
	js, _ := startBus(t)
	ctx := context.Background()
	store, _ := OpenStore(ctx, js)
	jobs := expand(t, testMatrix("b", "p", 1))
	if _, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "b", AllowUnknownPool: true, MaxAttempts: 2}); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	startWorker(t, js, store, WorkerConfig{Pool: "p", ID: "r1", Backoff: 50 * time.Millisecond, Log: zerolog.New(zerolog.NewTestWriter(t)),
		Executor: ExecutorFunc(func(context.Context, *Job, *Run) error {
			return fmt.Errorf("engine crashed (try %d)", n.Add(1))
		})})
	waitUntil(t, 10*time.Second, "the job failed", func() bool { return jobState(t, store, jobs[0].ID).State == Failed })
	st := jobState(t, store, jobs[0].ID)
	want := "failed 2 times: attempt 1 on r1: engine crashed (try 1); attempt 2 on r1: engine crashed (try 2)"
	if st.Reason != want {
		t.Fatalf("reason %q, want %q", st.Reason, want)
	}
	waitUntil(t, 5*time.Second, "the dead letter", func() bool { return bustest.Count(t, js, bus.StreamRejected) == 1 })
	s, _ := js.Stream(ctx, bus.StreamRejected)
	m, err := s.GetLastMsgForSubject(ctx, bus.RejectedSubject("runner"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(bus.HdrReason) != want || m.Header.Get(bus.HdrJobID) != jobs[0].ID {
		t.Fatalf("dead letter: reason %q job %q", m.Header.Get(bus.HdrReason), m.Header.Get(bus.HdrJobID))
	}
	if bustest.Count(t, js, bus.StreamJobs) != 0 || n.Load() != 2 {
		t.Fatalf("queue %d, attempts %d", bustest.Count(t, js, bus.StreamJobs), n.Load())
	}
}

// TestLostRunnerJobMovesOn takes a runner's connection away mid-job (as a
// crash would): after AckWait the job goes to another runner, which closes
// the lost attempt and finishes it.
func TestLostRunnerJobMovesOn(t *testing.T) {
	js, connect := startBus(t)
	ctx := context.Background()
	store, _ := OpenStore(ctx, js)
	jobs := expand(t, testMatrix("b", "p", 1))
	id := jobs[0].ID
	if _, err := Submit(ctx, js, store, jobs, SubmitOptions{Name: "b", AllowUnknownPool: true}); err != nil {
		t.Fatal(err)
	}
	nc1, js1 := connect()
	store1, _ := OpenStore(ctx, js1)
	started := make(chan struct{})
	hang := ExecutorFunc(func(ctx context.Context, _ *Job, _ *Run) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	startWorker(t, js1, store1, WorkerConfig{Pool: "p", ID: "doomed", AckWait: time.Second, Executor: hang})
	<-started
	nc1.Close() // the runner is gone: no more progress, no ack

	var ran atomic.Int64
	startWorker(t, js, store, WorkerConfig{Pool: "p", ID: "survivor", AckWait: time.Second,
		Executor: ExecutorFunc(func(context.Context, *Job, *Run) error { ran.Add(1); return nil })})
	waitUntil(t, 15*time.Second, "the job done by the survivor", func() bool { return jobState(t, store, id).State == Done })
	st := jobState(t, store, id)
	if len(st.Attempts) != 2 || st.Attempts[0].Runner != "doomed" || st.Attempts[0].Error != "runner doomed stopped responding" ||
		st.Attempts[1].Runner != "survivor" || st.Attempts[1].Error != "" || ran.Load() != 1 {
		t.Fatalf("attempts %+v, survivor ran %d times", st.Attempts, ran.Load())
	}
}

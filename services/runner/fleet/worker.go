package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
)

// Executor runs one job. It returns when the job is done, failed (the
// error says why) or ctx ends (the job was cancelled, or the runner is
// stopping); it reports progress and checkpoints through run.
type Executor interface {
	Execute(ctx context.Context, job *Job, run *Run) error
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, job *Job, run *Run) error

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, job *Job, run *Run) error { return f(ctx, job, run) }

// WorkerConfig configures a runner's job worker.
type WorkerConfig struct {
	JS    jetstream.JetStream
	Store *Store
	Pool  string
	// ID names the runner (default host-pid).
	ID string
	// Labels are what the runner offers (HardwareLabels plus the
	// operator's); a job runs here only if it requires a subset.
	Labels   map[string]string
	Executor Executor
	// Concurrency is how many jobs the runner runs at once (default 1: one
	// host's GPUs, one benchmark).
	Concurrency int
	// AckWait is how long a job outlives a runner that stopped
	// responding before it is redelivered to another (default 60 s; the
	// runner confirms progress every AckWait/3).
	AckWait time.Duration
	// Backoff before a failed job is offered again (default 5 s).
	Backoff time.Duration
	Log     zerolog.Logger
	// OnSettled, when set, is called after each job message is settled.
	OnSettled func(jobID string, state State)
}

// Worker takes jobs of its pool and runs them.
type Worker struct {
	cfg     WorkerConfig
	mu      sync.Mutex
	running map[string]bool
}

// NewWorker checks cfg and fills in its defaults.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.JS == nil || cfg.Store == nil || cfg.Executor == nil {
		return nil, errors.New("fleet: a worker needs JetStream, the job store and an executor")
	}
	if !ValidPool(cfg.Pool) {
		return nil, fmt.Errorf("fleet: pool %q: letters, digits, '-' and '_' only", cfg.Pool)
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Minute
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Second
	}
	return &Worker{cfg: cfg, running: map[string]bool{}}, nil
}

// ID is the runner's name in job records.
func (w *Worker) ID() string { return w.cfg.ID }

// Run advertises the runner and runs jobs until ctx ends; then it stops
// taking jobs, hands the ones it is running back (they go to another
// runner at once) and returns.
func (w *Worker) Run(ctx context.Context) error {
	cfg := &w.cfg
	cons, err := cfg.JS.CreateOrUpdateConsumer(ctx, bus.StreamJobs, jetstream.ConsumerConfig{
		Durable:       bus.ConsumerRunners(cfg.Pool),
		Description:   "the runners of pool " + cfg.Pool,
		FilterSubject: bus.JobSubject(cfg.Pool),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1, // attempts are counted in the job's record
		MaxAckPending: 100_000,
	})
	if err != nil {
		return fmt.Errorf("fleet: consumer for pool %s: %w", cfg.Pool, err)
	}
	runnersKV, err := cfg.JS.KeyValue(ctx, bus.BucketRunners)
	if err != nil {
		return fmt.Errorf("fleet: runners bucket: %w", err)
	}
	adCtx, stopAd := context.WithCancel(context.WithoutCancel(ctx))
	adDone := make(chan struct{})
	go func() {
		defer close(adDone)
		advertise(adCtx, runnersKV, &Advert{ID: cfg.ID, Pool: cfg.Pool, Labels: cfg.Labels, Started: time.Now().UTC()}, w.currentJob)
	}()
	defer func() { stopAd(); <-adDone }()

	// A missed heartbeat is not fatal: the iterator pulls again by itself.
	it, err := cons.Messages(jetstream.PullMaxMessages(cfg.Concurrency), jetstream.WithMessagesErrOnMissingHeartbeat(false))
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); it.Stop() }()
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		msg, err := it.Next()
		if err != nil {
			<-slots
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("fleet: fetching jobs: %w", err)
		}
		wg.Go(func() {
			defer func() { <-slots }()
			w.handle(ctx, msg)
		})
	}
}

func (w *Worker) currentJob() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make([]string, 0, len(w.running))
	for id := range w.running {
		ids = append(ids, id)
	}
	return strings.Join(ids, ",")
}

// handle settles one job message.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	cfg := &w.cfg
	id := msg.Headers().Get(bus.HdrJobID)
	log := cfg.Log.With().Str("job", id).Str("batch", msg.Headers().Get(bus.HdrBatchID)).Logger()
	// Settling must work while the runner stops.
	sctx := context.WithoutCancel(ctx)
	settled := func(state State) {
		if cfg.OnSettled != nil {
			cfg.OnSettled(id, state)
		}
	}
	// Claim it, in one compare-and-set of its record: leave a job that is
	// over (cancelled while queued, or a repeated delivery) or that needs
	// labels this runner lacks; close an attempt whose runner vanished;
	// fail the job if it has used up its attempts; else start an attempt.
	var gaveUp string
	notMine := false
	st, err := cfg.Store.Update(sctx, id, func(s *Status) error {
		if s.State.Final() {
			return errNoChange
		}
		if !Satisfies(cfg.Labels, s.Spec.Labels) {
			notMine = true
			return errNoChange
		}
		now := time.Now().UTC()
		for i := range s.Attempts {
			a := &s.Attempts[i]
			if a.Finished.IsZero() {
				a.Finished, a.Error = now, fmt.Sprintf("runner %s stopped responding", a.Runner)
			}
		}
		if failed := s.failures(); failed >= s.maxAttempts() {
			s.State, s.Finished, s.Runner = Failed, now, ""
			s.Reason = fmt.Sprintf("failed %d times: %s", failed, s.attemptErrors())
			gaveUp = s.Reason
			return nil
		}
		s.State, s.Runner, s.Started = Running, cfg.ID, now
		s.Attempts = append(s.Attempts, Attempt{Runner: cfg.ID, Started: now})
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		log.Error().Msg("a job message without a job record: dead-lettered")
		w.deadLetter(sctx, msg, "no record of job "+id+" in the jobs bucket")
		settled(Failed)
		return
	}
	if err != nil {
		log.Warn().Err(err).Msg("claiming the job; will retry")
		msg.NakWithDelay(time.Second)
		return
	}
	if notMine {
		// Another runner of the pool may have the labels.
		msg.NakWithDelay(time.Second)
		return
	}
	if gaveUp != "" {
		log.Warn().Str("reason", gaveUp).Msg("job failed for good")
		w.deadLetter(sctx, msg, gaveUp)
		settled(Failed)
		return
	}
	if st.State.Final() {
		msg.Ack()
		settled(st.State)
		return
	}

	w.mu.Lock()
	w.running[id] = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.running, id)
		w.mu.Unlock()
	}()
	log.Info().Str("model", st.Spec.Model.ID).Str("engine", st.Spec.Engine.Name).Int("attempt", len(st.Attempts)).Msg("running")

	jobCtx, cancelJob := context.WithCancelCause(ctx)
	defer cancelJob(nil)
	var bg sync.WaitGroup
	bg.Go(func() { w.keepAlive(jobCtx, msg) })
	bg.Go(func() { w.watchCancel(jobCtx, id, cancelJob) })
	run := &Run{store: cfg.Store, id: id, runner: cfg.ID, status: st, header: jobHeader(id, st.BatchID)}
	job := &Job{ID: id, Spec: st.Spec}
	execErr := cfg.Executor.Execute(jobCtx, job, run)
	cause := context.Cause(jobCtx)
	cancelJob(nil)
	bg.Wait()

	now := time.Now().UTC()
	finishAttempt := func(s *Status, errText string) {
		for i := range s.Attempts {
			a := &s.Attempts[i]
			if a.Runner == cfg.ID && a.Finished.IsZero() {
				a.Finished, a.Error = now, errText
			}
		}
	}
	// A runner that lost the job (it stalled past AckWait and the server
	// gave the job to another) must not settle it: the delivery it holds
	// is stale, and the job's record belongs to the new holder.
	lost := false
	stillOurs := func(s *Status) bool {
		if s.State == Running && s.Runner == cfg.ID {
			return true
		}
		lost = !s.State.Final() && s.Runner != "" && s.Runner != cfg.ID
		return false
	}
	switch {
	case execErr == nil && cause == nil:
		st, err = cfg.Store.Update(sctx, id, func(s *Status) error {
			finishAttempt(s, "")
			if !stillOurs(s) {
				return nil
			}
			s.State, s.Finished, s.Runner = Done, now, ""
			return nil
		})
		if err == nil && lost {
			log.Warn().Str("holder", st.Runner).Msg("finished a job another runner has taken over; leaving it to that runner")
			return
		}
		if err != nil {
			log.Warn().Err(err).Msg("recording the job as done; it will be redelivered (its points are checkpointed)")
			msg.Nak()
			return
		}
		if err := msg.DoubleAck(sctx); err != nil {
			log.Warn().Err(err).Msg("acknowledgement not confirmed")
		}
		log.Info().Int("envelopes", len(st.Points)).Msg("done")
		settled(st.State)
	case errors.Is(cause, errJobCancelled):
		cfg.Store.Update(sctx, id, func(s *Status) error { finishAttempt(s, "cancelled"); return nil })
		msg.Ack()
		log.Info().Msg("cancelled")
		settled(Cancelled)
	case ctx.Err() != nil:
		// The runner is stopping: hand the job back now rather than after
		// AckWait. Its finished points are checkpointed.
		cfg.Store.Update(sctx, id, func(s *Status) error {
			finishAttempt(s, "runner stopped (drained)")
			if stillOurs(s) {
				s.State, s.Runner = Queued, ""
			}
			return nil
		})
		if lost {
			return
		}
		msg.Nak()
		log.Info().Msg("handed back: the runner is stopping")
	default:
		reason := execErr.Error()
		if execErr == nil {
			reason = cause.Error()
		}
		var final bool
		st, err = cfg.Store.Update(sctx, id, func(s *Status) error {
			finishAttempt(s, reason)
			if !stillOurs(s) {
				return nil
			}
			if failed := s.failures(); failed >= s.maxAttempts() {
				s.State, s.Finished, s.Runner = Failed, now, ""
				s.Reason = fmt.Sprintf("failed %d times: %s", failed, s.attemptErrors())
				final = true
			} else {
				s.State, s.Runner = Queued, ""
			}
			return nil
		})
		if err != nil {
			log.Warn().Err(err).Msg("recording the failure")
		}
		if lost {
			log.Warn().Str("error", reason).Str("holder", st.Runner).Msg("lost the job to another runner")
			return
		}
		if final {
			log.Warn().Str("reason", st.Reason).Msg("job failed for good")
			w.deadLetter(sctx, msg, st.Reason)
			settled(Failed)
			return
		}
		log.Warn().Str("error", reason).Dur("retry_in", cfg.Backoff).Msg("job failed; it will be offered again")
		msg.NakWithDelay(cfg.Backoff)
	}
}

var errJobCancelled = errors.New("the job was cancelled")

// keepAlive tells the server the job is still being worked on.
func (w *Worker) keepAlive(ctx context.Context, msg jetstream.Msg) {
	t := time.NewTicker(w.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			msg.InProgress()
		}
	}
}

// cancelWatchDelay is how long a job runs before its runner watches its
// record for a cancellation. A watcher costs the server a consumer; jobs
// that end sooner do not need one, and a cancellation made meanwhile is
// seen when the watcher starts (its first value is the current record).
const cancelWatchDelay = time.Second

// watchCancel stops the job when its record says cancelled.
func (w *Worker) watchCancel(ctx context.Context, id string, cancel context.CancelCauseFunc) {
	delay := time.NewTimer(cancelWatchDelay)
	defer delay.Stop()
	select {
	case <-ctx.Done():
		return
	case <-delay.C:
	}
	watcher, err := w.cfg.Store.kv.Watch(ctx, jobKey(id))
	if err != nil {
		return
	}
	defer watcher.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-watcher.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			var st struct{ State State }
			if json.Unmarshal(e.Value(), &st) == nil && st.State == Cancelled {
				cancel(errJobCancelled)
				return
			}
		}
	}
}

// deadLetter moves a job that will not run to the dead-letter stream.
func (w *Worker) deadLetter(ctx context.Context, msg jetstream.Msg, reason string) {
	m := &bus.Message{Subject: msg.Subject(), Data: msg.Data(), Header: msg.Headers(), Stream: bus.StreamJobs}
	if meta, err := msg.Metadata(); err == nil {
		m.Deliveries, m.Sequence = meta.NumDelivered, meta.Sequence.Stream
	}
	if err := bus.DeadLetter(ctx, w.cfg.JS, "runner", m, reason); err != nil {
		w.cfg.Log.Error().Err(err).Msg("dead-lettering the job failed; leaving it for redelivery")
		msg.NakWithDelay(w.cfg.Backoff)
		return
	}
	msg.Term()
}

func jobHeader(id, batch string) nats.Header {
	h := nats.Header{}
	h.Set(bus.HdrJobID, id)
	h.Set(bus.HdrBatchID, batch)
	return h
}

func (s *Status) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return 3
}

// failures counts the attempts that ended in an error (a cancellation or
// a drained runner is not a failure).
func (s *Status) failures() int {
	n := 0
	for _, a := range s.Attempts {
		if a.Error != "" && a.Error != "cancelled" && a.Error != "runner stopped (drained)" {
			n++
		}
	}
	return n
}

func (s *Status) attemptErrors() string {
	var parts []string
	for i, a := range s.Attempts {
		if a.Error != "" {
			parts = append(parts, fmt.Sprintf("attempt %d on %s: %s", i+1, a.Runner, a.Error))
		}
	}
	return strings.Join(parts, "; ")
}

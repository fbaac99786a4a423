package fleet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
)

// ErrUnknownPool is returned by Submit for jobs no live runner can take.
var ErrUnknownPool = errors.New("fleet: no runner can take these jobs")

// SubmitOptions tunes Submit.
type SubmitOptions struct {
	// Name of the batch (Matrix.Batch) and the file it came from.
	Name, Source string
	// MaxAttempts is how often a job may fail (or lose its runner) before
	// it is failed for good and dead-lettered (default 3).
	MaxAttempts int
	// AllowUnknownPool queues jobs even when no live runner serves their
	// pool or has their labels (runners that start later take them).
	AllowUnknownPool bool
	// Parallel bounds the jobs written at once (default 32).
	Parallel int
}

// SubmitResult says what Submit did.
type SubmitResult struct {
	Batch Batch
	// Queued jobs were new; Existing were submitted before (resubmitting
	// is harmless: they keep their state, and unfinished ones are queued
	// again under the same message id).
	Queued, Existing int
}

// Submit queues a batch's jobs: each job's status is created in the jobs
// bucket (unless it exists) and its spec published to bench.jobs.<pool>
// with message id job:<id>, then the batch record is written. Pools and
// labels are checked against the live runners first.
func Submit(ctx context.Context, js jetstream.JetStream, store *Store, jobs []Job, opts SubmitOptions) (SubmitResult, error) {
	if len(jobs) == 0 {
		return SubmitResult{}, errors.New("fleet: the batch has no jobs")
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 32
	}
	if !opts.AllowUnknownPool {
		runners, err := Runners(ctx, js)
		if err != nil {
			return SubmitResult{}, err
		}
		if err := checkPools(jobs, runners); err != nil {
			return SubmitResult{}, err
		}
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	batch := Batch{ID: batchID(opts.Name, sorted), Name: opts.Name, Jobs: ids, Submitted: time.Now().UTC(), Source: opts.Source}
	now := time.Now().UTC()

	var (
		mu       sync.Mutex
		res      = SubmitResult{Batch: batch}
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, opts.Parallel)
	)
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			created, err := submitOne(ctx, js, store, j, batch.ID, opts.MaxAttempts, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case created:
				res.Queued++
			case err == nil:
				res.Existing++
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return res, firstErr
	}
	created, err := store.createBatch(ctx, &batch)
	if err != nil {
		return res, fmt.Errorf("fleet: recording batch %s: %w", batch.ID, err)
	}
	if !created {
		if old, err := store.Batch(ctx, batch.ID); err == nil {
			res.Batch = old // the first submission's record (and time)
		}
	}
	return res, nil
}

func submitOne(ctx context.Context, js jetstream.JetStream, store *Store, j Job, batchID string, maxAttempts int, now time.Time) (bool, error) {
	st := Status{ID: j.ID, BatchID: batchID, Spec: j.Spec, State: Queued, Queued: now, Updated: now, MaxAttempts: maxAttempts,
		Progress: Progress{Points: len(j.Spec.Points)}}
	created, err := store.create(ctx, &st)
	if err != nil {
		return false, fmt.Errorf("fleet: recording job %s: %w", j.ID, err)
	}
	if !created {
		cur, _, err := store.Job(ctx, j.ID)
		if err != nil {
			return false, err
		}
		if cur.State.Final() {
			return false, nil
		}
	}
	body, err := j.Spec.Canonical()
	if err != nil {
		return false, err
	}
	msg := &nats.Msg{Subject: bus.JobSubject(j.Spec.Pool), Header: jobHeader(j.ID, batchID), Data: body}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("job:"+j.ID), jetstream.WithExpectStream(bus.StreamJobs)); err != nil {
		return false, fmt.Errorf("fleet: queueing job %s on %s: %w", j.ID, msg.Subject, err)
	}
	return created, nil
}

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
)

// Store is the jobs bucket: every job's Status and every Batch, updated
// with compare-and-set so that runners, cancellation and resubmission never
// overwrite each other's changes.
type Store struct {
	kv jetstream.KeyValue
}

// ErrNotFound is returned for a job or batch the bucket does not hold.
var ErrNotFound = errors.New("fleet: no such job or batch")

// OpenStore opens the jobs bucket (bus.Setup creates it).
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("fleet: jobs bucket %s: %w (run bus.Setup)", bus.BucketJobs, err)
	}
	return &Store{kv: kv}, nil
}

func jobKey(id string) string   { return "job." + id }
func batchKey(id string) string { return "batch." + id }

// Job returns a job's status and its revision (for Update).
func (s *Store) Job(ctx context.Context, id string) (Status, uint64, error) {
	e, err := s.kv.Get(ctx, jobKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Status{}, 0, fmt.Errorf("%w: job %s", ErrNotFound, id)
	}
	if err != nil {
		return Status{}, 0, err
	}
	var st Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return Status{}, 0, fmt.Errorf("fleet: job %s: corrupt status: %w", id, err)
	}
	return st, e.Revision(), nil
}

// create stores a new job's status; it reports false (and changes
// nothing) when the job already exists.
func (s *Store) create(ctx context.Context, st *Status) (bool, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, err
	}
	_, err = s.kv.Create(ctx, jobKey(st.ID), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}

// errNoChange is returned by an update function to leave the status as it is.
var errNoChange = errors.New("no change")

// Update applies change to a job's status with compare-and-set, retrying
// on a concurrent update. change returns errNoChange to leave the status
// as it is; any other error aborts.
func (s *Store) Update(ctx context.Context, id string, change func(*Status) error) (Status, error) {
	for {
		st, rev, err := s.Job(ctx, id)
		if err != nil {
			return Status{}, err
		}
		if err := change(&st); err != nil {
			if errors.Is(err, errNoChange) {
				return st, nil
			}
			return st, err
		}
		st.Updated = time.Now().UTC()
		b, err := json.Marshal(&st)
		if err != nil {
			return st, err
		}
		if _, err := s.kv.Update(ctx, jobKey(id), b, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue // someone else updated it: read again
			}
			return st, fmt.Errorf("fleet: updating job %s: %w", id, err)
		}
		return st, nil
	}
}

// Batch returns a batch by id.
func (s *Store) Batch(ctx context.Context, id string) (Batch, error) {
	e, err := s.kv.Get(ctx, batchKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Batch{}, fmt.Errorf("%w: batch %s", ErrNotFound, id)
	}
	if err != nil {
		return Batch{}, err
	}
	var b Batch
	if err := json.Unmarshal(e.Value(), &b); err != nil {
		return Batch{}, fmt.Errorf("fleet: batch %s: corrupt record: %w", id, err)
	}
	return b, nil
}

// Batches lists every batch, newest first.
func (s *Store) Batches(ctx context.Context) ([]Batch, error) {
	keys, err := s.keys(ctx, "batch.")
	if err != nil {
		return nil, err
	}
	var out []Batch
	for _, k := range keys {
		b, err := s.Batch(ctx, strings.TrimPrefix(k, "batch."))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Submitted.After(out[j].Submitted) })
	return out, nil
}

// FindBatch resolves a batch by id, id prefix or name (the newest of that
// name).
func (s *Store) FindBatch(ctx context.Context, ref string) (Batch, error) {
	if b, err := s.Batch(ctx, ref); err == nil {
		return b, nil
	}
	all, err := s.Batches(ctx)
	if err != nil {
		return Batch{}, err
	}
	for _, b := range all {
		if b.Name == ref || strings.HasPrefix(b.ID, ref) {
			return b, nil
		}
	}
	return Batch{}, fmt.Errorf("%w: no batch named or id-prefixed %q", ErrNotFound, ref)
}

// Jobs returns the statuses of a batch's jobs (every job when batch is
// nil), in the batch's order.
func (s *Store) Jobs(ctx context.Context, batch *Batch) ([]Status, error) {
	var ids []string
	if batch != nil {
		ids = batch.Jobs
	} else {
		keys, err := s.keys(ctx, "job.")
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			ids = append(ids, strings.TrimPrefix(k, "job."))
		}
	}
	out := make([]Status, 0, len(ids))
	for _, id := range ids {
		st, _, err := s.Job(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Store) keys(ctx context.Context, prefix string) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

// Watch streams every change to the jobs bucket (job and batch records)
// until ctx ends; the first values are the current ones.
func (s *Store) Watch(ctx context.Context) (jetstream.KeyWatcher, error) {
	return s.kv.WatchAll(ctx)
}

// Cancel cancels a job that is not finished: a queued job is never run, a
// running one is stopped by its runner (which watches its key). It returns
// the status after the change.
func (s *Store) Cancel(ctx context.Context, id, reason string) (Status, error) {
	return s.Update(ctx, id, func(st *Status) error {
		if st.State.Final() {
			return errNoChange
		}
		st.State, st.Reason, st.Finished = Cancelled, reason, time.Now().UTC()
		return nil
	})
}

// Summary counts a batch's jobs by state.
type Summary struct {
	Total     int `json:"total"`
	Queued    int `json:"queued"`
	Running   int `json:"running"`
	Done      int `json:"done"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	Envelopes int `json:"envelopes"`
}

// Summarize counts jobs by state.
func Summarize(jobs []Status) Summary {
	var s Summary
	for _, j := range jobs {
		s.Total++
		switch j.State {
		case Queued:
			s.Queued++
		case Running:
			s.Running++
		case Done:
			s.Done++
		case Failed:
			s.Failed++
		case Cancelled:
			s.Cancelled++
		}
		s.Envelopes += len(j.Points)
	}
	return s
}

// Finished reports whether every job is in a final state.
func (s Summary) Finished() bool { return s.Queued == 0 && s.Running == 0 }

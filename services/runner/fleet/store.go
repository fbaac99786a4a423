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
	var r batchRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Batch{}, fmt.Errorf("fleet: batch %s: corrupt record: %w", id, err)
	}
	for n := range r.JobPages {
		e, err := s.kv.Get(ctx, batchPageKey(id, n))
		if err != nil {
			return Batch{}, fmt.Errorf("fleet: batch %s: job list page %d: %w", id, n, err)
		}
		var page []string
		if err := json.Unmarshal(e.Value(), &page); err != nil {
			return Batch{}, fmt.Errorf("fleet: batch %s: job list page %d: %w", id, n, err)
		}
		r.Jobs = append(r.Jobs, page...)
	}
	return r.Batch, nil
}

// batchRecord is a batch as the bucket holds it: the job list in pages
// of batchPageSize ids under their own keys, because a 100,000-job list
// (3.5 MB of JSON) exceeds what one NATS message may carry.
type batchRecord struct {
	Batch
	JobPages int `json:"job_pages,omitempty"`
}

const batchPageSize = 4096

func batchPageKey(id string, n int) string { return fmt.Sprintf("batchjobs.%s.%d", id, n) }

// createBatch records b unless a batch of that id exists (false).
func (s *Store) createBatch(ctx context.Context, b *Batch) (bool, error) {
	r := batchRecord{Batch: *b}
	r.Jobs = nil
	// The pages first: a reader that finds the record finds its pages.
	// Writing them again on a resubmission is harmless (same content).
	for start := 0; start < len(b.Jobs); start += batchPageSize {
		page, _ := json.Marshal(b.Jobs[start:min(start+batchPageSize, len(b.Jobs))])
		if _, err := s.kv.Put(ctx, batchPageKey(b.ID, r.JobPages), page); err != nil {
			return false, err
		}
		r.JobPages++
	}
	data, _ := json.Marshal(&r)
	_, err := s.kv.Create(ctx, batchKey(b.ID), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
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
// name); an empty ref is the newest batch.
func (s *Store) FindBatch(ctx context.Context, ref string) (Batch, error) {
	if ref != "" {
		if b, err := s.Batch(ctx, ref); err == nil {
			return b, nil
		}
	}
	all, err := s.Batches(ctx)
	if err != nil {
		return Batch{}, err
	}
	if ref == "" {
		if len(all) == 0 {
			return Batch{}, fmt.Errorf("%w: no batch has been submitted ('bench submit MATRIX.yaml')", ErrNotFound)
		}
		return all[0], nil
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
	if batch != nil && len(batch.Jobs) <= 256 {
		out := make([]Status, 0, len(batch.Jobs))
		for _, id := range batch.Jobs {
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
	// Many jobs: one watcher streams every record, far faster than a
	// request per job.
	all, err := s.allJobs(ctx)
	if err != nil {
		return nil, err
	}
	if batch == nil {
		out := make([]Status, 0, len(all))
		for _, st := range all {
			out = append(out, st)
		}
		sort.Slice(out, func(i, j int) bool {
			if !out[i].Queued.Equal(out[j].Queued) {
				return out[i].Queued.Before(out[j].Queued)
			}
			return out[i].ID < out[j].ID
		})
		return out, nil
	}
	out := make([]Status, 0, len(batch.Jobs))
	for _, id := range batch.Jobs {
		if st, ok := all[id]; ok {
			out = append(out, st)
		}
	}
	return out, nil
}

// allJobs reads every job record.
func (s *Store) allJobs(ctx context.Context) (map[string]Status, error) {
	w, err := s.kv.Watch(ctx, "job.>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string]Status{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("fleet: the jobs bucket's watcher stopped")
			}
			if e == nil { // the current values have all arrived
				return out, nil
			}
			var st Status
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				return nil, fmt.Errorf("fleet: %s: corrupt record: %w", e.Key(), err)
			}
			out[st.ID] = st
		}
	}
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
	for i := range jobs {
		s.Add(&jobs[i], 1)
	}
	return s
}

// Add counts job n times (n = -1 takes it out again, as a watcher does when
// a job's record changes).
func (s *Summary) Add(job *Status, n int) {
	s.Total += n
	switch job.State {
	case Queued:
		s.Queued += n
	case Running:
		s.Running += n
	case Done:
		s.Done += n
	case Failed:
		s.Failed += n
	case Cancelled:
		s.Cancelled += n
	}
	s.Envelopes += n * len(job.Points)
}

// Finished reports whether every job is in a final state.
func (s Summary) Finished() bool { return s.Queued == 0 && s.Running == 0 }

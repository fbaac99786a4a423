package fleet

import (
	"context"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go"

	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
)

// Run is an executor's handle on the job it runs: the job's record as it
// was when the attempt started, progress reports, and a runner.Checkpoint
// kept in the record (with each envelope in the object store) so that a
// runner taking the job over finds the points already done.
type Run struct {
	store  *Store
	id     string
	runner string
	status Status
	header nats.Header
	// Objects, when set, keeps checkpointed envelopes (NewRun sets it from
	// the executor's store).
	Objects *objstore.Store
}

// Status is the job's record as the attempt found it.
func (r *Run) Status() Status { return r.status }

// Header carries the job and batch ids; publish envelopes with it so the
// catalog links them to the job.
func (r *Run) Header() nats.Header { return r.header }

// Progress records that load point (1-based) of points is being measured.
func (r *Run) Progress(ctx context.Context, point, points int) error {
	_, err := r.store.Update(ctx, r.id, func(s *Status) error {
		s.Progress.Point, s.Progress.Points = point, points
		return nil
	})
	return err
}

// AddEngineLog records where the log of an engine the runner launched is.
func (r *Run) AddEngineLog(ctx context.Context, uri string) error {
	_, err := r.store.Update(ctx, r.id, func(s *Status) error {
		s.EngineLogs = append(s.EngineLogs, uri)
		return nil
	})
	return err
}

// checkpointKey is where point i's unsigned envelope is kept.
func (r *Run) checkpointKey(i int) string { return fmt.Sprintf("jobs/%s/point-%03d.json", r.id, i) }

// Finished implements runner.Checkpoint from the job's record.
func (r *Run) Finished(ctx context.Context, i int) ([]byte, bool, bool, error) {
	p, ok := r.status.point(i)
	if !ok {
		return nil, false, false, nil
	}
	if r.Objects == nil {
		return nil, false, false, fmt.Errorf("fleet: point %d was checkpointed but this runner has no object store", i)
	}
	data, err := r.Objects.Get(ctx, p.Envelope)
	if err != nil {
		return nil, false, false, fmt.Errorf("fleet: the checkpointed envelope of point %d: %w", i, err)
	}
	env, err := envelope.Parse(data)
	if err != nil {
		return nil, false, false, fmt.Errorf("fleet: the checkpointed envelope of point %d: %w", i, err)
	}
	if h := env.ContentHash(); h != p.ContentHash {
		return nil, false, false, fmt.Errorf("fleet: the checkpointed envelope of point %d hashes to %s, the record says %s", i, h, p.ContentHash)
	}
	return data, p.Published, true, nil
}

// Written implements runner.Checkpoint: the envelope is stored, then the
// point recorded, before it is published.
func (r *Run) Written(ctx context.Context, i int, env *envelope.Envelope, hash, _ string) error {
	if r.Objects == nil {
		return fmt.Errorf("fleet: no object store to checkpoint point %d in", i)
	}
	data, err := env.MarshalJSON()
	if err != nil {
		return err
	}
	key := r.checkpointKey(i)
	if err := r.Objects.Put(ctx, key, data, "application/json"); err != nil {
		return err
	}
	st, err := r.store.Update(ctx, r.id, func(s *Status) error {
		if s.Runner != r.runner {
			return fmt.Errorf("fleet: job %s is no longer ours (held by %q, state %s)", r.id, s.Runner, s.State)
		}
		if _, ok := s.point(i); ok {
			return errNoChange
		}
		s.Points = append(s.Points, PointResult{Index: i, ContentHash: hash, Envelope: key})
		sort.Slice(s.Points, func(a, b int) bool { return s.Points[a].Index < s.Points[b].Index })
		return nil
	})
	if err == nil {
		r.status.Points = st.Points
	}
	return err
}

// Published implements runner.Checkpoint.
func (r *Run) Published(ctx context.Context, i int) error {
	st, err := r.store.Update(ctx, r.id, func(s *Status) error {
		for k := range s.Points {
			if s.Points[k].Index == i {
				if s.Points[k].Published {
					return errNoChange
				}
				s.Points[k].Published = true
				return nil
			}
		}
		return fmt.Errorf("fleet: point %d of job %s was published but never recorded", i, r.id)
	})
	if err == nil {
		r.status.Points = st.Points
	}
	return err
}

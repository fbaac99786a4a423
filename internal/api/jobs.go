package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/services/runner/fleet"
)

// Paths of the fleet endpoints, served when the handler has WithJobs.
const (
	JobsPath    = "/api/v1/jobs"
	BatchesPath = "/api/v1/batches"
)

// Jobs is what the fleet endpoints read: the job records that runners keep
// in the jobs bucket. *fleet.Store implements it; FindBatch("") is the
// newest batch.
type Jobs interface {
	Batches(ctx context.Context) ([]fleet.Batch, error)
	FindBatch(ctx context.Context, ref string) (fleet.Batch, error)
	Jobs(ctx context.Context, batch *fleet.Batch) ([]fleet.Status, error)
	Job(ctx context.Context, id string) (fleet.Status, uint64, error)
}

// Option configures Handler.
type Option func(*server)

// WithJobs adds the fleet endpoints (JobsPath, JobsPath/{id}, BatchesPath)
// over jobs: the same records `bench jobs` shows.
func WithJobs(jobs Jobs) Option { return func(s *server) { s.jobs = jobs } }

// JobsResponse is the body of GET /api/v1/jobs: a batch's jobs in the
// batch's order and their counts by state. Batch is null for ?all=true.
type JobsResponse struct {
	Batch   *fleet.Batch   `json:"batch"`
	Summary fleet.Summary  `json:"summary"`
	Jobs    []fleet.Status `json:"jobs"`
}

// BatchesResponse is the body of GET /api/v1/batches.
type BatchesResponse struct {
	Batches []BatchInfo `json:"batches"`
}

// BatchInfo is a batch without its job list, which can be long.
type BatchInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Jobs      int    `json:"jobs"`
	Submitted string `json:"submitted"`
	Source    string `json:"source,omitempty"`
	JobsURL   string `json:"jobs_url"`
}

// listJobs serves GET /api/v1/jobs?batch=REF[&state=S] (REF: a batch id,
// id prefix or name; default the newest batch) or ?all=true.
func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "batch" && k != "state" && k != "all" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q (want batch, state or all)", k))
			return
		}
	}
	state := fleet.State(q.Get("state"))
	if state != "" && !slices.Contains([]fleet.State{fleet.Queued, fleet.Running, fleet.Done, fleet.Failed, fleet.Cancelled}, state) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state %q: want queued, running, done, failed or cancelled", state))
		return
	}
	all := q.Get("all")
	if all != "" && all != "true" && all != "false" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("all %q: want true or false", all))
		return
	}
	var batch *fleet.Batch
	if all != "true" {
		b, err := s.jobs.FindBatch(r.Context(), q.Get("batch"))
		if err != nil {
			writeJobsError(w, err)
			return
		}
		batch = &b
	} else if q.Get("batch") != "" {
		writeError(w, http.StatusBadRequest, "give batch or all=true, not both")
		return
	}
	jobs, err := s.jobs.Jobs(r.Context(), batch)
	if err != nil {
		writeJobsError(w, err)
		return
	}
	resp := JobsResponse{Batch: batch, Summary: fleet.Summarize(jobs), Jobs: make([]fleet.Status, 0, len(jobs))}
	for _, j := range jobs {
		if state == "" || j.State == state {
			resp.Jobs = append(resp.Jobs, j)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// getJob serves GET /api/v1/jobs/{id}.
func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) != 32 || !catalog.IsHex(id) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("job id %q: want 32 hex digits", id))
		return
	}
	st, _, err := s.jobs.Job(r.Context(), id)
	if err != nil {
		writeJobsError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// listBatches serves GET /api/v1/batches.
func (s *server) listBatches(w http.ResponseWriter, r *http.Request) {
	all, err := s.jobs.Batches(r.Context())
	if err != nil {
		writeJobsError(w, err)
		return
	}
	resp := BatchesResponse{Batches: make([]BatchInfo, 0, len(all))}
	for _, b := range all {
		resp.Batches = append(resp.Batches, BatchInfo{ID: b.ID, Name: b.Name, Jobs: len(b.Jobs),
			Submitted: b.Submitted.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Source: b.Source,
			JobsURL: JobsPath + "?batch=" + b.ID})
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJobsError(w http.ResponseWriter, err error) {
	if errors.Is(err, fleet.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// Package fleet is batch benchmarking across a fleet of GPU hosts: a
// matrix file expands into jobs (Expand), jobs are queued by pool on the
// bus (Submit), long-running runners take the jobs they can run (Worker),
// optionally launching the engine themselves (Engine), and every job's
// state lives in a JetStream key-value bucket (Store) that `bench jobs` and
// the HTTP API read.
//
// A job runs exactly once somewhere suitable: its id is the hash of its
// canonical spec (so resubmitting is harmless), its message is redelivered
// when the runner holding it dies, and each of its load points records its
// envelope before publishing it, so a job taken over by another runner
// neither loses nor repeats a point.
package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// Spec is one job: one engine (launched by the runner or already running)
// serving one model, measured at a sweep of load points on one dataset with
// one seed. Everything that decides the measurement is in it, and nothing
// else, so that its hash identifies the job.
type Spec struct {
	Batch  string            `json:"batch"`            // the batch's name: the same job in two batches is two jobs
	Pool   string            `json:"pool"`             // the runners that may take it
	Labels map[string]string `json:"labels,omitempty"` // labels a runner must have (gpu_model, gpu_count, host, ...)

	Model  ModelSpec  `json:"model"`
	Engine EngineSpec `json:"engine"`

	Dataset DatasetSpec `json:"dataset"`
	Points  []PointSpec `json:"points"`
	Seed    uint64      `json:"seed"`
	Repeat  int         `json:"repeat"` // 1..repeats: repeats of the same job are distinct jobs

	API         string         `json:"api,omitempty"` // chat (default) or completions
	NoStream    bool           `json:"no_stream,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"` // merged into every request body
	SLOTemplate string         `json:"slo_template,omitempty"`
	SLO         string         `json:"slo,omitempty"`
	Warmup      int            `json:"warmup,omitempty"`
	Cooldown    int            `json:"cooldown,omitempty"`
	Timeout     string         `json:"timeout,omitempty"` // per request, a Go duration

	SuiteID      string `json:"suite_id,omitempty"`
	SuiteVersion string `json:"suite_version,omitempty"`
}

// ModelSpec names the model.
type ModelSpec struct {
	ID       string `json:"id"`
	Revision string `json:"revision,omitempty"`
}

// EngineSpec is the engine: Launch (a command the runner starts, with
// {model}, {revision} and {port} filled in) or Endpoint (one already
// serving).
type EngineSpec struct {
	Name         string            `json:"name"`
	Version      string            `json:"version,omitempty"`
	Launch       string            `json:"launch,omitempty"`
	Endpoint     string            `json:"endpoint,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	ReadyTimeout string            `json:"ready_timeout,omitempty"` // a Go duration; default 10m
	Quantization string            `json:"quantization,omitempty"`
}

// DatasetSpec is the prompts: synthetic, random (with lengths) or
// sharegpt:PATH (a path on the runner).
type DatasetSpec struct {
	Spec        string  `json:"spec"`
	InputLen    int     `json:"input_len,omitempty"`
	OutputLen   int     `json:"output_len,omitempty"`
	InputRange  float64 `json:"input_len_range,omitempty"`
	OutputRange float64 `json:"output_len_range,omitempty"`
	IgnoreEOS   bool    `json:"ignore_eos,omitempty"`
}

// PointSpec is one load point: Rate (open loop, with Concurrency as a cap)
// or Concurrency (closed loop), bounded by Requests and/or Duration.
type PointSpec struct {
	Rate        float64 `json:"rate,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Arrival     string  `json:"arrival,omitempty"`
	Burstiness  float64 `json:"burstiness,omitempty"`
	Requests    int     `json:"requests,omitempty"`
	Duration    string  `json:"duration,omitempty"`
}

// Canonical is the spec's canonical JSON (sorted keys, no spaces): the
// job message's body and the input of its id.
func (s *Spec) Canonical() ([]byte, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	v, err := canonjson.Parse(raw)
	if err != nil {
		return nil, err
	}
	return canonjson.Canonical(v), nil
}

// ID is the job's id: the first 32 hex digits of the sha256 of its
// canonical spec.
func (s *Spec) ID() (string, error) {
	c, err := s.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:16]), nil
}

// State is where a job stands.
type State string

// The states of a job. Done, Failed and Cancelled are final.
const (
	Queued    State = "queued"
	Running   State = "running"
	Done      State = "done"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Final reports whether nothing more will happen to a job in state s.
func (s State) Final() bool { return s == Done || s == Failed || s == Cancelled }

// Status is a job's record in the jobs bucket.
type Status struct {
	ID      string    `json:"id"`
	BatchID string    `json:"batch_id"`
	Spec    Spec      `json:"spec"`
	State   State     `json:"state"`
	Queued  time.Time `json:"queued"`
	Updated time.Time `json:"updated"`
	// MaxAttempts is how many failed attempts (errors, or runners lost
	// mid-job) fail the job for good.
	MaxAttempts int `json:"max_attempts"`

	// Runner holds the job while it is running.
	Runner   string    `json:"runner,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Progress Progress  `json:"progress"`

	// Points are the load points finished so far, by index: their
	// envelopes are recorded before they are published, so a runner that
	// takes the job over publishes them again instead of measuring them
	// again.
	Points []PointResult `json:"points,omitempty"`
	// Attempts are the runs of the job, the last one current.
	Attempts []Attempt `json:"attempts,omitempty"`
	// EngineLogs are the S3 URIs of the logs of engines the runners launched.
	EngineLogs []string `json:"engine_logs,omitempty"`
	// Reason says why the job failed or was cancelled.
	Reason string `json:"reason,omitempty"`
}

// Progress is a running job's position.
type Progress struct {
	Point    int `json:"point"`  // the load point being measured (1-based; 0 before the first)
	Points   int `json:"points"` // load points in the job
	Requests int `json:"requests,omitempty"`
}

// PointResult is one finished load point.
type PointResult struct {
	Index       int    `json:"index"`
	ContentHash string `json:"content_hash"`
	Envelope    string `json:"envelope"` // object key of the unsigned envelope
	Published   bool   `json:"published"`
}

// Attempt is one runner's run of the job.
type Attempt struct {
	Runner   string    `json:"runner"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Envelopes returns the content hashes of the job's envelopes, in point order.
func (s *Status) Envelopes() []string {
	out := make([]string, 0, len(s.Points))
	for _, p := range s.Points {
		out = append(out, p.ContentHash)
	}
	return out
}

func (s *Status) point(i int) (PointResult, bool) {
	for _, p := range s.Points {
		if p.Index == i {
			return p, true
		}
	}
	return PointResult{}, false
}

// Batch is a submitted matrix: its name, its jobs, when.
type Batch struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Jobs      []string  `json:"jobs"`
	Submitted time.Time `json:"submitted"`
	Source    string    `json:"source,omitempty"` // the matrix file's name
}

// batchID is the hash of the batch's name and sorted job ids.
func batchID(name string, jobs []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", name)
	for _, j := range jobs {
		fmt.Fprintf(h, "%s\n", j)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

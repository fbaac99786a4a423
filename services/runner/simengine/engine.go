// Package simengine is a simulated OpenAI-compatible inference server. It
// stands in for vLLM, SGLang, TGI, llama.cpp or ollama in tests, benchmarks
// and demos of the benchmarking client, so that the client can be checked
// against a server whose behaviour is known exactly: a latency model with
// precise deadlines, the usage-reporting styles of the real engines, injected
// failures of the kinds that existing tools have miscounted, and optional
// server-side timestamps to compare the client's measurements with.
//
// The latency model, options, endpoints and ground-truth fields are described
// in README.md next to this file.
package simengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Version is the version of the simulator reported by GET /version. It
// changes when the observable behaviour (latency model, wire format) changes,
// so that results recorded against the simulator can say which one they used.
const Version = "1.0.0"

// DefaultModel is the model id served when Options.Model is empty.
const DefaultModel = "simulated-model"

// DefaultOutputTokens is the output length used when neither the request nor
// Options.OutputTokens sets one.
const DefaultOutputTokens = 128

// MaxOutputTokens bounds max_tokens: a non-streaming response is built in
// memory, and a runaway value should be a clear 400, not an out-of-memory.
const MaxOutputTokens = 1 << 20

// maxBodyBytes bounds a request body; larger bodies get a 413.
const maxBodyBytes = 16 << 20

// shutdownGrace is how long Serve lets in-flight requests finish after its
// context is cancelled before it closes the remaining connections.
const shutdownGrace = 10 * time.Second

// UsageMode says where a streamed response reports token usage. Engines
// differ, and a client has to find the figures wherever they are.
type UsageMode string

const (
	// UsageChunk is the OpenAI and vLLM style: only when the request sets
	// stream_options.include_usage, every chunk carries "usage": null and a
	// final extra chunk with "choices": [] carries the figures.
	UsageChunk UsageMode = "usage_chunk"
	// UsageFinalChunk is the llama.cpp and TGI style: the usage object is on
	// the chunk that carries finish_reason, whatever the request asked.
	UsageFinalChunk UsageMode = "final_chunk"
	// UsageZerosThenFinal reproduces engines that attach usage to every chunk
	// but fill it in only at the end: every chunk carries all-zero usage and
	// the chunk with finish_reason carries the real figures. A client that
	// keeps the first usage it sees reports zero tokens.
	UsageZerosThenFinal UsageMode = "zeros_then_final"
	// UsageNone never reports usage in a stream, so the client has to fall
	// back to counting chunks.
	UsageNone UsageMode = "none"
)

// The failure kinds for Options.ErrorKinds.
const (
	// ErrorHTTP500 answers the request at once with a 500 and a JSON error body.
	ErrorHTTP500 = "http_500"
	// ErrorPayload answers 200, streams some tokens, then sends a data event
	// {"error": {...}} followed by [DONE] (as vLLM does); a non-streaming
	// request gets a 200 whose body is {"error": {...}}. Clients that only
	// look at the status or at [DONE] count this as a success.
	ErrorPayload = "error_payload"
	// ErrorTruncate streams some tokens and then drops the connection without
	// [DONE] (a non-streaming body is cut short of its Content-Length). The
	// handler panics with http.ErrAbortHandler, which net/http's server turns
	// into a dropped connection without logging; middleware that recovers
	// panics around ServeHTTP must re-panic it.
	ErrorTruncate = "truncate"
	// ErrorStall streams some tokens and then sends nothing more until the
	// client gives up (or Serve shuts down), to exercise client timeouts.
	ErrorStall = "stall"
)

// errorKinds lists every kind in a fixed order; Stats.Errors has one entry
// for each.
var errorKinds = [...]string{ErrorHTTP500, ErrorPayload, ErrorTruncate, ErrorStall}

// defaultErrorKinds leaves out stall, which needs a client with a timeout.
var defaultErrorKinds = []string{ErrorHTTP500, ErrorPayload, ErrorTruncate}

// Options configures an Engine. The zero value is a valid, instantaneous
// engine: every delay zero, no failures, 128 output tokens.
//
// Latency model (README.md has it in full): a request arriving at time A is
// admitted at S = A, or when a batch slot frees up if MaxBatch streams are
// decoding; token 0 is due at S + (TTFT + PrefillPerToken*prompt_tokens)*j
// and token i+1 at due(i) + TPOT*(1 + DecodeGrowth*(active-1))*j, where j is
// a fresh jitter factor for each delay and active counts the streams decoding
// when token i is sent. Deadlines are absolute, so lateness never accumulates.
//
// GroundTruth adds "x_sim": {"received_ns": R, "sent_ns": T} to every streamed
// event and to non-streaming bodies: R is the Unix time in nanoseconds at
// which the handler received the request, T the time read just before that
// event was written. A client compares its own measurements with the first
// content chunk's sent_ns, the server's first-token time (not the role
// chunk's, written just before it).
//
// Seed: the k-th accepted request (k = 0, 1, ... in the order the engine
// accepts them) draws its failure and its jitter from a generator seeded
// with (Seed, k), so a sequential client sees the same behaviour every run.
type Options struct {
	Model           string        // model id served; default "simulated-model"
	TTFT            time.Duration // time from request arrival to the first token, before prefill
	PrefillPerToken time.Duration // added to TTFT per prompt token
	TPOT            time.Duration // decode time per output token with one active stream
	DecodeGrowth    float64       // per-token decode time = TPOT * (1 + DecodeGrowth*(active-1)), active = streams decoding now
	MaxBatch        int           // at most this many streams decode at once; others queue (their wait adds to TTFT); 0 = unlimited
	Jitter          float64       // each delay is multiplied by a uniform factor in [1-Jitter, 1+Jitter]; 0 = exact
	ErrorRate       float64       // probability that a request fails, in [0,1]
	ErrorKinds      []string      // failures to inject, chosen uniformly; default all but "stall"
	OutputTokens    int           // output length when the request has no max_tokens / max_completion_tokens; default 128
	Usage           UsageMode     // how usage is reported in streams; default UsageChunk
	RoleChunk       bool          // send a role-only first chunk ({"delta":{"role":"assistant"}}) as vLLM does
	GroundTruth     bool          // add server-side timestamps ("x_sim", see above) to every event and body
	Seed            uint64        // seeds jitter and error injection: same seed, same behaviour sequence
}

// Stats is a snapshot of an Engine's counters. The counters cover the
// completion endpoints only.
type Stats struct {
	Requests        int64            // completion requests received, rejected ones included
	Rejected        int64            // requests answered with a 4xx (validation, unknown model, method)
	InFlight        int64            // accepted requests not yet finished
	Queued          int64            // requests waiting for a batch slot (MaxBatch)
	Decoding        int64            // streams between their first and last token: the "active" of DecodeGrowth
	Completed       int64            // requests answered in full
	Canceled        int64            // requests whose client went away first (stalls included)
	TokensGenerated int64            // output tokens sent to clients
	Errors          map[string]int64 // injected failures by kind; every kind is present
}

// Engine is a simulated inference server. It is an http.Handler; Serve runs
// it on a listener. An Engine is safe for concurrent use.
type Engine struct {
	opts      Options
	kinds     []string
	modelJSON []byte // the model id as a JSON string, quoted and escaped once
	created   int64  // unix seconds of New, reported by /v1/models
	models    []byte // the /v1/models body, fixed for the engine's life
	slots     chan struct{}
	clock     *clock

	seq      atomic.Uint64 // numbers accepted requests; seeds their random draws
	decoding atomic.Int64

	requests, rejected, inFlight, queued atomic.Int64
	completed, canceled, tokens          atomic.Int64
	errCount                             [len(errorKinds)]atomic.Int64
}

// New checks opts and returns an Engine. Every error names the offending
// option, so a misconfigured test fails with a message that says what to fix.
func New(opts Options) (*Engine, error) {
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	if opts.OutputTokens == 0 {
		opts.OutputTokens = DefaultOutputTokens
	}
	if opts.Usage == "" {
		opts.Usage = UsageChunk
	}
	switch {
	case opts.TTFT < 0:
		return nil, fmt.Errorf("simengine: Options.TTFT is %v: must not be negative", opts.TTFT)
	case opts.PrefillPerToken < 0:
		return nil, fmt.Errorf("simengine: Options.PrefillPerToken is %v: must not be negative", opts.PrefillPerToken)
	case opts.TPOT < 0:
		return nil, fmt.Errorf("simengine: Options.TPOT is %v: must not be negative", opts.TPOT)
	case !(opts.DecodeGrowth >= 0) || math.IsInf(opts.DecodeGrowth, 0):
		return nil, fmt.Errorf("simengine: Options.DecodeGrowth is %v: must be a finite number >= 0", opts.DecodeGrowth)
	case opts.MaxBatch < 0:
		return nil, fmt.Errorf("simengine: Options.MaxBatch is %d: must be >= 0 (0 = unlimited)", opts.MaxBatch)
	case !(opts.Jitter >= 0 && opts.Jitter <= 1):
		return nil, fmt.Errorf("simengine: Options.Jitter is %v: must be in [0, 1]", opts.Jitter)
	case !(opts.ErrorRate >= 0 && opts.ErrorRate <= 1):
		return nil, fmt.Errorf("simengine: Options.ErrorRate is %v: must be in [0, 1]", opts.ErrorRate)
	case opts.OutputTokens < 0 || opts.OutputTokens > MaxOutputTokens:
		return nil, fmt.Errorf("simengine: Options.OutputTokens is %d: must be in [1, %d] (0 = default %d)",
			opts.OutputTokens, MaxOutputTokens, DefaultOutputTokens)
	}
	switch opts.Usage {
	case UsageChunk, UsageFinalChunk, UsageZerosThenFinal, UsageNone:
	default:
		return nil, fmt.Errorf("simengine: Options.Usage is %q: must be %q, %q, %q or %q",
			opts.Usage, UsageChunk, UsageFinalChunk, UsageZerosThenFinal, UsageNone)
	}
	kinds := opts.ErrorKinds
	if len(kinds) == 0 {
		kinds = defaultErrorKinds
	}
	seen := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		if errorKindIndex(k) < 0 {
			return nil, fmt.Errorf("simengine: Options.ErrorKinds has %q: must be one of %q, %q, %q, %q",
				k, ErrorHTTP500, ErrorPayload, ErrorTruncate, ErrorStall)
		}
		if seen[k] {
			// A repeated kind would silently double its probability.
			return nil, fmt.Errorf("simengine: Options.ErrorKinds has %q twice", k)
		}
		seen[k] = true
	}
	opts.ErrorKinds = append([]string(nil), kinds...)

	e := &Engine{
		opts:    opts,
		kinds:   opts.ErrorKinds,
		created: time.Now().Unix(),
		clock:   newClock(),
	}
	var err error
	if e.modelJSON, err = json.Marshal(opts.Model); err != nil {
		return nil, fmt.Errorf("simengine: Options.Model: %w", err)
	}
	if opts.MaxBatch > 0 {
		e.slots = make(chan struct{}, opts.MaxBatch)
	}
	e.models, err = json.Marshal(map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id": opts.Model, "object": "model", "created": e.created, "owned_by": "simulated",
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("simengine: models list: %w", err)
	}
	return e, nil
}

func errorKindIndex(k string) int {
	for i, kk := range errorKinds {
		if k == kk {
			return i
		}
	}
	return -1
}

// Stats returns a snapshot of the counters. The fields are read one by one,
// so a snapshot taken under load is not an atomic cut across them.
func (e *Engine) Stats() Stats {
	s := Stats{
		Requests:        e.requests.Load(),
		Rejected:        e.rejected.Load(),
		InFlight:        e.inFlight.Load(),
		Queued:          e.queued.Load(),
		Decoding:        e.decoding.Load(),
		Completed:       e.completed.Load(),
		Canceled:        e.canceled.Load(),
		TokensGenerated: e.tokens.Load(),
		Errors:          make(map[string]int64, len(errorKinds)),
	}
	for i, k := range errorKinds {
		s.Errors[k] = e.errCount[i].Load()
	}
	return s
}

var (
	hdrJSON        = []string{"application/json"}
	hdrEventStream = []string{"text/event-stream"}
	hdrNoCache     = []string{"no-cache"}
)

var versionBody = []byte(`{"engine":"simulated","version":"` + Version + `"}`)

// ServeHTTP routes on the path alone (no ServeMux) because it is on the hot
// path of 10,000+ requests/s benchmarks.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions":
		e.serveCompletion(w, r, true)
	case "/v1/completions":
		e.serveCompletion(w, r, false)
	case "/v1/models":
		if getOnly(w, r) {
			writeJSON(w, http.StatusOK, e.models)
		}
	case "/health":
		if getOnly(w, r) {
			w.WriteHeader(http.StatusOK)
		}
	case "/version":
		if getOnly(w, r) {
			writeJSON(w, http.StatusOK, versionBody)
		}
	default:
		writeError(w, http.StatusNotFound, "not_found_error", "", nil, "no route for "+r.Method+" "+r.URL.Path)
	}
}

func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", nil, "method "+r.Method+" not allowed on "+r.URL.Path)
	return false
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes an OpenAI-style error body:
// {"error":{"message":...,"type":...,"param":...,"code":...}}; an empty
// param and a nil code are written as null.
func writeError(w http.ResponseWriter, status int, typ, param string, code any, msg string) {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": code}
	if param != "" {
		e["param"] = param
	}
	body, _ := json.Marshal(map[string]any{"error": e})
	writeJSON(w, status, body)
}

// stopKey is the context key under which Serve hands its handlers the
// channel closed at shutdown; stalled requests wait on it so that they do
// not hold a graceful shutdown open forever.
type stopKey struct{}

// Serve serves HTTP on ln until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish (stalled
// ones are dropped at once, as they would never finish), and after 10 s
// closes whatever is left. It returns nil after a clean shutdown, the
// server's error if serving failed, or an error saying that the grace period
// ran out. Serve closes ln.
func (e *Engine) Serve(ctx context.Context, ln net.Listener) error {
	stop := make(chan struct{})
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stopKey{}, stop)
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		close(stop)
		return fmt.Errorf("simengine: serve: %w", err)
	case <-ctx.Done():
	}
	close(stop)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("simengine: graceful shutdown: %w", err)
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("simengine: serve: %w", serr)
	}
	return err
}

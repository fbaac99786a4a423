// Package trace defines the per-request record of a benchmark run and its
// Parquet file: one row per request with every timestamp in nanoseconds, so
// that every summary number in an envelope can be recomputed from the raw
// data behind it (by the verifier, by DuckDB, Spark or pandas).
package trace

// Phase says whether a request counts towards the run's metrics.
type Phase string

// The phases of a run. Only PhaseMeasure requests enter the metrics.
const (
	PhaseWarmup   Phase = "warmup"
	PhaseMeasure  Phase = "measure"
	PhaseCooldown Phase = "cooldown"
)

// Status is the outcome of a request.
type Status string

const (
	StatusOK    Status = "ok"
	StatusError Status = "error"
)

// ErrorClass says why a request failed. None of these is ever counted as a
// success.
type ErrorClass string

const (
	ErrNone         ErrorClass = ""
	ErrConnect      ErrorClass = "connect"       // no response: dial, TLS or write failure
	ErrHTTPStatus   ErrorClass = "http_status"   // a non-200 response
	ErrErrorPayload ErrorClass = "error_payload" // an {"error": ...} object or an error event inside a 200 stream
	ErrTruncated    ErrorClass = "truncated"     // the stream ended (EOF, reset) before [DONE] or a finish reason
	ErrTimeout      ErrorClass = "timeout"       // the per-request deadline passed
	ErrMalformed    ErrorClass = "malformed"     // a data event or body that is not the expected JSON
	ErrNoTokens     ErrorClass = "no_tokens"     // a complete response with no generated content
	ErrCanceled     ErrorClass = "canceled"      // the run was stopped while the request was in flight
)

// TokenSource says where a request's output token count came from.
type TokenSource string

const (
	// TokensUsage: the server's usage.completion_tokens.
	TokensUsage TokenSource = "usage"
	// TokensChunks: no usable usage figures; the number of content-bearing
	// chunks, which undercounts when a chunk carries several tokens.
	TokensChunks TokenSource = "chunks"
	// TokensNone: nothing was generated or counted.
	TokensNone TokenSource = "none"
)

// UsageSource says where in the response the usage figures were found;
// engines differ.
type UsageSource string

const (
	UsageNone UsageSource = ""
	// UsageChunk: a separate chunk with empty choices (OpenAI, vLLM, SGLang
	// with stream_options.include_usage).
	UsageChunk UsageSource = "usage_chunk"
	// UsageFinalChunk: on the chunk that carries the finish reason
	// (llama.cpp, TGI, ollama).
	UsageFinalChunk UsageSource = "final_chunk"
	// UsageBody: the body of a non-streaming response.
	UsageBody UsageSource = "response_body"
)

// Record is one request. Timestamps are Unix nanoseconds on the runner's
// clock; 0 means "did not happen" (no first token on a failed request, say).
type Record struct {
	Index int64 // position in the run's schedule, from 0
	Phase Phase

	// ScheduledNS is when the request was due: the schedule's arrival time
	// for open-loop load, or when a closed-loop slot became free. Latency
	// from the schedule includes any wait for the client or a concurrency
	// cap, which latency from SentNS hides.
	ScheduledNS  int64
	SentNS       int64 // the request was written to the connection (or, if never written, handed to the transport)
	FirstChunkNS int64 // the first SSE event with data of any kind (role-only included)
	FirstTokenNS int64 // the first event carrying generated content
	LastTokenNS  int64 // the last event carrying generated content
	EndNS        int64 // the response was complete ([DONE], end of body) or failed

	PromptTokens     int64
	CompletionTokens int64
	TokenSource      TokenSource
	UsageSource      UsageSource
	ContentChunks    int64   // events that carried generated content
	ITLNS            []int64 // gaps between consecutive content-bearing events

	Status     Status
	ErrorClass ErrorClass
	Error      string // the detail, for people
	HTTPStatus int32  // 0 when no response arrived

	// Server-side ground truth, when the engine reports it (the simulated
	// engine does): when it received the request and wrote the first token.
	ServerReceivedNS   int64
	ServerFirstTokenNS int64
}

// OK reports whether the request succeeded.
func (r *Record) OK() bool { return r.Status == StatusOK }

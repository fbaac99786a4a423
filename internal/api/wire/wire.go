// Package wire is the HTTP API's wire format: its paths, headers and JSON
// bodies. It is separate from package api so that clients (the `bench
// results` and `bench fetch` verbs) share the server's definitions without
// linking the server's dependencies: the catalog and its SQLite driver,
// whose initialisation alone costs every invocation of the CLI several MiB
// of memory.
package wire

import "time"

// Paths of the API. ResultsPath + "/" + hash is the envelope of one result.
const (
	ResultsPath = "/api/v1/results"
	HealthPath  = "/healthz"
	ReadyPath   = "/readyz"
)

// HeaderContentHash carries the content hash of the envelope a GET of
// ResultsPath/{hash} returns: the full hash, even when a prefix was asked
// for, so that a client can check it got the result it meant.
const HeaderContentHash = "X-Bench-Content-Hash"

// Result is one catalog entry in a listing: every field of catalog.Entry
// except the envelope bytes, which are most of an entry's size and which a
// listing rarely needs; EnvelopeURL says where to get them.
//
// Times are RFC 3339 in UTC with up to microsecond precision (the catalog's).
// String fields that do not apply are "" rather than absent, so that every
// result has the same shape.
type Result struct {
	ContentHash         string             `json:"content_hash"`
	RunID               string             `json:"run_id"`
	SuiteID             string             `json:"suite_id"`
	SuiteVersion        string             `json:"suite_version"`
	ModelID             string             `json:"model_id"`
	ModelRevision       string             `json:"model_revision"`
	Provider            string             `json:"provider"`
	EngineName          string             `json:"engine_name"`
	EngineVersion       string             `json:"engine_version"`
	DatasetID           string             `json:"dataset_id"`
	HardwareFingerprint string             `json:"hardware_fingerprint"`
	GPUModel            string             `json:"gpu_model"`
	GPUCount            int                `json:"gpu_count"`
	Timestamp           time.Time          `json:"timestamp"`
	VerifiedAt          time.Time          `json:"verified_at"`
	SignatureMethod     string             `json:"signature_method"`
	SignerKeyID         string             `json:"signer_key_id"`
	SignerIdentity      string             `json:"signer_identity"`
	SignerIssuer        string             `json:"signer_issuer"`
	EnvelopeURI         string             `json:"envelope_uri"`
	TracesURI           string             `json:"traces_uri"`
	JobID               string             `json:"job_id"`
	BatchID             string             `json:"batch_id"`
	Metrics             map[string]float64 `json:"metrics"`
	// EnvelopeURL is the path (relative to the API's base URL) of the
	// verified envelope: ResultsPath + "/" + ContentHash.
	EnvelopeURL string `json:"envelope_url"`
}

// ListResponse is the body of GET /api/v1/results.
//
// Count is the number of entries that match the filters regardless of
// paging, so that a client can page with Offset until Offset+len(Results)
// reaches it. It is counted in a separate query from the page: while the
// indexer is adding entries the two may differ by what arrived in between.
type ListResponse struct {
	Results []Result `json:"results"`
	Count   int      `json:"count"`
	Limit   int      `json:"limit"`
	Offset  int      `json:"offset"`
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Error string `json:"error"`
}

// ReadyResponse is the body of GET /readyz: Status is "ready" (200) or
// "unavailable" (503, with the reason in Error).
type ReadyResponse struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

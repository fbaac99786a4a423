// Package api is the read-only HTTP API over the catalog: the listing that
// `bench results` and the leaderboard query, the verified envelopes
// themselves (byte for byte, so that anyone can re-verify a result without
// trusting this server), and the health and readiness probes that process
// supervisors poll.
//
// Routes (all JSON unless noted):
//
//	GET /api/v1/results          list and filter entries (ListResponse)
//	GET /api/v1/results/{hash}   one verified envelope, verbatim (full hash or unique prefix ≥ 8)
//	GET /api/v1/jobs             fleet jobs of a batch, with its summary (JobsResponse; WithJobs)
//	GET /api/v1/jobs/{id}        one job's record (fleet.Status; WithJobs)
//	GET /api/v1/batches          submitted batches, newest first (BatchesResponse; WithJobs)
//	GET /healthz                 200 "ok" (text): the process is up
//	GET /readyz                  200 or 503 (ReadyResponse): the process can serve queries
//
// Errors are JSON objects {"error": "..."} (ErrorResponse) whose message
// names the parameter or thing at fault: 400 for a bad parameter, 404 for an
// unknown hash or route, 405 for a wrong method, 409 for an ambiguous hash
// prefix, 500 when the catalog fails, 503 when not ready.
//
// The handler neither logs nor sets timeouts: both are the server's
// business. The caller wraps it with its own logging middleware if it wants
// one, and runs it in an http.Server with ReadHeaderTimeout, ReadTimeout,
// WriteTimeout (long enough for a 10,000-entry page) and IdleTimeout set,
// because an http.Server without them lets slow clients hold connections
// forever.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/inferencebench/bench/internal/api/wire"
	"github.com/inferencebench/bench/internal/catalog"
)

// The wire format, re-exported so that users of the handler need one
// import; clients import package wire alone (see its doc).
const (
	ResultsPath       = wire.ResultsPath
	HealthPath        = wire.HealthPath
	ReadyPath         = wire.ReadyPath
	HeaderContentHash = wire.HeaderContentHash
)

type (
	Result        = wire.Result
	ListResponse  = wire.ListResponse
	ErrorResponse = wire.ErrorResponse
	ReadyResponse = wire.ReadyResponse
)

// Handler serves the API over cat. ready decides readiness for /readyz (a
// nil ready checks cat.Ping): the caller passes a function that also checks
// whatever else it needs before taking traffic (the bus, object storage).
func Handler(cat catalog.Catalog, ready func(context.Context) error, opts ...Option) http.Handler {
	if ready == nil {
		ready = cat.Ping
	}
	s := &server{cat: cat, ready: ready}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	if s.jobs != nil {
		mux.HandleFunc("GET "+JobsPath, s.listJobs)
		mux.HandleFunc("GET "+JobsPath+"/{id}", s.getJob)
		mux.HandleFunc("GET "+BatchesPath, s.listBatches)
	}
	// GET patterns also match HEAD, which net/http answers without a body.
	mux.HandleFunc("GET "+ResultsPath, s.list)
	mux.HandleFunc("GET "+ResultsPath+"/{hash}", s.get)
	mux.HandleFunc("GET "+HealthPath, s.health)
	mux.HandleFunc("GET "+ReadyPath, s.readyz)
	// Everything else under the API answers in JSON too, rather than with
	// the mux's plain-text 404/405 that a JSON client cannot decode.
	mux.HandleFunc("/", s.notFound)
	return mux
}

type server struct {
	cat   catalog.Catalog
	ready func(context.Context) error
	jobs  Jobs
}

// list serves GET /api/v1/results.
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	f, err := parseListQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	entries, err := s.cat.List(r.Context(), f)
	if err != nil {
		writeCatalogError(w, err)
		return
	}
	n, err := s.cat.Count(r.Context(), f)
	if err != nil {
		writeCatalogError(w, err)
		return
	}
	resp := ListResponse{Results: make([]Result, len(entries)), Count: n, Limit: f.Limit, Offset: f.Offset}
	for i := range entries {
		resp.Results[i] = resultOf(&entries[i])
	}
	writeJSON(w, http.StatusOK, resp)
}

// resultOf converts an entry without its envelope bytes.
func resultOf(e *catalog.Entry) Result {
	metrics := e.Metrics
	if metrics == nil {
		metrics = map[string]float64{} // an object, never null
	}
	return Result{
		ContentHash: e.ContentHash, RunID: e.RunID, SuiteID: e.SuiteID, SuiteVersion: e.SuiteVersion,
		ModelID: e.ModelID, ModelRevision: e.ModelRevision, Provider: e.Provider,
		EngineName: e.EngineName, EngineVersion: e.EngineVersion, DatasetID: e.DatasetID,
		HardwareFingerprint: e.HardwareFingerprint, GPUModel: e.GPUModel, GPUCount: e.GPUCount,
		Timestamp: e.Timestamp.UTC(), VerifiedAt: e.VerifiedAt.UTC(),
		SignatureMethod: e.SignatureMethod, SignerKeyID: e.SignerKeyID,
		SignerIdentity: e.SignerIdentity, SignerIssuer: e.SignerIssuer,
		EnvelopeURI: e.EnvelopeURI, TracesURI: e.TracesURI, JobID: e.JobID, BatchID: e.BatchID,
		Metrics:     metrics,
		EnvelopeURL: ResultsPath + "/" + e.ContentHash,
	}
}

// Query parameters of the listing and the Filter field each one sets.
var exactParams = []struct {
	name string
	set  func(*catalog.Filter, string)
}{
	{"model", func(f *catalog.Filter, v string) { f.ModelID = v }},
	{"engine", func(f *catalog.Filter, v string) { f.EngineName = v }},
	{"suite", func(f *catalog.Filter, v string) { f.SuiteID = v }},
	{"gpu", func(f *catalog.Filter, v string) { f.GPUModel = v }},
	{"fingerprint", func(f *catalog.Filter, v string) { f.HardwareFingerprint = v }},
	{"dataset", func(f *catalog.Filter, v string) { f.DatasetID = v }},
	{"job", func(f *catalog.Filter, v string) { f.JobID = v }},
	{"batch", func(f *catalog.Filter, v string) { f.BatchID = v }},
}

var timeParams = []struct {
	name string
	set  func(*catalog.Filter, time.Time)
}{
	{"since", func(f *catalog.Filter, t time.Time) { f.Since = t }},
	{"until", func(f *catalog.Filter, t time.Time) { f.Until = t }},
	{"verified_after", func(f *catalog.Filter, t time.Time) { f.VerifiedAfter = t }},
}

// knownParams is every parameter the listing accepts. Anything else is
// refused: a misspelt filter ("modle=") silently ignored would return
// everything and look like an answer.
var knownParams = func() []string {
	names := []string{"hash", "order", "limit", "offset"}
	for _, p := range exactParams {
		names = append(names, p.name)
	}
	for _, p := range timeParams {
		names = append(names, p.name)
	}
	slices.Sort(names)
	return names
}()

// parseListQuery turns the query parameters into a Filter with the limit
// defaulted, or an error that names the parameter at fault.
func parseListQuery(q url.Values) (catalog.Filter, error) {
	f := catalog.Filter{Limit: catalog.DefaultLimit}
	for name, vals := range q {
		if !slices.Contains(knownParams, name) {
			return f, fmt.Errorf("unknown query parameter %q (known: %s)", name, strings.Join(knownParams, ", "))
		}
		if len(vals) > 1 {
			// One value per filter: silently using the first or the last
			// would answer a different question than the one asked.
			return f, fmt.Errorf("query parameter %q given %d times; give it once", name, len(vals))
		}
	}
	for _, p := range exactParams {
		if v := q.Get(p.name); v != "" {
			p.set(&f, v)
		}
	}
	for _, p := range timeParams {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			return f, fmt.Errorf("query parameter %q: %q is not an RFC 3339 time such as 2026-03-14T15:09:26Z", p.name, v)
		}
		p.set(&f, t)
	}
	if v := q.Get("hash"); v != "" {
		h := strings.ToLower(v)
		if len(h) > 64 || !catalog.IsHex(h) {
			return f, fmt.Errorf("query parameter \"hash\": %q is not a content hash prefix (1 to 64 hex digits)", v)
		}
		f.ContentHashPrefix = h
	}
	if v := q.Get("order"); v != "" {
		order, err := parseOrder(v)
		if err != nil {
			return f, err
		}
		f.OrderBy = order
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > catalog.MaxLimit {
			return f, fmt.Errorf("query parameter \"limit\": %q is not a whole number from 1 to %d", v, catalog.MaxLimit)
		}
		f.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("query parameter \"offset\": %q is not a whole number of 0 or more", v)
		}
		f.Offset = n
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("query parameters \"since\" and \"until\": since (%s) is not before until (%s), so nothing can match",
			f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
	}
	return f, nil
}

// parseTime reads an RFC 3339 time. A '+' written unescaped in a query
// string arrives as a space ("15:00:00 01:00"); that is read as the '+' the
// user meant rather than refused, since a space can never be meant there.
func parseTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil && strings.Contains(v, " ") {
		t, err = time.Parse(time.RFC3339, strings.ReplaceAll(v, " ", "+"))
	}
	return t, err
}

// parseOrder checks an order (catalog.Filter.OrderBy) so that the error
// names the parameter. A leading space is an unescaped '+' (see parseTime).
func parseOrder(v string) (string, error) {
	order := v
	if rest, ok := strings.CutPrefix(order, " "); ok {
		order = "+" + rest
	}
	key := order
	if rest, ok := strings.CutPrefix(key, "+"); ok {
		key = rest
	} else {
		key = strings.TrimPrefix(key, "-")
	}
	switch {
	case key == "timestamp", key == "verified_at":
	case strings.HasPrefix(key, "metric:") && len(key) > len("metric:"):
	default:
		return "", fmt.Errorf("query parameter \"order\": %q is not timestamp, verified_at or metric:NAME, "+
			"optionally prefixed with + (ascending, sent as %%2B) or - (descending, the default)", v)
	}
	return order, nil
}

// get serves GET /api/v1/results/{hash}: the envelope exactly as the
// verifier accepted it and the catalog stored it. Not re-encoded, because
// re-encoding could change bytes (number formatting, key order, escapes)
// and the point is that a client can hash and verify what it receives.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("hash")
	h := strings.ToLower(raw)
	if len(h) < catalog.MinPrefixLen || len(h) > 64 || !catalog.IsHex(h) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("content hash %q: want the full 64 hex digits or a unique prefix of at least %d", raw, catalog.MinPrefixLen))
		return
	}
	e, err := s.cat.Get(r.Context(), h)
	if errors.Is(err, catalog.ErrNotFound) {
		what := "content hash " + h
		if len(h) < 64 {
			what = "a content hash starting with " + h
		}
		writeError(w, http.StatusNotFound, "no result has "+what)
		return
	}
	if err != nil {
		writeCatalogError(w, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set(HeaderContentHash, e.ContentHash)
	// The content hash identifies the envelope's content: a strong ETag.
	// http.ServeContent below answers If-None-Match with 304 from it.
	hdr.Set("ETag", `"`+e.ContentHash+`"`)
	if len(h) == 64 {
		// The envelope under a full hash can never change.
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// A prefix that is unique today may become ambiguous tomorrow.
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(e.Envelope))
}

// health serves GET /healthz: the process is up and serving HTTP. It checks
// nothing else, so that a supervisor restarts the process only when the
// process itself is stuck, not when a dependency is down (that is /readyz).
func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok\n"))
}

// readyz serves GET /readyz: whether this process can serve queries now.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, ReadyResponse{Status: "unavailable", Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ReadyResponse{Status: "ready"})
}

// notFound answers every request no route matched: 405 (with Allow) for a
// known path asked with another method, 404 otherwise.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	rest, underResults := strings.CutPrefix(p, ResultsPath+"/")
	known := p == ResultsPath || p == HealthPath || p == ReadyPath ||
		(underResults && rest != "" && !strings.Contains(rest, "/"))
	if s.jobs != nil {
		rest, underJobs := strings.CutPrefix(p, JobsPath+"/")
		known = known || p == JobsPath || p == BatchesPath || (underJobs && rest != "" && !strings.Contains(rest, "/"))
	}
	if known {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use GET", r.Method, p))
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s (see %s)", p, ResultsPath))
}

// writeCatalogError maps the catalog's sentinel errors to status codes.
func writeCatalogError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, catalog.ErrAmbiguous):
		writeError(w, http.StatusConflict, err.Error()+": give more hex digits")
	case errors.Is(err, catalog.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		// The handler does not log, so the reason goes to the client: the
		// catalog's errors name the store and the failing step, nothing
		// secret.
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg})
}

// writeJSON encodes v whole before writing, so that an encoding failure
// can still become a 500 and the response carries a Content-Length.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorResponse{Error: "encoding the response: " + err.Error()})
	}
	body = append(body, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

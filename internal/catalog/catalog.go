// Package catalog stores verified result envelopes so that people (the
// `bench results` CLI, the HTTP API) and programs (subscribers polling for
// new results, analytics) can query them.
//
// The indexer is the only writer: it takes envelopes the verifier accepted,
// extracts the columns people filter and sort on into an Entry, and Puts
// batches of them. Put is idempotent by content hash because the bus
// delivers at least once: a redelivered envelope must neither fail nor be
// stored twice.
//
// Catalog is the contract; SQLite (this package) is the embedded default
// used by `bench up`, and a Postgres implementation fills the same contract
// for clusters. Behaviour that callers may rely on (ordering, tie-breaks,
// interval bounds, time precision, limits) is specified here, not left to
// the backing store, so that the two are interchangeable.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Sentinel errors. Callers branch on them with errors.Is; the HTTP API maps
// ErrNotFound to 404, ErrAmbiguous to 409 and ErrInvalid to 400.
var (
	// ErrNotFound: no entry has the requested content hash or prefix.
	ErrNotFound = errors.New("catalog: entry not found")
	// ErrAmbiguous: a content hash prefix matches more than one entry.
	ErrAmbiguous = errors.New("catalog: content hash prefix is ambiguous")
	// ErrInvalid: an argument (an Entry given to Put, a hash or prefix, a
	// Filter) is malformed. The wrapping error says which field and why.
	ErrInvalid = errors.New("catalog: invalid argument")
)

// Limits of List. DefaultLimit applies when Filter.Limit is 0; a Limit above
// MaxLimit is rejected (ErrInvalid) rather than silently clamped, because a
// client paging until it gets "fewer than it asked for" would otherwise stop
// early.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	// MinPrefixLen is the shortest content hash prefix Get accepts: shorter
	// prefixes collide too often to be a useful handle for a person.
	MinPrefixLen = 8
)

// Signature methods an Entry may carry (the envelope's signature.method).
const (
	MethodDevKey  = "dev-key"
	MethodKeyless = "sigstore-cosign"
)

// Entry is one verified envelope as the catalog stores it: the envelope
// itself, verbatim, plus the fields people filter and sort on, extracted by
// the indexer so that queries never have to parse envelopes.
//
// Times are stored at microsecond precision (the envelope's own precision,
// and Postgres timestamptz's): Put truncates, and Get/List return UTC.
type Entry struct {
	ContentHash         string // sha256 hex (64 lowercase) of the envelope body: the primary key
	RunID               string
	SuiteID             string
	SuiteVersion        string
	ModelID             string
	ModelRevision       string
	Provider            string
	EngineName          string
	EngineVersion       string
	DatasetID           string
	HardwareFingerprint string             // hardware_fingerprint.fingerprint_sha256
	GPUModel            string             // first GPU's model, "" if none
	GPUCount            int                // number of GPUs in the fingerprint
	Timestamp           time.Time          // the run's timestamp (UTC)
	SignatureMethod     string             // MethodDevKey or MethodKeyless
	SignerKeyID         string             // dev-key key id, "" otherwise
	SignerIdentity      string             // keyless certificate identity, "" otherwise
	SignerIssuer        string             // keyless OIDC issuer, "" otherwise
	VerifiedAt          time.Time          // when the verifier accepted the envelope
	EnvelopeURI         string             // where the verbatim envelope is archived (s3://...)
	TracesURI           string             // where the run's traces are archived (s3://...)
	JobID               string             // fleet job; "" when not from a job
	BatchID             string             // fleet batch; "" when not from a job
	Metrics             map[string]float64 // the envelope's numeric metrics
	Envelope            []byte             // the verified envelope, byte for byte as verified
}

// Filter selects and orders entries for List and Count. Zero fields do not
// filter. Count ignores Limit, Offset, OrderBy and WithEnvelope, so that
// Count(f) is the total List(f) pages through.
type Filter struct {
	// Exact matches, applied when non-empty.
	ModelID             string
	EngineName          string
	SuiteID             string
	GPUModel            string
	HardwareFingerprint string
	DatasetID           string
	JobID               string
	BatchID             string

	// ContentHashPrefix matches entries whose hash starts with it (1 to 64
	// hex digits, case-insensitive).
	ContentHashPrefix string

	// Since (inclusive) and Until (exclusive) bound Timestamp when set: a
	// half-open interval, so consecutive windows neither overlap nor leave
	// gaps.
	Since, Until time.Time

	// VerifiedAfter keeps entries with VerifiedAt strictly after it, for
	// subscribers polling the catalog with the last VerifiedAt they saw.
	//
	// It is not a gap-free cursor: VerifiedAt is set by the verifier before
	// the indexer's Put, so an entry verified earlier can be committed after
	// a poll that already moved past it. Pollers that must not miss entries
	// either consume the results stream (the exactly-once path) or poll with
	// an overlap (VerifiedAfter = last seen minus a margin) and de-duplicate
	// by ContentHash.
	VerifiedAfter time.Time

	// Limit is the page size: 0 means DefaultLimit, at most MaxLimit.
	Limit int
	// Offset skips that many entries of the ordered result.
	Offset int

	// OrderBy is one of
	//	"" or "timestamp"   Timestamp, newest first (the default)
	//	"verified_at"       VerifiedAt, newest first
	//	"metric:NAME"       the value of metric NAME, largest first
	// A "+" prefix sorts ascending ("+metric:ttft_p50_ms" lists the fastest
	// first); a "-" prefix states the default descending order explicitly.
	// Ties are broken by ContentHash in the same direction, so pages are
	// stable. When ordering by a metric, entries that do not report it come
	// last in both directions (they stay in the result, so that Count(f)
	// still counts what List(f) pages through), ordered among themselves by
	// ContentHash.
	OrderBy string

	// WithEnvelope makes List return each entry's Envelope bytes too. Off
	// by default because envelopes are most of the stored bytes and listings
	// rarely need them; Get always returns them.
	WithEnvelope bool
}

// Catalog stores and queries verified entries. Implementations are safe for
// concurrent use.
type Catalog interface {
	// Put stores entries in one transaction: all of the new entries or none
	// of them. It is idempotent by ContentHash: an
	// entry already present (stored earlier, or earlier in the same call) is
	// left as it is and reported inserted=false. When Put returns without
	// error every entry is durable (see the implementation for the exact
	// guarantee), so the indexer may publish and ack after it returns.
	//
	// inserted=false means "already in the catalog", not "already
	// published": an indexer that crashed between Put and publishing sees
	// its redelivered entries as not inserted, and must publish them anyway
	// (the stream de-duplicates by message id). Likewise an error that
	// strikes during the commit (a cancelled context, a lost connection)
	// leaves unknown whether the batch was stored; retrying the same batch
	// is always safe.
	Put(ctx context.Context, entries ...Entry) (inserted []bool, err error)

	// Get returns one entry, Envelope included, by its full content hash or
	// a unique prefix of at least MinPrefixLen hex digits (case-insensitive).
	// It returns ErrNotFound when nothing matches and ErrAmbiguous when a
	// prefix matches several entries.
	Get(ctx context.Context, contentHash string) (Entry, error)

	// List returns the entries that match f, ordered and paged as f says,
	// without their Envelope bytes unless f.WithEnvelope. No match is an
	// empty result, not an error.
	List(ctx context.Context, f Filter) ([]Entry, error)

	// Count returns how many entries match f (Limit, Offset and OrderBy are
	// ignored).
	Count(ctx context.Context, f Filter) (int, error)

	// Ping checks that the store is reachable and usable (health checks).
	Ping(ctx context.Context) error

	// Close releases the store's resources. The Catalog must not be used
	// afterwards.
	Close() error
}

// The helpers below hold the parts of the contract that do not depend on
// the backing store (validation, time precision, filter and order parsing),
// so that every implementation applies the same rules.

// validateEntry rejects entries the catalog could not serve correctly. It
// checks what the catalog itself relies on (the key, the ordering and
// polling times, the envelope Get returns, metric values that SQL can order)
// and leaves the envelope's own validity to the verifier.
func validateEntry(e *Entry) error {
	if !IsHex(e.ContentHash) || len(e.ContentHash) != 64 {
		return fmt.Errorf("%w: content hash %q is not 64 lowercase hex digits", ErrInvalid, e.ContentHash)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: entry %s: %s", ErrInvalid, e.ContentHash, fmt.Sprintf(format, a...))
	}
	switch {
	case e.Timestamp.IsZero():
		return bad("timestamp is zero")
	case e.VerifiedAt.IsZero():
		return bad("verified_at is zero")
	case len(e.Envelope) == 0:
		return bad("envelope bytes are empty")
	case e.GPUCount < 0:
		return bad("gpu count %d is negative", e.GPUCount)
	case e.SignatureMethod != MethodDevKey && e.SignatureMethod != MethodKeyless:
		return bad("signature method %q is neither %q nor %q", e.SignatureMethod, MethodDevKey, MethodKeyless)
	}
	for name, v := range e.Metrics {
		if name == "" {
			return bad("a metric has an empty name")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("metric %q is %v, not a finite number", name, v)
		}
	}
	return nil
}

// IsHex reports whether s is non-empty lowercase hex: the digits of a
// content hash or a prefix of one. The HTTP API checks hashes with it too,
// so that both accept the same strings.
func IsHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// normalizeHashPrefix lowercases a hash or hash prefix given by a person or
// a URL and checks it is 1 to 64 hex digits.
func normalizeHashPrefix(s string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(s))
	if !IsHex(p) || len(p) > 64 {
		return "", fmt.Errorf("%w: content hash prefix %q is not 1 to 64 hex digits", ErrInvalid, s)
	}
	return p, nil
}

// prefixUpperBound returns the smallest string above every hex string that
// starts with prefix: 'g' sorts after every hex digit. Prefix matching as
// the range [prefix, bound) uses the content hash's unique index in any SQL
// store (in Postgres the column must compare bytewise, COLLATE "C").
func prefixUpperBound(prefix string) string { return prefix + "g" }

// micros is the stored form of a time: microseconds since the Unix epoch,
// UTC, rounded down (UnixMicro floors: its nanosecond part is never
// negative). Put truncates to it.
func micros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros rounds up to a whole microsecond. Filters compare stored
// (whole-microsecond) times with bounds that may carry nanoseconds:
// ts >= since holds exactly when ts >= ceil(since), and ts < until exactly
// when ts < ceil(until).
func ceilMicros(t time.Time) int64 {
	m := micros(t)
	if time.UnixMicro(m).Before(t) {
		m++
	}
	return m
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Orderings a Filter may ask for.
const (
	orderTimestamp = iota
	orderVerifiedAt
	orderMetric
)

// query is a Filter checked and reduced to what a store needs to build its
// statement.
type query struct {
	Filter
	hashPrefix      string // normalised ContentHashPrefix
	limit           int    // DefaultLimit applied
	order           int    // orderTimestamp, orderVerifiedAt or orderMetric
	metric          string // the metric name when order == orderMetric
	ascending       bool
	since, until    int64 // ceilMicros of Since/Until when set
	verifiedAfterUS int64 // micros of VerifiedAfter when set
}

// parseFilter validates f and normalises it. forList adds the checks that
// only matter when rows are returned (paging and ordering); Count ignores
// those fields.
func parseFilter(f Filter, forList bool) (query, error) {
	q := query{Filter: f}
	if f.ContentHashPrefix != "" {
		p, err := normalizeHashPrefix(f.ContentHashPrefix)
		if err != nil {
			return q, err
		}
		q.hashPrefix = p
	}
	if !f.Since.IsZero() {
		q.since = ceilMicros(f.Since)
	}
	if !f.Until.IsZero() {
		q.until = ceilMicros(f.Until)
	}
	if !f.VerifiedAfter.IsZero() {
		q.verifiedAfterUS = micros(f.VerifiedAfter)
	}
	if !forList {
		return q, nil
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxLimit:
		return q, fmt.Errorf("%w: limit %d is outside 0..%d", ErrInvalid, f.Limit, MaxLimit)
	case f.Limit == 0:
		q.limit = DefaultLimit
	default:
		q.limit = f.Limit
	}
	if f.Offset < 0 {
		return q, fmt.Errorf("%w: offset %d is negative", ErrInvalid, f.Offset)
	}
	key := f.OrderBy
	if rest, ok := strings.CutPrefix(key, "+"); ok {
		q.ascending, key = true, rest
	} else {
		key = strings.TrimPrefix(key, "-")
	}
	switch {
	case key == "" || key == "timestamp":
		q.order = orderTimestamp
	case key == "verified_at":
		q.order = orderVerifiedAt
	case strings.HasPrefix(key, "metric:") && len(key) > len("metric:"):
		q.order, q.metric = orderMetric, strings.TrimPrefix(key, "metric:")
	default:
		return q, fmt.Errorf("%w: order %q is not timestamp, verified_at or metric:NAME (with an optional + or - prefix)", ErrInvalid, f.OrderBy)
	}
	return q, nil
}

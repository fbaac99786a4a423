// Package bus is the message contract of the pipeline, defined in one place:
// the JetStream streams, their subjects, the durable consumers of each stage,
// the headers every message carries, and the message ids that make
// republishing harmless. docs/architecture.md renders the same contract as a
// table, and a test pins the two together.
//
//	runner ─unsigned─> signer ─signed─> verifier ─verified─> indexer ─> results
//	                         any stage that cannot process a message ─> rejected
//
// Envelope streams are work queues: a message is removed once the stage that
// owns the stream acknowledges it, which it does only after its own output
// is durably published. The results stream keeps everything (limits
// retention) so that subscribers can replay from any point; the rejected
// stream keeps dead letters with the reason and the original payload.
package bus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Streams.
const (
	StreamUnsigned = "BENCH_UNSIGNED"
	StreamSigned   = "BENCH_SIGNED"
	StreamVerified = "BENCH_VERIFIED"
	StreamResults  = "BENCH_RESULTS"
	StreamRejected = "BENCH_REJECTED"
	StreamJobs     = "BENCH_JOBS"
)

// Key-value buckets (JetStream KV) of the fleet.
const (
	// BucketJobs holds each job's status (key job.<id>) and each batch
	// (key batch.<id>): the one place `bench jobs` and the API read.
	BucketJobs = "bench-jobs"
	// BucketRunners holds the live runners (key <pool>.<runner>) with their
	// labels; entries expire when a runner stops refreshing them.
	BucketRunners = "bench-runners"
)

// RunnerTTL is how long a runner's advertisement lives without a refresh.
const RunnerTTL = 30 * time.Second

// Durable consumers, one per stage, named for the stage.
const (
	ConsumerSigner   = "signer"
	ConsumerVerifier = "verifier"
	ConsumerIndexer  = "indexer"
)

// Subject prefixes. Envelope subjects end in <suite>.<content_hash>, so
// that subscribers can filter by suite and each envelope has a subject of
// its own (which makes "publish once ever" checkable, see Output.OnceEver).
const (
	SubjectUnsigned = "bench.envelopes.unsigned"
	SubjectSigned   = "bench.envelopes.signed"
	SubjectVerified = "bench.envelopes.verified"
	SubjectResults  = "bench.results"
	SubjectRejected = "bench.rejected"
	SubjectJobs     = "bench.jobs"
)

// JobSubject is where jobs for pool are queued.
func JobSubject(pool string) string { return SubjectJobs + "." + pool }

// ConsumerRunners is the durable consumer the runners of pool share.
func ConsumerRunners(pool string) string { return "runners-" + pool }

// Headers.
const (
	HdrContentHash = "Bench-Content-Hash" // sha256 of the envelope body: the same at every stage
	HdrRunID       = "Bench-Run-Id"       // the envelope's run_id: the correlation id in logs
	HdrStage       = "Bench-Stage"        // the stage that published the message
	HdrReason      = "Bench-Reason"       // rejected: why the stage refused the message
	HdrFromSubject = "Bench-From-Subject" // rejected: the subject the message arrived on
	HdrDeliveries  = "Bench-Deliveries"   // rejected: how often it was delivered
	HdrRejectedAt  = "Bench-Rejected-At"  // rejected: RFC 3339 time
	HdrSignerID    = "Bench-Signer"       // verified: the key id or identity that signed it
	HdrTraces      = "Bench-Traces"       // the traces URI, for consumers that want them
	HdrJobID       = "Bench-Job-Id"       // fleet jobs: the job the envelope belongs to
	HdrBatchID     = "Bench-Batch-Id"
)

// Stage names, used in message ids, rejected subjects and Bench-Stage.
const (
	StageRunner   = "runner"
	StageSigner   = "signer"
	StageVerifier = "verifier"
	StageIndexer  = "indexer"
)

// MsgID is the Nats-Msg-Id of a stage's output for an envelope:
// "<stage>:<content_hash>". JetStream drops a repeat within the stream's
// duplicate window, so a stage that crashes after publishing and before
// acknowledging does not publish twice.
func MsgID(stage, contentHash string) string { return stage + ":" + contentHash }

// Token makes s usable as one subject token: '.', '*', '>' and white space
// become '_', and an empty string becomes "_".
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// EnvelopeSubject is the subject of an envelope on one of the envelope or
// results streams: prefix.<suite>.<content_hash>.
func EnvelopeSubject(prefix, suiteID, contentHash string) string {
	return prefix + "." + Token(suiteID) + "." + contentHash
}

// ForwardHeaders builds a stage's output headers: the envelope's own
// (content hash, run id, the publishing stage) and those that travel with
// it from stage to stage (traces, job, batch).
func ForwardHeaders(in nats.Header, stage, runID, contentHash string) nats.Header {
	h := nats.Header{}
	for _, k := range []string{HdrTraces, HdrJobID, HdrBatchID} {
		if v := in.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	h.Set(HdrContentHash, contentHash)
	h.Set(HdrRunID, runID)
	h.Set(HdrStage, stage)
	return h
}

// RejectedSubject is the dead-letter subject of a stage.
func RejectedSubject(stage string) string { return SubjectRejected + "." + stage }

// StreamSpec is one stream of the contract.
type StreamSpec struct {
	Name      string
	Subjects  []string
	Retention jetstream.RetentionPolicy
	Consumer  string // the stage's durable consumer, for work queues
	Schema    string // the message body's schema (file in schemas/)
	MsgID     string // how the Nats-Msg-Id is formed
	Purpose   string
	// Headers are the headers every message of the stream carries.
	Headers []string
}

// envelopeHeaders are carried by every envelope message, at every stage.
var envelopeHeaders = []string{jetstream.MsgIDHeader, HdrContentHash, HdrRunID, HdrStage}

// Streams is the contract.
var Streams = []StreamSpec{
	{StreamUnsigned, []string{SubjectUnsigned + ".>"}, jetstream.WorkQueuePolicy, ConsumerSigner,
		"envelope.v1.schema.json (no signature)", "runner:<content_hash>", "envelopes measured by runners, waiting to be signed",
		envelopeHeaders},
	{StreamSigned, []string{SubjectSigned + ".>"}, jetstream.WorkQueuePolicy, ConsumerVerifier,
		"envelope.v1.schema.json", "signer:<content_hash>", "signed envelopes, waiting to be verified",
		envelopeHeaders},
	{StreamVerified, []string{SubjectVerified + ".>"}, jetstream.WorkQueuePolicy, ConsumerIndexer,
		"envelope.v1.schema.json", "verifier:<content_hash>", "verified envelopes, waiting to be cataloged",
		append(envelopeHeaders[:len(envelopeHeaders):len(envelopeHeaders)], HdrSignerID, HdrTraces)},
	{StreamResults, []string{SubjectResults + ".>"}, jetstream.LimitsPolicy, "",
		"envelope.v1.schema.json", "indexer:<content_hash>, once ever per subject", "cataloged results, for subscribers to replay",
		append(envelopeHeaders[:len(envelopeHeaders):len(envelopeHeaders)], HdrSignerID, HdrTraces)},
	{StreamRejected, []string{SubjectRejected + ".>"}, jetstream.LimitsPolicy, "",
		"the original payload, verbatim; the reason in Bench-Reason", "dead:<stream>:<sequence>", "dead letters of every stage",
		[]string{HdrStage, HdrReason, HdrFromSubject, HdrDeliveries, HdrRejectedAt}},
	{StreamJobs, []string{SubjectJobs + ".>"}, jetstream.WorkQueuePolicy, "runners-<pool>, one per pool (filter bench.jobs.<pool>)",
		"job.v1.schema.json", "job:<job_id>", "fleet jobs waiting for a runner of their pool",
		[]string{jetstream.MsgIDHeader, HdrJobID, HdrBatchID}},
}

// Options tunes the streams to the deployment.
type Options struct {
	// Replicas of every stream: 1 for a single server, 3 for a cluster.
	Replicas int
	// Duplicates is the window in which JetStream drops a repeated
	// Nats-Msg-Id; default 10 minutes.
	Duplicates time.Duration
	// MaxAge of results and rejected messages; 0 keeps them forever.
	ResultsMaxAge, RejectedMaxAge time.Duration
	// Memory stores streams in memory instead of files (benchmarks only:
	// nothing survives a restart).
	Memory bool
}

// Setup creates or updates every stream of the contract. It is idempotent:
// every process calls it at start.
func Setup(ctx context.Context, js jetstream.JetStream, opts Options) error {
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = 10 * time.Minute
	}
	storage := jetstream.FileStorage
	if opts.Memory {
		storage = jetstream.MemoryStorage
	}
	for _, s := range Streams {
		cfg := jetstream.StreamConfig{
			Name:        s.Name,
			Description: s.Purpose,
			Subjects:    s.Subjects,
			Retention:   s.Retention,
			Storage:     storage,
			Replicas:    opts.Replicas,
			Duplicates:  opts.Duplicates,
			Discard:     jetstream.DiscardOld,
		}
		switch s.Name {
		case StreamResults:
			cfg.MaxAge = opts.ResultsMaxAge
		case StreamRejected:
			cfg.MaxAge = opts.RejectedMaxAge
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: setting up stream %s: %w", s.Name, err)
		}
	}
	for _, kv := range []jetstream.KeyValueConfig{
		{Bucket: BucketJobs, Description: "fleet jobs and batches", History: 1, Storage: storage, Replicas: opts.Replicas},
		{Bucket: BucketRunners, Description: "live runners and their labels", History: 1, TTL: RunnerTTL, Storage: storage, Replicas: opts.Replicas},
	} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return fmt.Errorf("bus: setting up key-value bucket %s: %w", kv.Bucket, err)
		}
	}
	return nil
}

// ConsumerConfig is a stage's durable consumer on its input stream.
func ConsumerConfig(name string, maxDeliver int, ackWait time.Duration, maxAckPending int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "the " + name + " stage",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		// One delivery more than the stage allows itself: the stage
		// dead-letters a message on its last attempt, and the server's own
		// limit (with its advisory, see Reaper) only catches a message on
		// which the stage crashes every time.
		MaxDeliver:    maxDeliver + 1,
		MaxAckPending: maxAckPending,
	}
}

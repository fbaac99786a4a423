// Package verifier is the pipeline stage that re-derives everything a
// signed envelope claims and trusts none of it: the schema and hardware
// fingerprint hash (by decoding), the content hash, the signature and the
// signer under the trust policy, the trace object's sha256 (by fetching and
// re-hashing it), and every summary metric (by recomputing it from the
// trace). What passes is published as verified; everything else is
// dead-lettered with the reason.
package verifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/runner/metrics"
	"github.com/inferencebench/bench/services/runner/trace"
)

// Config configures a verifier.
type Config struct {
	JS     jetstream.JetStream
	Store  *objstore.Store
	Policy *verify.Policy
	// Concurrency bounds envelopes in flight (default 16).
	Concurrency int
	// MaxEnvelopeBytes dead-letters larger messages (default envelope.DefaultMaxSize).
	MaxEnvelopeBytes int
	Log              zerolog.Logger
	// Tuning adjusts retries and delivery limits (zero: the defaults).
	Tuning      bus.Tuning
	OnProcessed func(m *bus.Message, rejected error)
}

// Run verifies until ctx ends, then drains.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Policy == nil || cfg.Policy.IsEmpty() {
		return errors.New("verifier: no trust policy: " + verify.HowToPin)
	}
	if cfg.MaxEnvelopeBytes <= 0 {
		cfg.MaxEnvelopeBytes = envelope.DefaultMaxSize
	}
	v := New(cfg.Store, cfg.Policy)
	return bus.RunStage(ctx, cfg.JS, bus.StageConfig{
		Name: bus.StageVerifier, Stream: bus.StreamSigned, Consumer: bus.ConsumerVerifier,
		Handler:     v.Handle,
		Middleware:  []bus.Middleware{bus.MaxSize(cfg.MaxEnvelopeBytes)},
		Concurrency: cfg.Concurrency, Tuning: cfg.Tuning, Log: cfg.Log, OnProcessed: cfg.OnProcessed,
	})
}

// Verifier checks signed envelopes.
type Verifier struct {
	store  *objstore.Store
	policy *verify.Policy
}

// New returns a Verifier (for callers that drive Handle themselves).
func New(store *objstore.Store, policy *verify.Policy) *Verifier {
	return &Verifier{store: store, policy: policy}
}

// Handle verifies one signed envelope.
func (v *Verifier) Handle(ctx context.Context, m *bus.Message) ([]bus.Output, error) {
	env, err := envelope.Parse(m.Data)
	if err != nil {
		return nil, bus.Permanentf("not a valid envelope: %v", err)
	}
	res, err := v.policy.Verify(env)
	if err != nil {
		return nil, bus.Permanentf("signature (%s): %v", res.Method, err)
	}
	if err := v.checkTraces(ctx, env); err != nil {
		return nil, err
	}
	h := bus.ForwardHeaders(m.Header, bus.StageVerifier, env.RunID, res.ContentHash)
	signer := res.KeyID
	if res.SignerIdentity != "" {
		signer = res.SignerIdentity
	}
	h.Set(bus.HdrSignerID, signer)
	traces, _ := env.Distributions.Get("traces")
	h.Set(bus.HdrTraces, traces)
	// The verified envelope is published byte for byte as it was signed.
	return []bus.Output{{
		Subject: bus.EnvelopeSubject(bus.SubjectVerified, env.SuiteID, res.ContentHash),
		MsgID:   bus.MsgID(bus.StageVerifier, res.ContentHash),
		Header:  h,
		Data:    m.Data,
	}}, nil
}

// checkTraces fetches the trace object the envelope points at, checks its
// sha256, and recomputes the envelope's metrics from it.
func (v *Verifier) checkTraces(ctx context.Context, env *envelope.Envelope) error {
	uri, ok := env.Distributions.Get("traces")
	want, ok2 := env.Distributions.Get("traces_sha256")
	if !ok || !ok2 {
		return bus.Permanentf("no traces: distributions must hold traces and traces_sha256, the data behind the metrics")
	}
	bucket, key, err := objstore.ParseURI(uri)
	if err != nil {
		return bus.Permanentf("traces %q: %v", uri, err)
	}
	if bucket != v.store.Bucket() {
		return bus.Permanentf("traces %q: not in this pipeline's bucket %q", uri, v.store.Bucket())
	}
	if named, ok := objstore.KeySHA256(key); ok && named != want {
		return bus.Permanentf("traces %s: the key names sha256 %s but traces_sha256 is %s", uri, named, want)
	}
	data, err := v.store.GetContent(ctx, key, want)
	switch {
	case errors.Is(err, objstore.ErrHashMismatch):
		return bus.Permanentf("traces %s: the object does not match traces_sha256 (tampered or replaced): %v", uri, err)
	case errors.Is(err, objstore.ErrNotFound):
		return bus.Permanentf("traces %s: no such object", uri)
	case err != nil && objstore.IsTransient(err):
		return fmt.Errorf("fetching traces %s: %w", uri, err) // retried
	case err != nil:
		return bus.Permanentf("fetching traces %s: %v", uri, err)
	}
	_, records, err := trace.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return bus.Permanentf("traces %s: not a trace file: %v", uri, err)
	}
	if err := metrics.Verify(env, records); err != nil {
		return bus.Permanentf("metrics do not match the traces: %v", err)
	}
	return nil
}

// Package signer is the pipeline stage that signs what runners measured: it
// consumes unsigned envelopes, signs each, and publishes the signed
// envelope. It signs with a dev key (Ed25519, DevKey) or keylessly through
// Sigstore (NewKeyless): an OIDC identity token, obtained afresh for every
// envelope, buys a short-lived Fulcio certificate, and the signature is
// recorded in a transparency log and timestamped. Keys and tokens never
// travel on the bus: only the signer holds them.
package signer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
)

// EnvelopeSigner signs one unsigned envelope in place: it sets
// env.Signature and returns the content hash. *keyless.Signer implements it;
// DevKey adapts a dev key. Implementations are safe for concurrent use.
type EnvelopeSigner interface {
	Sign(ctx context.Context, env *envelope.Envelope) (contentHash string, err error)
}

// DevKey returns an EnvelopeSigner that signs with an Ed25519 dev key, in
// the reference implementation's dev-key format.
func DevKey(key ed25519.PrivateKey) EnvelopeSigner { return devKeySigner{key} }

type devKeySigner struct{ key ed25519.PrivateKey }

func (d devKeySigner) Sign(_ context.Context, env *envelope.Envelope) (string, error) {
	return devkey.Sign(env, d.key)
}

func (d devKeySigner) String() string {
	return "dev key " + devkey.KeyID(d.key.Public().(ed25519.PublicKey))
}

// Config configures a signer. Give Signer, or Key for a dev key.
type Config struct {
	JS jetstream.JetStream
	// Signer signs each envelope: DevKey(key) or a keyless signer from
	// NewKeyless. It takes precedence over Key.
	Signer EnvelopeSigner
	// Key is the dev key, used when Signer is nil.
	Key ed25519.PrivateKey
	// Concurrency bounds envelopes in flight (default 16).
	Concurrency int
	// MaxEnvelopeBytes dead-letters larger messages (default envelope.DefaultMaxSize).
	MaxEnvelopeBytes int
	Log              zerolog.Logger
	// Tuning adjusts retries and delivery limits (zero: the defaults).
	Tuning bus.Tuning
	// OnProcessed is called after each message is settled (tests, metrics).
	OnProcessed func(m *bus.Message, rejected error)
}

// Run signs until ctx ends, then drains.
func Run(ctx context.Context, cfg Config) error {
	s := cfg.Signer
	if s == nil {
		if cfg.Key == nil {
			return errors.New("signer: no signing key and no keyless signer")
		}
		s = DevKey(cfg.Key)
	}
	if cfg.MaxEnvelopeBytes <= 0 {
		cfg.MaxEnvelopeBytes = envelope.DefaultMaxSize
	}
	if d, ok := s.(fmt.Stringer); ok {
		cfg.Log.Info().Str("signer", d.String()).Msg("signing with")
	}
	return bus.RunStage(ctx, cfg.JS, bus.StageConfig{
		Name: bus.StageSigner, Stream: bus.StreamUnsigned, Consumer: bus.ConsumerSigner,
		Handler:     Handler(s),
		Middleware:  []bus.Middleware{bus.MaxSize(cfg.MaxEnvelopeBytes)},
		Concurrency: cfg.Concurrency, Tuning: cfg.Tuning, Log: cfg.Log, OnProcessed: cfg.OnProcessed,
	})
}

// Handler signs one unsigned envelope. The content hash, and so the
// message id, depends on the body only: a redelivered envelope signed again
// (a keyless signature differs every time) is dropped as a duplicate by the
// stream within its dedupe window. A signing failure (token, Fulcio, Rekor,
// timestamp authority unreachable) is retried; an envelope that can never
// be signed is dead-lettered with the reason.
func Handler(s EnvelopeSigner) bus.Handler {
	return func(ctx context.Context, m *bus.Message) ([]bus.Output, error) {
		env, err := envelope.Parse(m.Data)
		if err != nil {
			return nil, bus.Permanentf("not a valid envelope: %v", err)
		}
		if env.Signature != nil {
			return nil, bus.Permanentf("the envelope is already signed (%s): runners publish unsigned envelopes", env.Signature.Method)
		}
		hash, err := s.Sign(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
		data, err := env.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return []bus.Output{{
			Subject: bus.EnvelopeSubject(bus.SubjectSigned, env.SuiteID, hash),
			MsgID:   bus.MsgID(bus.StageSigner, hash),
			Header:  bus.ForwardHeaders(m.Header, bus.StageSigner, env.RunID, hash),
			Data:    data,
		}}, nil
	}
}

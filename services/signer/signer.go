// Package signer is the pipeline stage that signs what runners measured: it
// consumes unsigned envelopes, signs each with the signer's key, and
// publishes the signed envelope. Keys never travel on the bus: only the
// signer holds its key.
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

// Config configures a signer.
type Config struct {
	JS  jetstream.JetStream
	Key ed25519.PrivateKey // the dev key
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
	if cfg.Key == nil {
		return errors.New("signer: no signing key")
	}
	if cfg.MaxEnvelopeBytes <= 0 {
		cfg.MaxEnvelopeBytes = envelope.DefaultMaxSize
	}
	return bus.RunStage(ctx, cfg.JS, bus.StageConfig{
		Name: bus.StageSigner, Stream: bus.StreamUnsigned, Consumer: bus.ConsumerSigner,
		Handler:     Handler(cfg.Key),
		Middleware:  []bus.Middleware{bus.MaxSize(cfg.MaxEnvelopeBytes)},
		Concurrency: cfg.Concurrency, Tuning: cfg.Tuning, Log: cfg.Log, OnProcessed: cfg.OnProcessed,
	})
}

// Handler signs one unsigned envelope. Signing the same envelope twice
// gives the same content hash and so the same message id: a redelivery
// publishes nothing new.
func Handler(key ed25519.PrivateKey) bus.Handler {
	return func(ctx context.Context, m *bus.Message) ([]bus.Output, error) {
		env, err := envelope.Parse(m.Data)
		if err != nil {
			return nil, bus.Permanentf("not a valid envelope: %v", err)
		}
		if env.Signature != nil {
			return nil, bus.Permanentf("the envelope is already signed (%s): runners publish unsigned envelopes", env.Signature.Method)
		}
		hash, err := devkey.Sign(env, key)
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

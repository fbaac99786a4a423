package verify_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

type corpusEntry struct {
	data   []byte
	policy *verify.Policy
	pub    ed25519.PublicKey
	sig    []byte
	hash   string
}

func loadCorpus(b *testing.B) []corpusEntry {
	t := &testing.T{}
	var corpus []corpusEntry
	for _, fx := range envelopetest.All(b) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			b.Fatal(err)
		}
		env, err := envelope.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		p := fixturePolicy(t, fx)
		sig, _ := base64.StdEncoding.DecodeString(env.Signature.Bundle)
		corpus = append(corpus, corpusEntry{data: data, policy: p, pub: p.DevKeys[0].Key, sig: sig, hash: fx.ContentHash})
	}
	return corpus
}

// BenchmarkVerificationOverhead measures, on one core, full verification of
// the 63 reference envelopes (parse, normalise, canonicalise, hash, Ed25519,
// policy) against the floor any verifier pays: sha256 of the file plus one
// Ed25519 verification. Both run interleaved in the same loop, so machine
// noise hits them alike; ratio = full throughput / floor throughput.
func BenchmarkVerificationOverhead(b *testing.B) {
	corpus := loadCorpus(b)
	var full, floor time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		for i := range corpus {
			env, err := envelope.Parse(corpus[i].data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := corpus[i].policy.Verify(env); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for i := range corpus {
			sum := sha256.Sum256(corpus[i].data)
			_ = sum
			if !ed25519.Verify(corpus[i].pub, []byte(corpus[i].hash), corpus[i].sig) {
				b.Fatal("bad signature")
			}
		}
		end := time.Now()
		full += mid.Sub(start)
		floor += end.Sub(mid)
	}
	n := float64(b.N * len(corpus))
	b.ReportMetric(n/full.Seconds(), "envelopes/s")
	b.ReportMetric(n/floor.Seconds(), "ed25519+sha256/s")
	b.ReportMetric(floor.Seconds()/full.Seconds(), "ratio")
}

// BenchmarkStages splits full verification into its parts.
func BenchmarkStages(b *testing.B) {
	corpus := loadCorpus(b)
	b.Run("parse+decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range corpus {
				if _, err := envelope.Parse(corpus[i].data); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	envs := make([]*envelope.Envelope, len(corpus))
	for i := range corpus {
		envs[i], _ = envelope.Parse(corpus[i].data)
	}
	b.Run("content-hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, env := range envs {
				env.ContentHash()
			}
		}
	})
	b.Run("ed25519", func(b *testing.B) {
		for b.Loop() {
			for i := range corpus {
				if err := devkey.Check(envs[i].Signature, corpus[i].hash, corpus[i].pub); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

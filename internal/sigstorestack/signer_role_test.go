package sigstorestack_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/internal/pipeline"
	"github.com/inferencebench/bench/internal/sigstorestack"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/simengine"
	"github.com/inferencebench/bench/services/runner/simengine/simenginetest"
	"github.com/inferencebench/bench/services/signer"
)

// TestSignerRoleKeyless runs the pipeline (internal/pipeline: embedded NATS
// and object store, all on loopback) with the signer role in keyless mode
// against the real stack. A runner measures a simulated engine and publishes
// unsigned envelopes; the signer role signs each with the identity token of
// a GitHub Actions workflow, read from a file for every envelope, the
// services of the stack's signing_config.json, and a check of every bundle
// against its trusted_root.json before publication. The verifier role
// accepts the envelopes under a policy file that names the workflow's issuer
// and identity; the indexer catalogs the signer.
//
// Then, with every server stopped and no route out of the namespace, the
// signed envelopes verify offline with the project's verifier and the
// policy file alone, are rejected for another identity, another issuer or a
// changed body, and cosign verify-blob accepts the bundle in each envelope's
// signature block for the content hash it signs.
func TestSignerRoleKeyless(t *testing.T) {
	sigstorestack.Run(t, func(t *testing.T, s *sigstorestack.Stack) {
		assertNoRouteOut(t)
		const runs = 3
		wf := sigstorestack.GitHubWorkflow{Repository: "inferencebench/bench", Ref: "refs/heads/main",
			WorkflowPath: ".github/workflows/bench.yml", SHA: strings.Repeat("cd", 20)}
		identity := wf.Identity()

		dir := t.TempDir()
		tokenFile := filepath.Join(dir, "oidc-token")
		if err := os.WriteFile(tokenFile, []byte(s.GitHubToken(wf)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ks, err := signer.NewKeyless(signer.KeylessConfig{
			IdentityTokenFile: tokenFile,
			SigningConfigPath: s.SigningConfigPath,
			TrustedRootPath:   s.TrustedRootPath,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("signer: %s", ks)

		// The verifier's policy as an operator writes it: the workflow's
		// identity and issuer, the pinned trusted root; no SCT (the local
		// Fulcio has no CT log), and an RFC 3161 timestamp demanded (Rekor
		// v2 records no integrated time).
		policyPath := filepath.Join(dir, "policy.json")
		writePolicy(t, policyPath, s.GitHubIssuerURL, identity, s.TrustedRootPath)
		policy, err := verify.LoadPolicy(policyPath)
		if err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		p, err := pipeline.Start(ctx, pipeline.Options{
			DataDir: t.TempDir(),
			Signer:  ks,
			Policy:  policy,
			Log:     zerolog.Nop(),
			Tuning: bus.Tuning{MaxDeliver: 3, AckWait: 30 * time.Second, RetryFor: 20 * time.Second,
				Backoff: []time.Duration{100 * time.Millisecond, 500 * time.Millisecond}},
		})
		if err != nil {
			t.Fatal(err)
		}
		closed := false
		closePipeline := func() {
			if closed {
				return
			}
			closed = true
			if err := p.Close(); err != nil {
				t.Errorf("closing the pipeline: %v", err)
			}
		}
		defer closePipeline()
		results := bustest.Collect(t, p.JetStream(), bus.StreamResults)
		rejected := bustest.Collect(t, p.JetStream(), bus.StreamRejected)

		// A runner measures a simulated engine on loopback and publishes
		// unsigned envelopes (with their traces in the object store), as
		// in production.
		engine := startSim(t)
		start := time.Now()
		rcfg := runner.Config{
			Endpoint: engine, Stream: true, OutDir: t.TempDir(), Seed: 11, Repeat: runs,
			Points:      []load.Spec{{Concurrency: 1, Requests: 2}},
			Dataset:     runner.DatasetConfig{Output: dataset.Lengths{Mean: 4}},
			SLOTemplate: "llm.relaxed",
		}
		rcfg.PublishTo(p.JetStream(), p.Store(), nil)
		measured, err := runner.Run(ctx, rcfg)
		if err != nil {
			t.Fatal(err)
		}
		hashes := map[string]bool{}
		for _, r := range measured {
			hashes[r.ContentHash] = true
		}
		if len(hashes) != runs {
			t.Fatalf("the runner published %d distinct envelopes, want %d", len(hashes), runs)
		}
		for results.Len() < runs {
			if rejected.Len() > 0 {
				m := rejected.All()[0]
				t.Fatalf("dead letter at %s: %s", m.Headers().Get(bus.HdrStage), m.Headers().Get(bus.HdrReason))
			}
			if ctx.Err() != nil {
				t.Fatalf("%d of %d results after %s", results.Len(), runs, time.Since(start).Round(time.Second))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%d envelopes signed by the signer role, verified and indexed in %s", runs, time.Since(start).Round(time.Millisecond))

		var signed []*envelope.Envelope
		for _, m := range results.All() {
			env, err := envelope.Parse(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			hash := env.ContentHash()
			if !hashes[hash] || env.Signature == nil || env.Signature.Method != envelope.MethodKeyless {
				t.Fatalf("result %s: unexpected envelope or method %+v", hash, env.Signature)
			}
			e, err := p.Catalog().Get(ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			if e.SignerIdentity != identity || e.SignerIssuer != s.GitHubIssuerURL {
				t.Errorf("catalog %s: signer %q issuer %q", hash, e.SignerIdentity, e.SignerIssuer)
			}
			signed = append(signed, env)
		}
		closePipeline()

		// From here on: no server, no route out, only the trust files.
		s.StopServers()
		assertNoRouteOut(t)
		offline, err := verify.LoadPolicy(policyPath)
		if err != nil {
			t.Fatal(err)
		}
		indexes := map[int64]bool{}
		for _, env := range signed {
			res, err := offline.Verify(env)
			if err != nil {
				t.Fatalf("offline verification of %s: %v", env.ContentHash(), err)
			}
			if res.SignerIdentity != identity || res.SignerIssuer != s.GitHubIssuerURL || res.ContentHash != env.ContentHash() {
				t.Errorf("result %+v", res)
			}
			if res.RekorLogIndex < 0 || indexes[res.RekorLogIndex] {
				t.Errorf("rekor log index %d (seen: %v)", res.RekorLogIndex, indexes)
			}
			indexes[res.RekorLogIndex] = true
			var rfc3161 int
			for _, ts := range res.Timestamps {
				if ts.Kind == "rfc3161" {
					rfc3161++
				}
			}
			if rfc3161 == 0 {
				t.Errorf("no RFC 3161 timestamp among %+v", res.Timestamps)
			}
			t.Logf("offline OK %s: identity %s, issuer %s, log index %d, trusted by %s",
				res.ContentHash[:12], res.SignerIdentity, res.SignerIssuer, res.RekorLogIndex, res.TrustedBy)
		}

		env := signed[0]
		other := wf
		other.WorkflowPath = ".github/workflows/other.yml"
		rejects := []struct {
			name    string
			policy  func() *verify.Policy
			env     *envelope.Envelope
			because string
		}{
			{"another identity", func() *verify.Policy {
				return policyFor(t, dir, "other-identity.json", s.GitHubIssuerURL, other.Identity(), s.TrustedRootPath)
			}, env, other.Identity()},
			{"another issuer", func() *verify.Policy {
				return policyFor(t, dir, "other-issuer.json", s.IssuerURL, identity, s.TrustedRootPath)
			}, env, s.IssuerURL},
			{"a changed body", func() *verify.Policy { return offline }, tampered(t, env), ""},
		}
		for _, r := range rejects {
			res, err := r.policy().Verify(r.env)
			if err == nil {
				t.Errorf("%s: accepted (%+v)", r.name, res)
				continue
			}
			if r.because != "" && !strings.Contains(err.Error(), r.because) {
				t.Errorf("%s: rejected, but the reason does not name %q: %v", r.name, r.because, err)
			}
			t.Logf("rejected, %s: %v", r.name, err)
		}

		// cosign v3.1.3 accepts the bundle of each envelope's signature
		// block for the artifact it signs: the 64-character content hash.
		for i, env := range signed {
			bundleJSON, err := base64.StdEncoding.DecodeString(env.Signature.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			bundlePath := filepath.Join(dir, fmt.Sprintf("envelope-%d.sigstore.json", i))
			artifact := filepath.Join(dir, fmt.Sprintf("envelope-%d.content-hash", i))
			if err := os.WriteFile(bundlePath, bundleJSON, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(artifact, []byte(env.ContentHash()), 0o644); err != nil {
				t.Fatal(err)
			}
			cosignVerifyFile(t, s, bundlePath, artifact, identity, s.GitHubIssuerURL, true)
		}
	})
}

func writePolicy(t *testing.T, path, issuer, identity, trustedRoot string) {
	t.Helper()
	pf := map[string]any{
		"keyless":                  []map[string]string{{"issuer": issuer, "identity": identity}},
		"trusted_root":             trustedRoot,
		"require_sct":              false,
		"require_signed_timestamp": true,
	}
	b, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func policyFor(t *testing.T, dir, name, issuer, identity, trustedRoot string) *verify.Policy {
	t.Helper()
	path := filepath.Join(dir, name)
	writePolicy(t, path, issuer, identity, trustedRoot)
	p, err := verify.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tampered is a copy of env whose body differs, with env's signature.
func tampered(t *testing.T, env *envelope.Envelope) *envelope.Envelope {
	t.Helper()
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	c.Seed = new(big.Int).Add(c.Seed, big.NewInt(1))
	if c.ContentHash() == env.ContentHash() {
		t.Fatal("changing the seed did not change the content hash")
	}
	return c
}

// startSim serves a fast simulated engine on loopback for the test.
func startSim(t *testing.T) string {
	return simenginetest.Start(t, simengine.Options{TTFT: time.Millisecond, TPOT: 100 * time.Microsecond})
}

package verifier_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/pkg/envelope/keyless/keylesstest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/verifier"
)

const (
	ghIssuer = "https://token.actions.githubusercontent.com"
	workflow = "https://github.com/inferencebench/bench/.github/workflows/bench.yml@refs/heads/main"
	// evil is another owner's workflow on a branch named after the trusted
	// repository: an unanchored pattern would match it.
	evil = "https://github.com/evil/fork/.github/workflows/x.yml@refs/heads/github.com/inferencebench/bench/x"
)

func unsigned(t *testing.T) *envelope.Envelope {
	t.Helper()
	env, err := envelope.ReadFile(filepath.Join(envelopetest.Dir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	return env
}

func message(t *testing.T, env *envelope.Envelope) *bus.Message {
	t.Helper()
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return &bus.Message{Subject: "bench.envelopes.signed.x", Data: data, Deliveries: 1}
}

// TestKeylessEnvelopesUnderThePolicy: the verifier role checks keyless
// envelopes against the policy file's pinned trusted_root.json and keyless
// identities, offline, and dead-letters every failure with the check that
// failed. (Traces are checked after the signature; an envelope that passes
// the signature here stops at its missing traces.)
func TestKeylessEnvelopesUnderThePolicy(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{
		"keyless": []map[string]string{{"issuer": ghIssuer,
			"identity_pattern": `https://github\.com/inferencebench/bench/\.github/workflows/[^@]+@refs/heads/main`}},
		"trusted_root": "trusted_root.json",
		"require_sct":  false, // VirtualSigstore's Fulcio has no CT log
	})
	policyPath := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	policy, err := verify.LoadPolicy(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	v := verifier.New(nil, policy)

	sign := func(identity, issuer string, o keylesstest.SignOptions) *envelope.Envelope {
		env := unsigned(t)
		vs.Sign(t, env, identity, issuer, o)
		return env
	}
	tampered := sign(workflow, ghIssuer, keylesstest.SignOptions{})
	tampered.Model.ID += "-better"
	cases := []struct {
		name string
		env  *envelope.Envelope
		want string // in the dead-letter reason
	}{
		{"trusted", sign(workflow, ghIssuer, keylesstest.SignOptions{}), "no traces"},
		{"wrong issuer", sign(workflow, "https://gitlab.com", keylesstest.SignOptions{}), "signer issuer does not match the policy"},
		{"wrong identity", sign(evil, ghIssuer, keylesstest.SignOptions{}), "signer identity does not match the policy"},
		{"tampered", tampered, "signature does not match envelope content_hash"},
		{"no transparency-log entry", sign(workflow, ghIssuer, keylesstest.SignOptions{NoTlogEntry: true}), "transparency log check failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Handle(context.Background(), message(t, c.env))
			if err == nil || !bus.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a dead letter saying %q, got %v", c.want, err)
			}
			if c.name != "trusted" && !strings.Contains(err.Error(), "signature (sigstore-cosign)") {
				t.Fatalf("reason %q does not name the method", err)
			}
		})
	}
}

package signer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
	"github.com/inferencebench/bench/pkg/envelope/keyless/keylesstest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/signer"
)

const (
	ghIssuer = "https://token.actions.githubusercontent.com"
	workflow = "https://github.com/inferencebench/bench/.github/workflows/bench.yml@refs/heads/main"
	nightly  = "https://github.com/inferencebench/bench/.github/workflows/nightly.yml@refs/heads/main"
)

// unsignedMessage is the reference baseline without its signature, with a
// distinct seed, as a runner would publish it.
func unsignedMessage(t *testing.T, seed int64) *bus.Message {
	t.Helper()
	env, err := envelope.ReadFile(filepath.Join(envelopetest.Dir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	env.Seed = big.NewInt(seed)
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return &bus.Message{Subject: "bench.envelopes.unsigned.x", Data: data, Deliveries: 1}
}

// signOne runs the handler on one message and returns the signed envelope.
func signOne(t *testing.T, h bus.Handler, m *bus.Message) *envelope.Envelope {
	t.Helper()
	out, err := h(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("%d outputs", len(out))
	}
	env, err := envelope.Parse(out[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	hash := env.ContentHash()
	if out[0].MsgID != bus.MsgID(bus.StageSigner, hash) || !strings.HasSuffix(out[0].Subject, hash) {
		t.Fatalf("output %s id %s for content hash %s", out[0].Subject, out[0].MsgID, hash)
	}
	return env
}

// TestKeylessSignerRole: the signer role in keyless mode, against an
// in-process Fulcio, Rekor and timestamp authority chosen by a
// signing_config.json, with the identity token read from a file for every
// envelope. What it publishes verifies offline under a policy that pins the
// stack's trusted_root.json and the workflow's identity.
func TestKeylessSignerRole(t *testing.T) {
	stack := keylesstest.NewStack(t)
	dir := t.TempDir()
	trustedRoot, signingConfig := stack.WriteFiles(t, dir)
	tokenFile := filepath.Join(dir, "token")
	writeToken := func(identity string) {
		t.Helper()
		if err := os.WriteFile(tokenFile, []byte(stack.Token(ghIssuer, identity, 0)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeToken(workflow)
	ks, err := signer.NewKeyless(signer.KeylessConfig{
		IdentityTokenFile: tokenFile,
		SigningConfigPath: signingConfig,
		TrustedRootPath:   trustedRoot, // each bundle is checked before it is published
	})
	if err != nil {
		t.Fatal(err)
	}
	h := signer.Handler(ks)

	policy := &verify.Policy{SkipSCT: true} // the stack's Fulcio has no CT log
	if err := policy.SetTrustedRoot(trustedRoot); err != nil {
		t.Fatal(err)
	}
	if err := policy.AddIdentity(ghIssuer, workflow, ""); err != nil {
		t.Fatal(err)
	}

	env := signOne(t, h, unsignedMessage(t, 1))
	if env.Signature.Method != envelope.MethodKeyless || env.Signature.RekorLogIndex < 0 {
		t.Fatalf("signature %+v", env.Signature)
	}
	res, err := policy.Verify(env)
	if err != nil {
		t.Fatal(err)
	}
	if res.SignerIdentity != workflow || res.SignerIssuer != ghIssuer || res.RekorLogIndex != env.Signature.RekorLogIndex || len(res.Timestamps) == 0 {
		t.Fatalf("result %+v", res)
	}

	// The token file is re-read for every envelope: a rotated token signs
	// the next one, as the identity it names.
	writeToken(nightly)
	env2 := signOne(t, h, unsignedMessage(t, 2))
	if _, err := policy.Verify(env2); !errors.Is(err, verify.ErrIdentityMismatch) || !strings.Contains(err.Error(), nightly) {
		t.Fatalf("the nightly workflow's envelope under a policy for %s: %v", workflow, err)
	}
	if n := stack.Requests["fulcio"].Load(); n != 2 {
		t.Fatalf("%d Fulcio certificates for two envelopes", n)
	}

	// No token: a transient failure (retried, then dead-lettered by the
	// bus), and the error never carries a token.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	_, err = h(context.Background(), unsignedMessage(t, 3))
	if err == nil || bus.IsPermanent(err) || !strings.Contains(err.Error(), "OIDC token file") {
		t.Fatalf("signing without a token: %v", err)
	}

	// An already-signed envelope is refused for good.
	data, _ := env.MarshalJSON()
	if _, err := h(context.Background(), &bus.Message{Data: data}); !bus.IsPermanent(err) || !strings.Contains(err.Error(), "already signed (sigstore-cosign)") {
		t.Fatalf("re-signing: %v", err)
	}
}

// TestKeylessSignerConfigErrors: a keyless signer that cannot work fails at
// start-up with a reason, not at the first envelope.
func TestKeylessSignerConfigErrors(t *testing.T) {
	stack := keylesstest.NewStack(t)
	dir := t.TempDir()
	trustedRoot, _ := stack.WriteFiles(t, dir)
	junk := filepath.Join(dir, "junk.json")
	if err := os.WriteFile(junk, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  signer.KeylessConfig
		want string
	}{
		{signer.KeylessConfig{SigningConfigPath: filepath.Join(dir, "missing.json")}, "signing config"},
		{signer.KeylessConfig{SigningConfigPath: junk}, "signing config"},
		{signer.KeylessConfig{FulcioURL: stack.FulcioURL}, "give both the Fulcio and the Rekor URL"},
		{signer.KeylessConfig{FulcioURL: stack.FulcioURL, RekorURL: stack.RekorURL, RekorVersion: 2}, "a timestamp authority is required"},
		{signer.KeylessConfig{FulcioURL: stack.FulcioURL, RekorURL: stack.RekorURL, TrustedRootPath: junk}, "not a Sigstore trusted_root.json"},
	}
	for _, c := range cases {
		if _, err := signer.NewKeyless(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewKeyless(%+v) = %v, want an error saying %q", c.cfg, err, c.want)
		}
	}
	if _, err := signer.NewKeyless(signer.KeylessConfig{FulcioURL: stack.FulcioURL, RekorURL: stack.RekorURL, TSAURL: stack.TSAURL, TrustedRootPath: trustedRoot}); err != nil {
		t.Fatal(err)
	}

	// TrustedRootPath is what each new bundle is checked against: under
	// another stack's root, nothing is published.
	otherRoot, _ := keylesstest.NewStack(t).WriteFiles(t, t.TempDir())
	ks, err := signer.NewKeyless(signer.KeylessConfig{
		Tokens:    keyless.TokenFunc(func(context.Context) (string, error) { return stack.Token(ghIssuer, workflow, 0), nil }),
		FulcioURL: stack.FulcioURL, RekorURL: stack.RekorURL, TSAURL: stack.TSAURL, TrustedRootPath: otherRoot,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := signer.Handler(ks)(context.Background(), unsignedMessage(t, 1)); err == nil || len(out) != 0 {
		t.Fatalf("signing under another stack's trusted root: %d outputs, %v", len(out), err)
	}
}

// TestDevKeySignerRole: the dev-key mode behind the same interface.
func TestDevKeySignerRole(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	env := signOne(t, signer.Handler(signer.DevKey(priv)), unsignedMessage(t, 1))
	p := &verify.Policy{}
	p.AddDevKey("test", pub)
	if _, err := p.Verify(env); err != nil || env.Signature.Method != envelope.MethodDevKey {
		t.Fatalf("%+v %v", env.Signature, err)
	}
}

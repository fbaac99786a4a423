package verify_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

// fixturePolicy pins the key that signed fx: its published .pub file when
// there is one, else the key recorded in envelopetest.UnpublishedKeys.
func fixturePolicy(t *testing.T, fx envelopetest.Fixture) *verify.Policy {
	t.Helper()
	var p verify.Policy
	if fx.Anchor != "" {
		pub, err := devkey.LoadPublicKey(filepath.Join(envelopetest.Dir(t), fx.Anchor))
		if err != nil {
			t.Fatal(err)
		}
		p.AddDevKey(fx.Anchor, pub)
		return &p
	}
	pemText, ok := envelopetest.UnpublishedKeys[fx.KeyID]
	if !ok {
		t.Fatalf("%s: no pinned key for key id %s", fx.Rel, fx.KeyID)
	}
	pub, err := devkey.ParsePublicKey([]byte(pemText))
	if err != nil {
		t.Fatal(err)
	}
	p.AddDevKey("pinned-in-test:"+fx.KeyID, pub)
	return &p
}

func TestAllReferenceFixturesVerify(t *testing.T) {
	published, pinnedInTest := 0, 0
	for _, fx := range envelopetest.All(t) {
		env, err := envelope.ReadFile(fx.Path)
		if err != nil {
			t.Fatalf("%s: %v", fx.Rel, err)
		}
		res, err := fixturePolicy(t, fx).Verify(env)
		if err != nil {
			t.Errorf("%s: %v", fx.Rel, err)
			continue
		}
		if res.ContentHash != fx.ContentHash || res.KeyID != fx.KeyID || res.Insecure {
			t.Errorf("%s: result %+v, want hash %s key %s", fx.Rel, res, fx.ContentHash, fx.KeyID)
		}
		if fx.Anchor != "" {
			published++
		} else {
			pinnedInTest++
		}
	}
	if published != 51 || pinnedInTest != 12 {
		t.Fatalf("verified %d against published keys and %d with keys pinned in the test, want 51 and 12", published, pinnedInTest)
	}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// unsignedBaseline returns the baseline fixture with its signature removed.
func unsignedBaseline(t *testing.T) *envelope.Envelope {
	t.Helper()
	env, err := envelope.ReadFile(filepath.Join(envelopetest.Dir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	return env
}

func TestSignThenVerify(t *testing.T) {
	key := newKey(t)
	env := unsignedBaseline(t)
	hash, err := devkey.Sign(env, key)
	if err != nil {
		t.Fatal(err)
	}
	if hash != env.ContentHash() || env.Signature.RekorLogIndex != -1 || strings.HasSuffix(env.Signature.Certificate, "\n") {
		t.Fatalf("signature block %+v", env.Signature)
	}
	if _, err := devkey.Sign(env, key); !errors.Is(err, devkey.ErrAlreadySigned) {
		t.Fatalf("re-signing: %v", err)
	}
	// Through the file format and back.
	again, err := envelope.Parse(env.MarshalIndent())
	if err != nil {
		t.Fatal(err)
	}
	var p verify.Policy
	p.AddDevKey("test", key.Public().(ed25519.PublicKey))
	res, err := p.Verify(again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != envelope.MethodDevKey || res.ContentHash != hash || !strings.Contains(res.TrustedBy, "pinned dev key test") {
		t.Fatalf("result %+v", res)
	}
}

func TestVerifyFailures(t *testing.T) {
	signer, other := newKey(t), newKey(t)
	signed := unsignedBaseline(t)
	if _, err := devkey.Sign(signed, signer); err != nil {
		t.Fatal(err)
	}
	pinSigner := &verify.Policy{}
	pinSigner.AddDevKey("signer", signer.Public().(ed25519.PublicKey))
	pinOther := &verify.Policy{}
	pinOther.AddDevKey("other", other.Public().(ed25519.PublicKey))

	tampered := *signed
	tampered.SuiteID += "-tampered"

	wrongSig := *signed
	sig := *signed.Signature
	otherSigned := unsignedBaseline(t)
	if _, err := devkey.Sign(otherSigned, other); err != nil {
		t.Fatal(err)
	}
	sig.Bundle = otherSigned.Signature.Bundle // other key's signature, signer's embedded key
	wrongSig.Signature = &sig

	badBase64 := *signed
	sig2 := *signed.Signature
	sig2.Bundle = sig2.Bundle[:40] + "\n" + sig2.Bundle[40:]
	badBase64.Signature = &sig2

	keyless := *signed
	keyless.Signature = &envelope.Signature{Method: envelope.MethodKeyless, Certificate: "x", Bundle: "e30="}

	unknownMethod := *signed
	unknownMethod.Signature = &envelope.Signature{Method: "x509-pgp", Certificate: "x", Bundle: "e30="}

	identityPolicy := &verify.Policy{RequireIssuer: "https://token.actions.githubusercontent.com"}
	keylessOnly := &verify.Policy{}
	if err := keylessOnly.AddIdentity("https://issuer.example", "ci@example.com", ""); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		policy *verify.Policy
		env    *envelope.Envelope
		want   error
		reason string
	}{
		{"unsigned", pinSigner, unsignedBaseline(t), verify.ErrUnsigned, "no signature"},
		{"no trust material", &verify.Policy{}, signed, verify.ErrNoTrustMaterial, "--dev-public-key"},
		{"tampered body", pinSigner, &tampered, devkey.ErrBadSignature, "tampered or wrong key"},
		{"signature from another key", pinSigner, &wrongSig, devkey.ErrBadSignature, "tampered or wrong key"},
		{"key not pinned", pinOther, signed, verify.ErrKeyNotPinned, "is not among the 1 pinned key"},
		{"whitespace in base64", pinSigner, &badBase64, devkey.ErrMalformed, "white space"},
		{"dev-key under an issuer requirement", identityPolicy, signed, verify.ErrIdentityRequired, "carries no identity"},
		{"dev-key under a keyless-only policy", keylessOnly, signed, verify.ErrIdentityRequired, "trusts only keyless signers"},
		{"keyless under a dev-key-only policy", pinSigner, &keyless, verify.ErrNoKeylessIdentity, "pins only dev keys"},
		{"unknown method", pinSigner, &unknownMethod, verify.ErrUnsupported, `"x509-pgp"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.policy.Verify(c.env)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("error %q does not say %q", err, c.reason)
			}
			if res == nil || res.Method == "" {
				t.Fatal("no method reported on failure")
			}
		})
	}
}

func TestInsecureTrustEmbeddedKeyChecksIntegrityOnly(t *testing.T) {
	env := unsignedBaseline(t)
	if _, err := devkey.Sign(env, newKey(t)); err != nil {
		t.Fatal(err)
	}
	p := &verify.Policy{InsecureTrustEmbeddedKey: true}
	res, err := p.Verify(env)
	if err != nil || !res.Insecure || !strings.Contains(res.TrustedBy, "NOT authenticated") {
		t.Fatalf("res %+v err %v", res, err)
	}
	env.SuiteID = "changed"
	if _, err := p.Verify(env); !errors.Is(err, devkey.ErrBadSignature) {
		t.Fatalf("tampered envelope under insecure policy: %v", err)
	}
	// A requirement on identity still applies.
	p.RequireIdentityPattern = regexp.MustCompile(`example`)
	if _, err := p.Verify(env); !errors.Is(err, verify.ErrIdentityRequired) {
		t.Fatalf("identity requirement ignored: %v", err)
	}
}

// TestDowngradeAttackIsRejected: an attacker takes a published envelope,
// strips its keyless signature and re-signs it with a dev key of their own.
// The reference accepts it (it trusts the embedded key); a policy that names
// the real signer must not.
func TestDowngradeAttackIsRejected(t *testing.T) {
	env := unsignedBaseline(t)
	env.Signature = &envelope.Signature{
		Method:        envelope.MethodKeyless,
		Certificate:   "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----",
		RekorLogIndex: 1575899993,
		Bundle:        "eyJtZWRpYVR5cGUiOiAiYXBwbGljYXRpb24vdm5kLmRldi5zaWdzdG9yZS5idW5kbGUudjAuMytqc29uIn0=",
	}
	// The attack.
	env.Signature = nil
	if _, err := devkey.Sign(env, newKey(t)); err != nil {
		t.Fatal(err)
	}

	const issuer = "https://token.actions.githubusercontent.com"
	const identity = "https://github.com/yobitelcomm/bench/.github/workflows/keyless-sign-demo.yml@refs/heads/main"
	policies := map[string]*verify.Policy{}
	var fromFile verify.Policy
	if err := fromFile.AddIdentity(issuer, identity, ""); err != nil {
		t.Fatal(err)
	}
	policies["policy file naming the keyless signer"] = &fromFile
	policies["--require-issuer and --require-identity-pattern"] = &verify.Policy{
		RequireIssuer:          issuer,
		RequireIdentityPattern: regexp.MustCompile(`github\.com/yobitelcomm/bench/`),
	}
	// Even a policy that also pins some other dev key must not let it through.
	mixed := fromFile
	mixed.AddDevKey("unrelated", newKey(t).Public().(ed25519.PublicKey))
	policies["identity plus an unrelated pinned key"] = &mixed

	for name, p := range policies {
		_, err := p.Verify(env)
		if !errors.Is(err, verify.ErrIdentityRequired) && !errors.Is(err, verify.ErrKeyNotPinned) {
			t.Errorf("%s: the re-signed envelope was not rejected: %v", name, err)
		}
	}
	// And the reference's behaviour, for contrast: integrity alone passes.
	if _, err := (&verify.Policy{InsecureTrustEmbeddedKey: true}).Verify(env); err != nil {
		t.Fatalf("integrity check: %v", err)
	}
}

func TestUnanchoredPatternWarning(t *testing.T) {
	if w := verify.UnanchoredPatternWarning(`github\.com/yobitelcomm/bench/`); !strings.Contains(w, "not anchored") {
		t.Fatalf("no warning for an unanchored pattern: %q", w)
	}
	if w := verify.UnanchoredPatternWarning(`^https://github\.com/org/repo/\.github/workflows/x\.yml@refs/heads/main$`); w != "" {
		t.Fatalf("warning for an anchored pattern: %q", w)
	}
	// The published example still passes with search semantics...
	re := regexp.MustCompile(`github\.com/yobitelcomm/bench/`)
	if !re.MatchString("https://github.com/yobitelcomm/bench/.github/workflows/keyless-sign-demo.yml@refs/heads/main") {
		t.Fatal("published example does not match")
	}
	// ...and so does the attack the warning is about.
	if !re.MatchString("https://github.com/mallory/fork/.github/workflows/x.yml@refs/heads/github.com/yobitelcomm/bench/x") {
		t.Fatal("branch-name abuse does not match an unanchored pattern")
	}
}

func TestPolicyFile(t *testing.T) {
	dir := envelopetest.Dir(t)
	policyDir := t.TempDir()
	rel, err := filepath.Rel(policyDir, filepath.Join(dir, "trust/cosign-2026-05-18-marathon.pub"))
	if err != nil {
		t.Fatal(err)
	}
	baselinePub, _ := os.ReadFile(filepath.Join(dir, "dot-bench/cosign.pub"))
	doc, _ := json.Marshal(map[string]any{
		"dev_keys": []map[string]string{
			{"name": "marathon", "public_key_file": rel},
			{"name": "baseline", "public_key": string(baselinePub)},
		},
		"keyless": []map[string]string{
			{"issuer": "https://token.actions.githubusercontent.com", "identity_pattern": `https://github\.com/org/repo/.+@refs/heads/main`},
		},
	})
	path := filepath.Join(policyDir, "policy.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := verify.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, fx := range envelopetest.All(t) {
		env, _ := envelope.ReadFile(fx.Path)
		_, err := p.Verify(env)
		if fx.Anchor != "" && err != nil {
			t.Errorf("%s: %v", fx.Rel, err)
		}
		if fx.Anchor == "" && !errors.Is(err, verify.ErrKeyNotPinned) {
			t.Errorf("%s: want ErrKeyNotPinned, got %v", fx.Rel, err)
		}
	}

	bad := map[string]string{
		`{"dev_keys":[{"name":"x","public_key_fil":"a.pub"}]}`:                       "unknown field",
		`{"dev_keys":[{"name":"x"}]}`:                                                "exactly one of public_key_file and public_key",
		`{"dev_keys":[{"public_key_file":"missing.pub"}]}`:                           "does not exist",
		`{"keyless":[{"issuer":"https://i","identity":"a","identity_pattern":"b"}]}`: "exactly one of identity and identity_pattern",
		`{"keyless":[{"identity":"a"}]}`:                                             "issuer must not be empty",
		`{"keyless":[{"issuer":"https://i","identity_pattern":"("}]}`:                "identity_pattern",
		`{}`: "trusts no one",
	}
	for doc, want := range bad {
		if _, err := verify.ParsePolicy([]byte(doc), policyDir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePolicy(%s) = %v, want an error mentioning %q", doc, err, want)
		}
	}
}

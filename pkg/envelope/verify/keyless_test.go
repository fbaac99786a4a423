package verify_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
	"github.com/inferencebench/bench/pkg/envelope/keyless/keylesstest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

const (
	ghIssuer   = "https://token.actions.githubusercontent.com"
	ghIdentity = "https://github.com/yobitelcomm/bench/.github/workflows/keyless-sign-demo.yml@refs/heads/main"
	// evilIdentity is another owner's workflow on a branch whose name
	// contains the reference's published, unanchored pattern.
	evilIdentity = "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/github.com/yobitelcomm/bench/x"
	// publishedPattern is the reference's example --require-identity-pattern.
	publishedPattern = `github\.com/yobitelcomm/bench/`
)

// keylessPolicy trusts identity (exactly) from issuer, checked against the
// virtual Sigstore, whose certificates carry no SCT.
func keylessPolicy(t *testing.T, vs *keylesstest.Virtual, issuer, identity, pattern string) *verify.Policy {
	t.Helper()
	p := &verify.Policy{TrustedMaterial: vs, SkipSCT: true}
	if err := p.AddIdentity(issuer, identity, pattern); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeylessSignThenVerify(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	env := unsignedBaseline(t)
	hash := vs.Sign(t, env, ghIdentity, ghIssuer, keylesstest.SignOptions{LogIndex: 1575899993})
	sig := env.Signature
	if sig.Method != envelope.MethodKeyless || sig.RekorLogIndex != 1575899993 ||
		!strings.HasPrefix(sig.Certificate, "-----BEGIN CERTIFICATE-----\n") || strings.HasSuffix(sig.Certificate, "\n") {
		t.Fatalf("signature block %+v", sig)
	}
	// The bundle is standard base64 of a v0.3 bundle's JSON.
	data, err := base64.StdEncoding.DecodeString(sig.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		MediaType        string `json:"mediaType"`
		MessageSignature *struct {
			MessageDigest struct{ Algorithm, Digest string }
		} `json:"messageSignature"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.MediaType != keyless.BundleMediaType || doc.MessageSignature == nil ||
		doc.MessageSignature.MessageDigest.Algorithm != "SHA2_256" ||
		doc.MessageSignature.MessageDigest.Digest != base64.StdEncoding.EncodeToString(keyless.ArtifactDigest(hash)) {
		t.Fatalf("bundle JSON %s (%v)", data, err)
	}

	// Through the file format and back.
	again, err := envelope.Parse(env.MarshalIndent())
	if err != nil {
		t.Fatal(err)
	}
	res, err := keylessPolicy(t, vs, ghIssuer, ghIdentity, "").Verify(again)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != envelope.MethodKeyless || res.ContentHash != hash || res.SignerIdentity != ghIdentity || res.SignerIssuer != ghIssuer ||
		res.RekorLogIndex != 1575899993 || res.IntegratedTime.IsZero() || !strings.Contains(res.TrustedBy, ghIdentity) {
		t.Fatalf("result %+v", res)
	}
	kinds := map[string]bool{}
	for _, ts := range res.Timestamps {
		kinds[ts.Kind] = true
	}
	if !kinds["tlog"] || !kinds["rfc3161"] {
		t.Fatalf("timestamps %+v: want the log's integrated time and an RFC 3161 timestamp", res.Timestamps)
	}

	// The same through a policy file and a pinned trusted_root.json.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	doc2, _ := json.Marshal(map[string]any{
		"keyless":      []map[string]string{{"issuer": ghIssuer, "identity_pattern": `https://github\.com/yobitelcomm/bench/\.github/workflows/[^@]+@refs/heads/main`}},
		"trusted_root": "trusted_root.json",
		"require_sct":  false,
	})
	policyPath := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyPath, doc2, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := verify.LoadPolicy(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Verify(again); err != nil || res.SignerIdentity != ghIdentity {
		t.Fatalf("policy file: %+v %v", res, err)
	}

	// The same with the path set by hand, as a library user writes a
	// Policy literal: the file is read when a keyless envelope is checked.
	byHand := &verify.Policy{Identities: p.Identities, TrustedRoot: filepath.Join(dir, "trusted_root.json"), SkipSCT: true}
	if err := byHand.CheckKeylessReady(); err != nil {
		t.Fatalf("policy literal with TrustedRoot: %v", err)
	}
	if res, err := byHand.Verify(again); err != nil || res.SignerIdentity != ghIdentity {
		t.Fatalf("policy literal with TrustedRoot: %+v %v", res, err)
	}
}

// TestKeylessSCTIsRequiredByDefault: certificates from a Fulcio without a CT
// log (like the virtual one) are refused unless the policy says SCTs are not
// required.
func TestKeylessSCTIsRequiredByDefault(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	env := unsignedBaseline(t)
	vs.Sign(t, env, ghIdentity, ghIssuer, keylesstest.SignOptions{})
	// A policy file that says nothing about SCTs requires them.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{
		"keyless":      []map[string]string{{"issuer": ghIssuer, "identity": ghIdentity}},
		"trusted_root": "trusted_root.json",
	})
	p, err := verify.ParsePolicy(doc, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Verify(env)
	if !errors.Is(err, verify.ErrSCT) || !strings.Contains(err.Error(), "signed certificate timestamp") {
		t.Fatalf("want ErrSCT, got %v", err)
	}
}

func TestKeylessRejections(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	signed := func(identity, issuer string, o keylesstest.SignOptions) *envelope.Envelope {
		env := unsignedBaseline(t)
		vs.Sign(t, env, identity, issuer, o)
		return env
	}
	good := signed(ghIdentity, ghIssuer, keylesstest.SignOptions{})
	trustGH := keylessPolicy(t, vs, ghIssuer, ghIdentity, "")

	tampered := signed(ghIdentity, ghIssuer, keylesstest.SignOptions{})
	tampered.SuiteID += "-tampered"

	// A genuine signature of another envelope, attached to this one.
	other := unsignedBaseline(t)
	other.Seed = new(big.Int).Add(other.Seed, big.NewInt(1))
	vs.Sign(t, other, ghIdentity, ghIssuer, keylesstest.SignOptions{})
	swapped := unsignedBaseline(t)
	swapped.Signature = other.Signature

	// Another Sigstore's signature: its log and CA are not in the trusted root.
	foreign := unsignedBaseline(t)
	keylesstest.NewVirtual(t).Sign(t, foreign, ghIdentity, ghIssuer, keylesstest.SignOptions{})

	noTimestamp := signed(ghIdentity, ghIssuer, keylesstest.SignOptions{NoTimestamp: true})
	needTSA := keylessPolicy(t, vs, ghIssuer, ghIdentity, "")
	needTSA.RequireSignedTimestamp = true

	devOnly := &verify.Policy{TrustedMaterial: vs, SkipSCT: true}
	devOnly.AddDevKey("some key", newKey(t).Public().(ed25519.PublicKey))

	noRoot := keylessPolicy(t, vs, ghIssuer, ghIdentity, "")
	noRoot.TrustedMaterial = nil

	cases := []struct {
		name   string
		policy *verify.Policy
		env    *envelope.Envelope
		want   error
		reason string
	}{
		{"wrong issuer", keylessPolicy(t, vs, "https://accounts.google.com", ghIdentity, ""), good,
			verify.ErrIssuerMismatch, `signer issuer "` + ghIssuer + `" is not a trusted issuer (the policy trusts https://accounts.google.com)`},
		{"wrong identity", keylessPolicy(t, vs, ghIssuer, "https://github.com/yobitelcomm/bench/.github/workflows/release.yml@refs/tags/v1", ""), good,
			verify.ErrIdentityMismatch, `signer identity "` + ghIdentity + `"`},
		{"wrong issuer under --require-issuer", &verify.Policy{TrustedMaterial: vs, SkipSCT: true, RequireIssuer: "https://gitlab.com",
			RequireIdentityPattern: regexp.MustCompile(publishedPattern)}, good, verify.ErrIssuerMismatch, `required "https://gitlab.com"`},
		{"expired certificate (signed after its validity ended)", trustGH, signed(ghIdentity, ghIssuer, keylesstest.SignOptions{IntegratedTime: time.Now().Add(20 * time.Minute)}),
			verify.ErrCertificate, "outside the certificate's validity"},
		{"tampered body", trustGH, tampered, verify.ErrArtifactMismatch, "the body was changed after signing"},
		{"bundle for another artifact", trustGH, swapped, verify.ErrArtifactMismatch, "the signature belongs to another envelope"},
		{"missing transparency-log entry", trustGH, signed(ghIdentity, ghIssuer, keylesstest.SignOptions{NoTlogEntry: true}),
			verify.ErrTransparencyLog, "no transparency-log entry"},
		{"log and CA not in the trusted root", trustGH, foreign, verify.ErrTransparencyLog, "not enough verified log entries"},
		{"no RFC 3161 timestamp when one is required", needTSA, noTimestamp, verify.ErrTimestamp, "signed timestamp"},
		{"no trusted root", noRoot, good, verify.ErrNoTrustedRoot, "--trusted-root FILE"},
		{"policy of dev keys only", devOnly, good, verify.ErrNoKeylessIdentity, "pins only dev keys"},
		{"trusted root but no identity rule", &verify.Policy{TrustedMaterial: vs, SkipSCT: true}, good,
			verify.ErrNoKeylessIdentity, "give --require-issuer URL (matched exactly) and --require-identity-pattern RE"},
		{"--require-issuer alone", &verify.Policy{TrustedMaterial: vs, SkipSCT: true, RequireIssuer: ghIssuer}, good,
			verify.ErrNoKeylessIdentity, "give both --require-issuer and --require-identity-pattern"},
		{"--insecure-trust-embedded-key", &verify.Policy{TrustedMaterial: vs, InsecureTrustEmbeddedKey: true}, good,
			verify.ErrNoKeylessIdentity, "dev-key signatures only"},
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
			if res == nil || res.Method != envelope.MethodKeyless {
				t.Fatalf("result %+v: the method is not reported on failure", res)
			}
		})
	}
	if _, err := trustGH.Verify(good); err != nil {
		t.Fatalf("the untouched envelope: %v", err)
	}
}

// TestKeylessUnanchoredPatternAbuse: a workflow in another owner's
// repository, on a branch named after the trusted repository, matches the
// reference's published pattern with search semantics. The
// --require-identity-pattern flag keeps those semantics (and the CLI warns);
// the same pattern in a policy file is anchored and rejects it.
func TestKeylessUnanchoredPatternAbuse(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	env := unsignedBaseline(t)
	vs.Sign(t, env, evilIdentity, ghIssuer, keylesstest.SignOptions{})

	if w := verify.UnanchoredPatternWarning(publishedPattern); !strings.Contains(w, "not anchored") {
		t.Fatalf("no warning for %q: %q", publishedPattern, w)
	}
	flags := &verify.Policy{TrustedMaterial: vs, SkipSCT: true, RequireIssuer: ghIssuer, RequireIdentityPattern: regexp.MustCompile(publishedPattern)}
	res, err := flags.Verify(env)
	if err != nil || res.SignerIdentity != evilIdentity {
		t.Fatalf("search semantics: the flag should accept %s (with a warning), got %+v %v", evilIdentity, res, err)
	}

	for _, pattern := range []string{publishedPattern, `https://github\.com/yobitelcomm/bench/.+`} {
		doc, _ := json.Marshal(map[string]any{"keyless": []map[string]string{{"issuer": ghIssuer, "identity_pattern": pattern}}})
		p, err := verify.ParsePolicy(doc, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		p.TrustedMaterial, p.SkipSCT = vs, true
		_, err = p.Verify(env)
		if !errors.Is(err, verify.ErrIdentityMismatch) || !strings.Contains(err.Error(), evilIdentity) {
			t.Errorf("policy-file pattern %q: want ErrIdentityMismatch naming the identity, got %v", pattern, err)
		}
	}
	// An anchored flag does not match it either.
	anchored := &verify.Policy{TrustedMaterial: vs, SkipSCT: true, RequireIssuer: ghIssuer,
		RequireIdentityPattern: regexp.MustCompile(`^https://github\.com/yobitelcomm/bench/\.github/workflows/[^@]+@refs/heads/main$`)}
	if _, err := anchored.Verify(env); !errors.Is(err, verify.ErrIdentityMismatch) {
		t.Fatalf("anchored flag: %v", err)
	}
}

// TestKeylessMalformedSignatureBlocks: every broken block is a clear
// ErrMalformedBundle, never a panic.
func TestKeylessMalformedSignatureBlocks(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	env := unsignedBaseline(t)
	vs.Sign(t, env, ghIdentity, ghIssuer, keylesstest.SignOptions{})
	good := *env.Signature
	bundleJSON, _ := base64.StdEncoding.DecodeString(good.Bundle)
	var bundle map[string]any
	if err := json.Unmarshal(bundleJSON, &bundle); err != nil {
		t.Fatal(err)
	}
	reencode := func(edit func(map[string]any)) string {
		var b map[string]any
		_ = json.Unmarshal(bundleJSON, &b)
		edit(b)
		data, _ := json.Marshal(b)
		return base64.StdEncoding.EncodeToString(data)
	}
	vm := func(b map[string]any) map[string]any { return b["verificationMaterial"].(map[string]any) }
	otherCert := keylesstest.LeafCertificate(t, vs.Signature(t, strings.Repeat("a", 64), ghIdentity, ghIssuer, keylesstest.SignOptions{}))

	cases := map[string]struct {
		edit   func(s *envelope.Signature)
		reason string
	}{
		"not base64":   {func(s *envelope.Signature) { s.Bundle = "%%%" }, "illegal base64"},
		"white space":  {func(s *envelope.Signature) { s.Bundle = s.Bundle[:10] + "\n" + s.Bundle[10:] }, "white space"},
		"empty":        {func(s *envelope.Signature) { s.Bundle = "" }, "bundle is empty"},
		"not JSON":     {func(s *envelope.Signature) { s.Bundle = base64.StdEncoding.EncodeToString([]byte("not json")) }, "bundle:"},
		"empty object": {func(s *envelope.Signature) { s.Bundle = "e30=" }, "bundle:"},
		"old media type": {func(s *envelope.Signature) {
			s.Bundle = reencode(func(b map[string]any) { b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2" })
		}, "want " + keyless.BundleMediaType},
		"DSSE": {func(s *envelope.Signature) {
			s.Bundle = reencode(func(b map[string]any) {
				delete(b, "messageSignature")
				b["dsseEnvelope"] = map[string]any{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []any{map[string]any{"sig": "AA=="}}}
			})
		}, "DSSE"},
		"certificate bytes": {func(s *envelope.Signature) {
			s.Bundle = reencode(func(b map[string]any) { vm(b)["certificate"] = map[string]any{"rawBytes": "AAAA"} })
		}, "certificate does not parse"},
		"public key": {func(s *envelope.Signature) {
			s.Bundle = reencode(func(b map[string]any) { delete(vm(b), "certificate"); vm(b)["publicKey"] = map[string]any{"hint": "x"} })
		}, "no Fulcio certificate"},
		"certificate field": {func(s *envelope.Signature) { s.Certificate = keyless.CertificatePEM(otherCert.Raw) }, "not the certificate in the bundle"},
		"certificate PEM": {func(s *envelope.Signature) {
			s.Certificate = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----"
		}, "CERTIFICATE"},
		"log index": {func(s *envelope.Signature) { s.RekorLogIndex = 7 }, "rekor_log_index is 7"},
		"digest algorithm": {func(s *envelope.Signature) {
			s.Bundle = reencode(func(b map[string]any) {
				b["messageSignature"].(map[string]any)["messageDigest"].(map[string]any)["algorithm"] = "SHA2_384"
			})
		}, "SHA2_256"},
	}
	p := keylessPolicy(t, vs, ghIssuer, ghIdentity, "")
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := *env
			s := good
			c.edit(&s)
			e.Signature = &s
			_, err := p.Verify(&e)
			if !errors.Is(err, verify.ErrMalformedBundle) || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("want ErrMalformedBundle saying %q, got %v", c.reason, err)
			}
		})
	}
}

// TestKeylessDowngradeIsRejected: the keyless signature is stripped and the
// envelope re-signed with the attacker's dev key; a policy that trusts the
// keyless signer rejects it, whether it comes from flags or a file.
func TestKeylessDowngradeIsRejected(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	env := unsignedBaseline(t)
	vs.Sign(t, env, ghIdentity, ghIssuer, keylesstest.SignOptions{})
	policy := keylessPolicy(t, vs, ghIssuer, ghIdentity, "")
	if _, err := policy.Verify(env); err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	if _, err := devkey.Sign(env, newKey(t)); err != nil {
		t.Fatal(err)
	}
	flags := &verify.Policy{TrustedMaterial: vs, RequireIssuer: ghIssuer, RequireIdentityPattern: regexp.MustCompile(publishedPattern)}
	for name, p := range map[string]*verify.Policy{"policy": policy, "flags": flags} {
		if _, err := p.Verify(env); !errors.Is(err, verify.ErrIdentityRequired) {
			t.Errorf("%s: the re-signed envelope was not rejected as carrying no identity: %v", name, err)
		}
	}
}

func TestTrustedRootErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		filepath.Join(dir, "missing.json"): "does not exist",
		write("junk.json", "{not json"):    "not a Sigstore trusted_root.json",
		write("empty.json", `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`): "lists no Fulcio certificate authority",
	}
	for path, want := range cases {
		if _, err := verify.LoadTrustedRoot(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadTrustedRoot(%s) = %v, want an error saying %q", filepath.Base(path), err, want)
		}
		doc, _ := json.Marshal(map[string]any{"trusted_root": path, "keyless": []map[string]string{{"issuer": ghIssuer, "identity": ghIdentity}}})
		if _, err := verify.ParsePolicy(doc, dir); err == nil || !strings.Contains(err.Error(), "trusted_root: ") {
			t.Errorf("policy naming %s: %v", filepath.Base(path), err)
		}
	}
	// The public-good trusted root that sigstore-go ships as an example loads.
	if _, err := verify.LoadTrustedRoot(filepath.Join("testdata", "trusted-root-public-good.json")); err != nil {
		t.Fatal(err)
	}
}

package keyless_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
	"github.com/inferencebench/bench/pkg/envelope/keyless/keylesstest"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

const (
	issuer   = "https://token.actions.githubusercontent.com"
	workflow = "https://github.com/yobitelcomm/bench/.github/workflows/bench.yml@refs/heads/main"
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

func stackPolicy(t *testing.T, s *keylesstest.Stack, identity string) *verify.Policy {
	t.Helper()
	p := &verify.Policy{TrustedMaterial: s.TrustedRoot, SkipSCT: true}
	if err := p.AddIdentity(issuer, identity, ""); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignerAgainstAStack signs through Fulcio, Rekor v1 and a timestamp
// authority over HTTP, and verifies the result offline from the stack's
// trusted_root.json. The token file is read afresh for every signature.
func TestSignerAgainstAStack(t *testing.T) {
	s := keylesstest.NewStack(t)
	dir := t.TempDir()
	trustedRoot, _ := s.WriteFiles(t, dir)
	tokenPath := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenPath, []byte(s.Token(issuer, workflow, 0)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := keyless.NewSigner(keyless.SignerOptions{
		Tokens: keyless.TokenFile(tokenPath), FulcioURL: s.FulcioURL, RekorURL: s.RekorURL, TSAURL: s.TSAURL,
		TrustedMaterial: s.TrustedRoot, // every bundle is checked as it is made
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := signer.String(); !strings.Contains(d, "rekor v1 "+s.RekorURL) || !strings.Contains(d, "tsa "+s.TSAURL) {
		t.Fatalf("description %q", d)
	}
	env := unsigned(t)
	hash, err := signer.Sign(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if hash != env.ContentHash() || env.Signature.Method != envelope.MethodKeyless || env.Signature.RekorLogIndex < 4200 {
		t.Fatalf("signature %+v", env.Signature)
	}
	if _, err := signer.Sign(context.Background(), env); !errors.Is(err, devkey.ErrAlreadySigned) {
		t.Fatalf("signing a signed envelope: %v", err)
	}

	policy := &verify.Policy{SkipSCT: true}
	if err := policy.SetTrustedRoot(trustedRoot); err != nil {
		t.Fatal(err)
	}
	if err := policy.AddIdentity(issuer, workflow, ""); err != nil {
		t.Fatal(err)
	}
	again, err := envelope.Parse(env.MarshalIndent())
	if err != nil {
		t.Fatal(err)
	}
	res, err := policy.Verify(again)
	if err != nil {
		t.Fatal(err)
	}
	if res.SignerIdentity != workflow || res.SignerIssuer != issuer || res.RekorLogIndex != env.Signature.RekorLogIndex || len(res.Timestamps) != 2 {
		t.Fatalf("result %+v", res)
	}
	// The certificate names the workflow as a URI SAN and the issuer in the
	// current extension, as Fulcio does for GitHub Actions.
	cert := keylesstest.LeafCertificate(t, env.Signature)
	if len(cert.URIs) != 1 || cert.URIs[0].String() != workflow {
		t.Fatalf("SANs %v %v", cert.URIs, cert.EmailAddresses)
	}

	// The default policy requires an SCT, which a Fulcio without a CT log
	// cannot give.
	policy.SkipSCT = false
	if _, err := policy.Verify(again); !errors.Is(err, verify.ErrSCT) || !strings.Contains(err.Error(), "require_sct") {
		t.Fatalf("want ErrSCT with a hint, got %v", err)
	}

	// A rotated token on disk is used for the next signature.
	other := "https://github.com/yobitelcomm/bench/.github/workflows/nightly.yml@refs/heads/main"
	if err := os.WriteFile(tokenPath, []byte(s.Token(issuer, other, 0)), 0o600); err != nil {
		t.Fatal(err)
	}
	env2 := unsigned(t)
	if _, err := signer.Sign(context.Background(), env2); err != nil {
		t.Fatal(err)
	}
	if got := keylesstest.LeafCertificate(t, env2.Signature).URIs[0].String(); got != other {
		t.Fatalf("second signature by %s, want %s (token file not re-read)", got, other)
	}
	if _, err := stackPolicy(t, s, workflow).Verify(env2); !errors.Is(err, verify.ErrIdentityMismatch) {
		t.Fatalf("the nightly workflow's signature under a policy for %s: %v", workflow, err)
	}
}

// TestSignerWithASigningConfig picks the services from a signing_config.json
// and signs concurrently (the signer role signs many envelopes at once).
func TestSignerWithASigningConfig(t *testing.T) {
	s := keylesstest.NewStack(t)
	_, scPath := s.WriteFiles(t, t.TempDir())
	sc, err := root.NewSigningConfigFromPath(scPath)
	if err != nil {
		t.Fatal(err)
	}
	token := s.Token(issuer, "bench-ci@example.com", 0)
	signer, err := keyless.NewSigner(keyless.SignerOptions{
		Tokens:        keyless.TokenFunc(func(context.Context) (string, error) { return token, nil }),
		SigningConfig: sc,
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := stackPolicy(t, s, "bench-ci@example.com")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			env := unsigned(t)
			env.Seed = big.NewInt(int64(i))
			if _, err := signer.Sign(context.Background(), env); err != nil {
				errs <- err
				return
			}
			if res, err := policy.Verify(env); err != nil {
				errs <- err
			} else if res.SignerIdentity != "bench-ci@example.com" {
				errs <- errors.New("identity " + res.SignerIdentity)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.Requests["fulcio"].Load(); n != 8 {
		t.Fatalf("%d certificates for 8 signatures", n)
	}
}

func TestSignerErrors(t *testing.T) {
	s := keylesstest.NewStack(t)
	tok := keyless.TokenFunc(func(context.Context) (string, error) { return s.Token(issuer, workflow, 0), nil })
	bad := []struct {
		opts keyless.SignerOptions
		want string
	}{
		{keyless.SignerOptions{FulcioURL: s.FulcioURL, RekorURL: s.RekorURL}, "no OIDC token source"},
		{keyless.SignerOptions{Tokens: tok, FulcioURL: s.FulcioURL}, "give both the Fulcio and the Rekor URL"},
		{keyless.SignerOptions{Tokens: tok, FulcioURL: "fulcio.example", RekorURL: s.RekorURL}, "want an http(s) URL"},
		{keyless.SignerOptions{Tokens: tok, FulcioURL: s.FulcioURL, RekorURL: s.RekorURL, RekorVersion: 3}, "want 1 or 2"},
		{keyless.SignerOptions{Tokens: tok, FulcioURL: s.FulcioURL, RekorURL: s.RekorURL, RekorVersion: 2}, "a timestamp authority is required"},
	}
	for _, c := range bad {
		if _, err := keyless.NewSigner(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSigner(%+v) = %v, want an error saying %q", c.opts, err, c.want)
		}
	}

	// A token Fulcio refuses (expired ones are refused before asking it).
	expired := s.Token(issuer, workflow, -time.Minute)
	signer, err := keyless.NewSigner(keyless.SignerOptions{
		Tokens:    keyless.TokenFunc(func(context.Context) (string, error) { return expired, nil }),
		FulcioURL: s.FulcioURL, RekorURL: s.RekorURL, TSAURL: s.TSAURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Sign(context.Background(), unsigned(t)); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), expired) {
		t.Fatalf("signing with an expired token: %v", err)
	}
	// Fulcio unreachable.
	signer, err = keyless.NewSigner(keyless.SignerOptions{Tokens: tok, FulcioURL: "http://127.0.0.1:1", RekorURL: s.RekorURL, TSAURL: s.TSAURL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := unsigned(t)
	if _, err := signer.Sign(context.Background(), env); err == nil || env.Signature != nil {
		t.Fatalf("signing with no Fulcio: %v, signature %+v", err, env.Signature)
	}
	// Every new bundle is checked against TrustedMaterial: one from
	// services the root does not list is refused, not returned.
	signer, err = keyless.NewSigner(keyless.SignerOptions{Tokens: tok, FulcioURL: s.FulcioURL, RekorURL: s.RekorURL, TSAURL: s.TSAURL,
		TrustedMaterial: keylesstest.NewStack(t).TrustedRoot})
	if err != nil {
		t.Fatal(err)
	}
	env = unsigned(t)
	if _, err := signer.Sign(context.Background(), env); err == nil || env.Signature != nil {
		t.Fatalf("signing under another stack's trusted root: %v, signature %+v", err, env.Signature)
	}
}

func TestTokenSources(t *testing.T) {
	s := keylesstest.NewStack(t)
	good := s.Token(issuer, workflow, 0)
	expired := s.Token(issuer, workflow, -time.Minute)
	ctx := context.Background()

	t.Setenv("BENCH_TEST_TOKEN", good)
	if tok, err := keyless.EnvToken("BENCH_TEST_TOKEN").Token(ctx); err != nil || tok != good {
		t.Fatalf("env token: %v", err)
	}
	t.Setenv("BENCH_TEST_TOKEN", "")
	if _, err := keyless.EnvToken("BENCH_TEST_TOKEN").Token(ctx); err == nil || !strings.Contains(err.Error(), "$BENCH_TEST_TOKEN is empty") {
		t.Fatalf("empty env: %v", err)
	}
	t.Setenv(keyless.DefaultTokenEnv, expired)
	if _, err := keyless.EnvToken("").Token(ctx); err == nil || !strings.Contains(err.Error(), "expired at") || strings.Contains(err.Error(), expired) {
		t.Fatalf("expired env token: %v", err)
	}

	path := filepath.Join(t.TempDir(), "token")
	if _, err := keyless.TokenFile(path).Token(ctx); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing token file: %v", err)
	}
	if err := os.WriteFile(path, []byte("not-a-jwt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := keyless.TokenFile(path).Token(ctx); err == nil || !strings.Contains(err.Error(), "not a JWT") || strings.Contains(err.Error(), "not-a-jwt") {
		t.Fatalf("junk token file: %v", err)
	}

	// GitHub Actions: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore
	// with the request token as a bearer.
	var gotAuth, gotAudience, gotOther string
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotAudience, gotOther = r.Header.Get("Authorization"), r.URL.Query().Get("audience"), r.URL.Query().Get("api-version")
		if gotAuth != "bearer request-token" {
			http.Error(w, `{"message":"bad credentials"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"count": 1, "value": good})
	}))
	defer gh.Close()
	t.Setenv(keyless.GitHubTokenRequestURL, gh.URL+"/token?api-version=2.0")
	t.Setenv(keyless.GitHubTokenRequestToken, "request-token")
	if !keyless.InGitHubActions() {
		t.Fatal("InGitHubActions")
	}
	tok, err := keyless.GitHubActionsToken(gh.Client()).Token(ctx)
	if err != nil || tok != good || gotAudience != "sigstore" || gotOther != "2.0" {
		t.Fatalf("GitHub token: %v (audience %q, api-version %q)", err, gotAudience, gotOther)
	}
	t.Setenv(keyless.GitHubTokenRequestToken, "wrong")
	if _, err := keyless.GitHubActionsToken(gh.Client()).Token(ctx); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("GitHub token with bad credentials: %v", err)
	}
	t.Setenv(keyless.GitHubTokenRequestURL, "")
	if _, err := keyless.GitHubActionsToken(nil).Token(ctx); err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Fatalf("outside Actions: %v", err)
	}

	// FirstAvailable falls through to the first source that works.
	t.Setenv(keyless.DefaultTokenEnv, "")
	src := keyless.FirstAvailable(keyless.EnvToken(""), keyless.TokenFunc(func(context.Context) (string, error) { return good, nil }))
	if tok, err := src.Token(ctx); err != nil || tok != good {
		t.Fatalf("FirstAvailable: %v", err)
	}
	if _, err := keyless.FirstAvailable(keyless.EnvToken(""), keyless.GitHubActionsToken(nil)).Token(ctx); err == nil ||
		!strings.Contains(err.Error(), "SIGSTORE_ID_TOKEN") || !strings.Contains(err.Error(), "GitHub") {
		t.Fatalf("FirstAvailable with nothing: %v", err)
	}
}

func TestCertificateIdentity(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issuerV2, _ := asn1.MarshalWithParams("https://issuer.v2", "utf8")
	mk := func(edit func(*x509.Certificate)) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		edit(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	u, _ := url.Parse(workflow)
	otherName, err := cryptoutils.MarshalOtherNameSAN("octocat", true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name             string
		cert             *x509.Certificate
		identity, issuer string
		wantErrSubstring string
	}{
		{"URI first, issuer v2 preferred", mk(func(c *x509.Certificate) {
			c.URIs, c.EmailAddresses = []*url.URL{u}, []string{"x@example.com"}
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuerV2},
				{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte("https://issuer.v1")}}
		}), workflow, "https://issuer.v2", ""},
		{"email, issuer v1 fallback", mk(func(c *x509.Certificate) {
			c.EmailAddresses = []string{"x@example.com"}
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte("https://issuer.v1")}}
		}), "x@example.com", "https://issuer.v1", ""},
		{"OtherName", mk(func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{*otherName, {Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: issuerV2}}
		}), "octocat", "https://issuer.v2", ""},
		{"no SAN", mk(func(c *x509.Certificate) {}), "", "", "no subject alternative name"},
		{"no issuer", mk(func(c *x509.Certificate) { c.EmailAddresses = []string{"x@example.com"} }), "x@example.com", "", "names no OIDC issuer"},
	}
	for _, c := range cases {
		id, iss, err := keyless.CertificateIdentity(c.cert)
		if c.wantErrSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrSubstring) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.wantErrSubstring)
			}
			continue
		}
		if err != nil || id != c.identity || iss != c.issuer {
			t.Errorf("%s: %q %q %v, want %q %q", c.name, id, iss, err, c.identity, c.issuer)
		}
	}
}

func TestSignatureFromBundleIsTheSpecBlock(t *testing.T) {
	vs := keylesstest.NewVirtual(t)
	hash := strings.Repeat("ab", 32)
	sig := vs.Signature(t, hash, "ci@example.com", issuer, keylesstest.SignOptions{LogIndex: 77})
	data, err := json.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	var block map[string]any
	_ = json.Unmarshal(data, &block)
	if len(block) != 4 || block["method"] != "sigstore-cosign" || block["rekor_log_index"] != float64(77) {
		t.Fatalf("block %s", data)
	}
	if _, err := base64.StdEncoding.DecodeString(sig.Bundle); err != nil {
		t.Fatal(err)
	}
	b, err := keyless.ParseSignature(sig)
	if err != nil || b.LogIndex != 77 || string(b.Digest) != string(keyless.ArtifactDigest(hash)) {
		t.Fatalf("parsed %+v %v", b, err)
	}
}

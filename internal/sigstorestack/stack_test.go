package sigstorestack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/inferencebench/bench/internal/sigstorestack"
)

// TestStackEndToEnd signs the 64-character hex content hash of an envelope
// the way the keyless signer will (a hashedrekord message signature with a
// Fulcio certificate, a Rekor v2 entry and an RFC 3161 timestamp), against
// the real servers, for an email identity and a GitHub Actions identity;
// then stops every server and verifies offline with the generated trusted
// root, with sigstore-go and with cosign verify-blob. It runs in a network
// namespace with no route out; -short skips it.
func TestStackEndToEnd(t *testing.T) {
	sigstorestack.Run(t, func(t *testing.T, s *sigstorestack.Stack) {
		assertNoRouteOut(t)

		body := []byte(`{"example":"envelope body"}`)
		sum := sha256.Sum256(body)
		contentHash := hex.EncodeToString(sum[:]) // what the envelope spec signs
		if len(contentHash) != 64 {
			t.Fatalf("content hash %q", contentHash)
		}

		const email = "release-bot@inferencebench.example"
		wf := sigstorestack.GitHubWorkflow{Repository: "inferencebench/bench", Ref: "refs/tags/v1.2.3",
			WorkflowPath: ".github/workflows/sign.yml", SHA: strings.Repeat("ab", 20)}

		// Services come from the generated signing_config.json, as the
		// keyless signer will take them.
		services := servicesFromSigningConfig(t, s)

		emailBundle := signHex(t, services, contentHash, s.Token(email))
		ghToken := actionsToken(t, s, wf)
		ghBundle := signHex(t, services, contentHash, ghToken)

		tr, err := root.NewTrustedRootFromPath(s.TrustedRootPath)
		if err != nil {
			t.Fatal(err)
		}
		checkBundleShape(t, emailBundle, contentHash, tr)

		// From here on nothing may need a server.
		s.StopServers()
		assertNoRouteOut(t)

		res := verifyHex(t, tr, emailBundle, contentHash, s.IssuerURL, email)
		if got := res.Signature.Certificate.SubjectAlternativeName; got != email {
			t.Errorf("SAN = %q, want %q", got, email)
		}
		if got := res.Signature.Certificate.Issuer; got != s.IssuerURL {
			t.Errorf("issuer extension = %q, want %q", got, s.IssuerURL)
		}
		var tsa int
		for _, ts := range res.VerifiedTimestamps {
			if ts.Type == "TimestampAuthority" {
				tsa++
			}
		}
		if tsa == 0 {
			t.Errorf("no verified TSA timestamp in %+v", res.VerifiedTimestamps)
		}

		ghRes := verifyHex(t, tr, ghBundle, contentHash, s.GitHubIssuerURL, wf.Identity())
		ext := ghRes.Signature.Certificate.Extensions
		if ext.SourceRepositoryRef != wf.Ref || ext.SourceRepositoryDigest != wf.SHA ||
			ext.SourceRepositoryURI != "https://github.com/"+wf.Repository || ext.BuildSignerURI != wf.Identity() {
			t.Errorf("GitHub extensions = %+v", ext)
		}

		// Rejections, so that the acceptances above mean something.
		if _, err := verifyHexErr(tr, emailBundle, contentHash, s.IssuerURL, "someone-else@inferencebench.example"); err == nil {
			t.Error("a wrong identity was accepted")
		}
		if _, err := verifyHexErr(tr, emailBundle, contentHash, s.GitHubIssuerURL, email); err == nil {
			t.Error("a wrong issuer was accepted")
		}
		other := strings.Repeat("0", 64)
		if _, err := verifyHexErr(tr, emailBundle, other, s.IssuerURL, email); err == nil {
			t.Error("the bundle verified for another artifact")
		}

		// cosign v3.1.3 accepts the same bundles offline.
		dir := t.TempDir()
		artifact := filepath.Join(dir, "content-hash.txt")
		if err := os.WriteFile(artifact, []byte(contentHash), 0o644); err != nil {
			t.Fatal(err)
		}
		cosignVerify(t, s, dir, artifact, emailBundle, email, s.IssuerURL, true)
		cosignVerify(t, s, dir, artifact, ghBundle, wf.Identity(), s.GitHubIssuerURL, true)
		cosignVerify(t, s, dir, artifact, emailBundle, "someone-else@inferencebench.example", s.IssuerURL, false)
	})
}

// assertNoRouteOut checks the premise: only loopback, and an outside
// address is unreachable at once (no route), not merely slow.
func assertNoRouteOut(t *testing.T) {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			t.Fatalf("interface %s present in the namespace", i.Name)
		}
	}
	// TEST-NET-1 and the IPv6 documentation prefix: never routed anywhere
	// real, but with a default route a dial would time out, not fail at once.
	for _, addr := range []string{"192.0.2.1:443", "[2001:db8::1]:443"} {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("reached %s from inside the namespace", addr)
		}
		if !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("dialing %s failed, but not for lack of a route: %v", addr, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("dialing %s took %s: a route exists", addr, d)
		}
	}
}

type services struct {
	fulcio, rekor, tsa string
	rekorVersion       uint32
}

func servicesFromSigningConfig(t *testing.T, s *sigstorestack.Stack) services {
	t.Helper()
	sc, err := root.NewSigningConfigFromPath(s.SigningConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, err := root.SelectService(sc.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := root.SelectServices(sc.RekorLogURLs(), sc.RekorLogURLsConfig(), sign.RekorAPIVersions, now)
	if err != nil {
		t.Fatal(err)
	}
	tsas, err := root.SelectServices(sc.TimestampAuthorityURLs(), sc.TimestampAuthorityURLsConfig(), sign.TimestampAuthorityAPIVersions, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || len(tsas) != 1 {
		t.Fatalf("signing config selects %d logs and %d TSAs, want 1 and 1", len(logs), len(tsas))
	}
	got := services{fulcio: ca.URL, rekor: logs[0].URL, rekorVersion: logs[0].MajorAPIVersion, tsa: tsas[0].URL}
	want := services{fulcio: s.FulcioURL, rekor: s.RekorURL, rekorVersion: 2, tsa: s.TSAURL}
	if got != want {
		t.Fatalf("signing config services = %+v, want %+v", got, want)
	}
	return got
}

// actionsToken fetches an ID token the way a GitHub Actions job does.
func actionsToken(t *testing.T, s *sigstorestack.Stack, wf sigstorestack.GitHubWorkflow) string {
	t.Helper()
	reqURL, reqToken := s.GitHubActionsEnv(wf)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, reqURL+"&audience=sigstore", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "bearer "+reqToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Value == "" {
		t.Fatalf("actions token request: HTTP %d, %v", resp.StatusCode, err)
	}
	return out.Value
}

func signHex(t *testing.T, svc services, contentHash, idToken string) *protobundle.Bundle {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil) // ECDSA P-256
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	b, err := sign.Bundle(&sign.PlainData{Data: []byte(contentHash)}, kp, sign.BundleOptions{
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: svc.fulcio}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: idToken},
		TransparencyLogs:           []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: svc.rekor, Version: svc.rekorVersion})},
		TimestampAuthorities:       []*sign.TimestampAuthority{sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: svc.tsa})},
		Context:                    ctx,
	})
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	t.Logf("signed in %s", time.Since(start).Round(time.Millisecond))
	return b
}

// checkBundleShape pins the layout the envelope spec requires.
func checkBundleShape(t *testing.T, b *protobundle.Bundle, contentHash string, tr *root.TrustedRoot) {
	t.Helper()
	if b.GetMediaType() != "application/vnd.dev.sigstore.bundle.v0.3+json" {
		t.Errorf("media type %q", b.GetMediaType())
	}
	ms := b.GetMessageSignature()
	if ms == nil {
		t.Fatal("not a message signature (DSSE?)")
	}
	want := sha256.Sum256([]byte(contentHash))
	if !bytes.Equal(ms.GetMessageDigest().GetDigest(), want[:]) {
		t.Error("message digest is not sha256 of the hex string")
	}
	if b.GetVerificationMaterial().GetCertificate() == nil {
		t.Error("no single leaf certificate in the verification material")
	}
	tles := b.GetVerificationMaterial().GetTlogEntries()
	if len(tles) != 1 {
		t.Fatalf("%d tlog entries", len(tles))
	}
	tle := tles[0]
	if k := tle.GetKindVersion(); k.GetKind() != "hashedrekord" || k.GetVersion() != "0.0.2" {
		t.Errorf("tlog entry kind %s/%s, want hashedrekord/0.0.2 (Rekor v2)", k.GetKind(), k.GetVersion())
	}
	if tle.GetIntegratedTime() != 0 || tle.GetInclusionProof() == nil {
		t.Errorf("not a Rekor v2 entry: integrated time %d, inclusion proof %v", tle.GetIntegratedTime(), tle.GetInclusionProof() != nil)
	}
	if _, ok := tr.RekorLogs()[hex.EncodeToString(tle.GetLogId().GetKeyId())]; !ok {
		t.Errorf("entry's log ID %x is not in the trusted root", tle.GetLogId().GetKeyId())
	}
	if n := len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()); n != 1 {
		t.Errorf("%d RFC 3161 timestamps, want 1", n)
	}
	if testing.Verbose() {
		j, _ := protojson.Marshal(b)
		t.Logf("bundle: %s", j)
	}
}

func verifyHexErr(tr root.TrustedMaterial, b *protobundle.Bundle, contentHash, issuer, san string) (*verify.VerificationResult, error) {
	sb, err := bundle.NewBundle(b)
	if err != nil {
		return nil, err
	}
	// No SCTs: the local Fulcio has no CT log.
	v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	if err != nil {
		return nil, err
	}
	id, err := verify.NewShortCertificateIdentity(issuer, "", san, "")
	if err != nil {
		return nil, err
	}
	return v.Verify(sb, verify.NewPolicy(verify.WithArtifact(strings.NewReader(contentHash)), verify.WithCertificateIdentity(id)))
}

func verifyHex(t *testing.T, tr root.TrustedMaterial, b *protobundle.Bundle, contentHash, issuer, san string) *verify.VerificationResult {
	t.Helper()
	res, err := verifyHexErr(tr, b, contentHash, issuer, san)
	if err != nil {
		t.Fatalf("verify %s from %s: %v", san, issuer, err)
	}
	return res
}

// cosignVerify runs `cosign verify-blob` offline on the bundle.
func cosignVerify(t *testing.T, s *sigstorestack.Stack, dir, artifact string, b *protobundle.Bundle, identity, issuer string, wantOK bool) {
	t.Helper()
	j, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	bundlePath := filepath.Join(dir, fmt.Sprintf("bundle-%d.json", time.Now().UnixNano()))
	if err := os.WriteFile(bundlePath, j, 0o644); err != nil {
		t.Fatal(err)
	}
	cosignVerifyFile(t, s, bundlePath, artifact, identity, issuer, wantOK)
}

// cosignVerifyFile runs `cosign verify-blob --bundle bundlePath artifact`
// with the stack's trusted root and no network, and checks its verdict.
// HOME is a fresh directory so no TUF cache or user config takes part.
func cosignVerifyFile(t *testing.T, s *sigstorestack.Stack, bundlePath, artifact, identity, issuer string, wantOK bool) {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.CosignPath, "verify-blob",
		"--bundle", bundlePath,
		"--certificate-identity", identity,
		"--certificate-oidc-issuer", issuer,
		"--insecure-ignore-sct", // no CT log, so no SCT in the certificate
		"--trusted-root", s.TrustedRootPath,
		artifact)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case wantOK && err != nil:
		t.Fatalf("cosign verify-blob rejected the bundle for %s: %v\n%s", identity, err, out.String())
	case wantOK && !strings.Contains(out.String(), "Verified OK"):
		t.Fatalf("cosign verify-blob exited 0 without \"Verified OK\":\n%s", out.String())
	case !wantOK && err == nil:
		t.Fatalf("cosign verify-blob accepted identity %s:\n%s", identity, out.String())
	case !wantOK && !errors.As(err, &ee):
		t.Fatalf("cosign verify-blob did not run: %v", err)
	}
	t.Logf("cosign verify-blob %s (want ok=%v): %s", identity, wantOK, strings.TrimSpace(lastLine(out.Bytes())))
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

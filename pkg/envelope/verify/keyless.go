package verify

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
)

// Timestamp is a verified time at which a keyless signature existed.
type Timestamp struct {
	// Kind is "tlog" (a transparency log's integrated time) or "rfc3161"
	// (a timestamp authority's signed timestamp).
	Kind string
	Time time.Time
	// Authority is the log's or the timestamp authority's URL, as the
	// trusted root names it.
	Authority string
}

// TUFOptions says where an online trusted root comes from. The zero value
// is the public-good Sigstore instance.
type TUFOptions struct {
	// MirrorURL is the TUF repository (default tuf.DefaultMirror).
	MirrorURL string
	// RootJSON is the TUF root.json that anchors MirrorURL; required with a
	// mirror other than the default (whose root is built in).
	RootJSON []byte
	// CachePath is where TUF metadata is cached (default ~/.sigstore/root).
	CachePath string
}

// LoadTrustedRoot reads a Sigstore trusted_root.json (the CAs, logs and
// timestamp authorities keyless signatures are checked against) and checks
// that it can verify anything: a Fulcio CA and a transparency log.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("trusted root %s does not exist", path)
		}
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: not a Sigstore trusted_root.json: %w", path, err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("trusted root %s lists no Fulcio certificate authority", path)
	}
	if len(tr.RekorLogs()) == 0 {
		return nil, fmt.Errorf("trusted root %s lists no transparency log", path)
	}
	return tr, nil
}

// SetTrustedRoot loads a trusted_root.json and trusts it for keyless
// signatures, beside any trusted material already set.
func (p *Policy) SetTrustedRoot(path string) error {
	tr, err := LoadTrustedRoot(path)
	if err != nil {
		return err
	}
	p.TrustedRoot = path
	p.addTrustedMaterial(tr)
	return nil
}

// UseTUF fetches a trusted root through TUF (network access) and trusts it
// for keyless signatures, beside any trusted material already set. The root
// is refreshed in the background once a day, so a long-running verifier
// follows key rotations.
func (p *Policy) UseTUF(o TUFOptions) error {
	opts := tuf.DefaultOptions()
	if o.MirrorURL != "" && o.MirrorURL != tuf.DefaultMirror {
		if len(o.RootJSON) == 0 {
			return fmt.Errorf("TUF mirror %s: give its root.json (only the public-good root is built in)", o.MirrorURL)
		}
		opts = opts.WithRepositoryBaseURL(o.MirrorURL)
	}
	if len(o.RootJSON) > 0 {
		opts = opts.WithRoot(o.RootJSON)
	}
	if o.CachePath != "" {
		opts = opts.WithCachePath(o.CachePath)
	}
	live, err := root.NewLiveTrustedRoot(opts)
	if err != nil {
		return fmt.Errorf("fetching the Sigstore trusted root through TUF from %s: %w", opts.RepositoryBaseURL, err)
	}
	p.addTrustedMaterial(live)
	return nil
}

func (p *Policy) addTrustedMaterial(tm root.TrustedMaterial) {
	switch existing := p.TrustedMaterial.(type) {
	case nil:
		p.TrustedMaterial = tm
	case root.TrustedMaterialCollection:
		p.TrustedMaterial = append(existing, tm)
	default:
		p.TrustedMaterial = root.TrustedMaterialCollection{existing, tm}
	}
}

// trustedMaterial returns what keyless signatures are checked against.
func (p *Policy) trustedMaterial() (root.TrustedMaterial, error) {
	if p.TrustedMaterial != nil {
		return p.TrustedMaterial, nil
	}
	if p.TrustedRoot != "" {
		// Set by hand without SetTrustedRoot: read it on every call.
		tr, err := LoadTrustedRoot(p.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoTrustedRoot, err)
		}
		return tr, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoTrustedRoot, howToGiveTrustedRoot)
}

// howToGiveTrustedRoot ends the ErrNoTrustedRoot messages.
const howToGiveTrustedRoot = "give a Sigstore trusted_root.json with --trusted-root FILE or \"trusted_root\" in the policy file " +
	"(or fetch the public-good one online with --tuf)"

// CheckKeylessReady reports a policy that names keyless signers (identities,
// or --require-issuer / --require-identity-pattern) but has no trusted root
// to check their certificates against, so that a long-running verifier
// fails at start-up rather than rejecting every keyless envelope.
func (p *Policy) CheckKeylessReady() error {
	if len(p.Identities) == 0 && !p.requiresIdentity() {
		return nil
	}
	if p.TrustedMaterial == nil && p.TrustedRoot == "" {
		return fmt.Errorf("%w: the policy trusts keyless signers; %s", ErrNoTrustedRoot, howToGiveTrustedRoot)
	}
	return nil
}

// trustsKeyless reports whether the policy can accept any keyless signer:
// a named identity, or both an issuer and an identity requirement.
func (p *Policy) trustsKeyless() bool {
	return len(p.Identities) > 0 || (p.RequireIssuer != "" && p.RequireIdentityPattern != nil)
}

func (p *Policy) verifierOptions() []sgverify.VerifierOption {
	opts := []sgverify.VerifierOption{sgverify.WithTransparencyLog(1)}
	if p.RequireSignedTimestamp {
		opts = append(opts, sgverify.WithSignedTimestamps(1))
	} else {
		opts = append(opts, sgverify.WithObserverTimestamps(1))
	}
	if !p.SkipSCT {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	return opts
}

// verifyKeyless checks a sigstore-cosign signature: the bundle must sign
// the recomputed content hash, verify against the trusted root (certificate
// chain at the signing time, transparency-log inclusion, timestamps, SCT),
// and its certificate must name a signer the policy trusts.
func (p *Policy) verifyKeyless(sig *envelope.Signature, res *Result) (*Result, error) {
	if !p.trustsKeyless() {
		switch {
		case p.requiresIdentity():
			return res, fmt.Errorf("%w: give both --require-issuer and --require-identity-pattern (%s alone would accept anyone it vouches for), or keyless entries in a policy file",
				ErrNoKeylessIdentity, p.describeRequirement())
		case p.InsecureTrustEmbeddedKey:
			return res, fmt.Errorf("%w: --insecure-trust-embedded-key applies to dev-key signatures only; a keyless signer is trusted by its identity "+
				"(--require-issuer and --require-identity-pattern, or a policy file)", ErrNoKeylessIdentity)
		default:
			return res, fmt.Errorf("%w: the policy pins only dev keys; %s", ErrNoKeylessIdentity, HowToTrustKeyless)
		}
	}
	b, err := keyless.ParseSignature(sig)
	if err != nil {
		return res, err
	}
	// The artifact is the content hash recomputed from the body, never what
	// the bundle says it signed.
	if want := keyless.ArtifactDigest(res.ContentHash); !bytes.Equal(b.Digest, want) {
		return res, fmt.Errorf("%w: the bundle signs sha256:%s, but this envelope's content hash %s has sha256:%s "+
			"(the body was changed after signing, or the signature belongs to another envelope)",
			ErrArtifactMismatch, hex.EncodeToString(b.Digest), res.ContentHash, hex.EncodeToString(want))
	}
	tm, err := p.trustedMaterial()
	if err != nil {
		return res, err
	}
	v, err := sgverify.NewVerifier(tm, p.verifierOptions()...)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	vr, err := v.Verify(b.Bundle, sgverify.NewPolicy(
		sgverify.WithArtifact(strings.NewReader(res.ContentHash)),
		// Identities are matched below, by the policy, on the certificate
		// that has just been verified.
		sgverify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return res, p.diagnose(v, tm, b, err)
	}
	identity, issuer, err := keyless.CertificateIdentity(b.Certificate)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	res.SignerIdentity, res.SignerIssuer = identity, issuer
	if entries, _ := b.TlogEntries(); len(entries) > 0 {
		res.RekorLogIndex = entries[0].LogIndex()
		res.IntegratedTime = entries[0].IntegratedTime()
	}
	for _, ts := range vr.VerifiedTimestamps {
		kind := "rfc3161"
		if ts.Type == "Tlog" {
			kind = "tlog"
		}
		res.Timestamps = append(res.Timestamps, Timestamp{Kind: kind, Time: ts.Timestamp.UTC(), Authority: ts.URI})
	}
	trustedBy, err := p.matchIdentity(identity, issuer)
	if err != nil {
		return res, err
	}
	res.TrustedBy = trustedBy
	return res, nil
}

// matchIdentity applies the policy to a verified certificate's identity:
// every requirement, then (if the policy names identities) one of them.
func (p *Policy) matchIdentity(identity, issuer string) (string, error) {
	if p.RequireIssuer != "" && issuer != p.RequireIssuer {
		return "", fmt.Errorf("%w: signer issuer %q, required %q", ErrIssuerMismatch, issuer, p.RequireIssuer)
	}
	if p.RequireIdentityPattern != nil && !p.RequireIdentityPattern.MatchString(identity) {
		return "", fmt.Errorf("%w: signer identity %q does not match --require-identity-pattern %q", ErrIdentityMismatch, identity, p.RequireIdentityPattern)
	}
	if len(p.Identities) == 0 {
		return "keyless signer required by --require-issuer " + p.RequireIssuer + " and --require-identity-pattern " + p.RequireIdentityPattern.String(), nil
	}
	var sameIssuer []string
	for i := range p.Identities {
		id := &p.Identities[i]
		if id.Issuer != issuer {
			continue
		}
		if id.matches(identity) {
			return "keyless identity " + id.describe() + " (issuer " + id.Issuer + ")", nil
		}
		sameIssuer = append(sameIssuer, id.describe())
	}
	if len(sameIssuer) == 0 {
		issuers := map[string]bool{}
		var list []string
		for _, id := range p.Identities {
			if !issuers[id.Issuer] {
				issuers[id.Issuer] = true
				list = append(list, id.Issuer)
			}
		}
		return "", fmt.Errorf("%w: signer issuer %q is not a trusted issuer (the policy trusts %s)", ErrIssuerMismatch, issuer, strings.Join(list, ", "))
	}
	return "", fmt.Errorf("%w: signer identity %q (issuer %s) matches none of the policy's identities for that issuer: %s",
		ErrIdentityMismatch, identity, issuer, strings.Join(sameIssuer, "; "))
}

func (id *Identity) matches(identity string) bool {
	if id.re != nil {
		return id.re.MatchString(identity)
	}
	return identity == id.Identity
}

func (id *Identity) describe() string {
	if id.re != nil {
		return "matching " + id.re.String()
	}
	return id.Identity
}

// diagnose runs sigstore-go's verification steps one at a time after a
// failed Verify, to say which check failed with the matching sentinel.
func (p *Policy) diagnose(v *sgverify.Verifier, tm root.TrustedMaterial, b *keyless.Bundle, verr error) error {
	entries, err := b.TlogEntries()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTransparencyLog, err)
	}
	if len(entries) == 0 {
		return fmt.Errorf("%w: the bundle has no transparency-log entry, and the policy requires one (%v)", ErrTransparencyLog, verr)
	}
	cert := b.Certificate
	outside := func(t time.Time) bool { return t.Before(cert.NotBefore) || t.After(cert.NotAfter) }
	validity := cert.NotBefore.UTC().Format(time.RFC3339) + " to " + cert.NotAfter.UTC().Format(time.RFC3339)
	for _, e := range entries {
		if t := e.IntegratedTime(); !t.IsZero() && outside(t) {
			return fmt.Errorf("%w: the signature was logged at %s (transparency log integrated time), outside the certificate's validity %s (%v)",
				ErrCertificate, t.UTC().Format(time.RFC3339), validity, verr)
		}
	}
	if stamps, _, err := sgverify.VerifySignedTimestamp(b.Bundle, tm); err == nil {
		for _, ts := range stamps {
			if outside(ts.Time) {
				return fmt.Errorf("%w: the signature was timestamped at %s by %s, outside the certificate's validity %s (%v)",
					ErrCertificate, ts.Time.UTC().Format(time.RFC3339), ts.URI, validity, verr)
			}
		}
	}
	tlogTimes, err := v.VerifyTransparencyLogInclusion(b.Bundle)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTransparencyLog, err)
	}
	stamps, err := v.VerifyObserverTimestamps(b.Bundle, tlogTimes)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	leaf := *cert
	leaf.UnhandledCriticalExtensions = nil
	for _, oid := range cert.UnhandledCriticalExtensions {
		if !oid.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) { // Fulcio's OtherName SAN, which Go does not parse
			leaf.UnhandledCriticalExtensions = append(leaf.UnhandledCriticalExtensions, oid)
		}
	}
	var chains [][]*x509.Certificate
	for _, ts := range stamps {
		chains, err = sgverify.VerifyLeafCertificate(ts.Timestamp, &leaf, tm)
		if err != nil {
			return fmt.Errorf("%w: the certificate does not chain to a Fulcio CA of the trusted root at %s: %v",
				ErrCertificate, ts.Timestamp.UTC().Format(time.RFC3339), err)
		}
	}
	if !p.SkipSCT {
		if err := sgverify.VerifySignedCertificateTimestamp(chains, 1, tm); err != nil {
			hint := ""
			if len(tm.CTLogs()) == 0 {
				hint = "; the trusted root lists no CT log: for a Fulcio that logs to none, set \"require_sct\": false in the policy (or --require-sct=false)"
			}
			return fmt.Errorf("%w: the certificate carries no valid signed certificate timestamp from a CT log of the trusted root (%v)%s", ErrSCT, err, hint)
		}
	}
	return fmt.Errorf("%w: %v", ErrSignature, verr)
}

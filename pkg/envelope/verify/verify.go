// Package verify decides whether a signed envelope is trusted.
//
// Verification is policy-first: a valid signature is necessary but never
// sufficient. The signer must be named by the Policy, as a pinned dev key or a
// keyless identity, and with no trust material at all nothing is accepted.
//
// Keyless (sigstore-cosign) signatures are checked with sigstore-go against a
// Sigstore trusted root (offline from a pinned trusted_root.json, or
// refreshed through TUF): the bundle must sign the content hash recomputed
// from the body, be recorded in a transparency log, have been made while its
// Fulcio certificate was valid, and its certificate must name an issuer
// (matched exactly) and identity (exactly, or by a pattern anchored as a
// whole) that the policy trusts.
// This closes the reference implementation's holes: it trusts whatever key an
// envelope embeds (so anyone can strip a keyless signature and re-sign with
// their own key) and checks identities only when the caller remembers to ask.
package verify

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
)

// Reasons a verification fails; the returned error wraps one of them (or,
// for dev-key signatures, devkey.ErrBadSignature / devkey.ErrMalformed) with
// details that say which check failed and why.
var (
	ErrUnsigned         = errors.New("envelope has no signature")
	ErrNoTrustMaterial  = errors.New("no trust material configured")
	ErrKeyNotPinned     = errors.New("signing key is not pinned")
	ErrIdentityRequired = errors.New("policy requires a keyless signer identity")
	ErrIdentityMismatch = errors.New("signer identity does not match the policy")
	ErrIssuerMismatch   = errors.New("signer issuer does not match the policy")
	ErrUnsupported      = errors.New("signature method not supported by this build")

	// Keyless (sigstore-cosign) signatures.

	// ErrNoKeylessIdentity: the policy names no keyless signer it would accept.
	ErrNoKeylessIdentity = errors.New("policy trusts no keyless signer")
	// ErrMalformedBundle: the signature block or its bundle cannot be read or
	// contradicts itself (it is keyless.ErrMalformed).
	ErrMalformedBundle = keyless.ErrMalformed
	// ErrArtifactMismatch: the bundle signs something other than the
	// envelope's recomputed content hash (tampered body, or a bundle taken
	// from another envelope).
	ErrArtifactMismatch = errors.New("signature does not match envelope content_hash")
	// ErrNoTrustedRoot: no Sigstore trusted root to check the bundle against.
	ErrNoTrustedRoot = errors.New("no Sigstore trusted root configured")
	// ErrTransparencyLog: no transparency-log entry, or one that does not
	// verify against the trusted root's logs.
	ErrTransparencyLog = errors.New("transparency log check failed")
	// ErrTimestamp: no verified time for the signature (integrated time or
	// RFC 3161 timestamp), or a timestamp that does not verify.
	ErrTimestamp = errors.New("timestamp check failed")
	// ErrCertificate: the certificate does not chain to a trusted Fulcio CA,
	// or the signature was made outside its validity.
	ErrCertificate = errors.New("certificate check failed")
	// ErrSCT: the certificate has no valid signed certificate timestamp from
	// a CT log of the trusted root.
	ErrSCT = errors.New("certificate transparency (SCT) check failed")
	// ErrSignature: the signature over the content hash does not verify
	// under the certificate's key.
	ErrSignature = errors.New("keyless signature check failed")
)

// HowToPin tells a user what trust material to give; it ends every
// ErrNoTrustMaterial message.
const HowToPin = "pin the signer's public key with --dev-public-key KEY.pub, or give a policy file with --policy FILE " +
	"(pinned dev keys and keyless identities), or require a keyless identity with --require-issuer URL and " +
	"--require-identity-pattern RE; --insecure-trust-embedded-key checks integrity only"

// HowToTrustKeyless tells a user how to say which keyless signers to trust:
// a trusted root alone proves that Sigstore certified somebody, not who.
const HowToTrustKeyless = "a keyless signature is trusted by its signer's identity, never by the trusted root alone: " +
	"give --require-issuer URL (matched exactly) and --require-identity-pattern RE (anchor it: ^...$), " +
	"or a policy file (--policy FILE) with \"keyless\" entries {\"issuer\": URL, \"identity\": ID} or {\"issuer\": URL, \"identity_pattern\": RE} " +
	"and a \"trusted_root\" (see docs/keyless.md)"

// PinnedKey is a trusted Ed25519 dev key.
type PinnedKey struct {
	Name string // where it came from, for messages: a file name or a policy entry's name
	Key  ed25519.PublicKey
	pem  string // canonical PEM text, to recognise the embedded key without parsing it
	id   string // devkey.KeyID(Key)
}

// Identity is a trusted keyless signer: the OIDC issuer, matched exactly, and
// the certificate identity, matched exactly (Identity) or by a pattern that
// must match it as a whole (IdentityPattern).
type Identity struct {
	Issuer          string
	Identity        string
	IdentityPattern string
	re              *regexp.Regexp
}

// Policy is what a verifier trusts. The zero Policy trusts nothing.
type Policy struct {
	// DevKeys are the pinned keys whose dev-key signatures are accepted.
	DevKeys []PinnedKey
	// Identities are the keyless signers accepted.
	Identities []Identity
	// TrustedRoot is the path of a Sigstore trusted_root.json used to verify
	// keyless signatures offline. SetTrustedRoot (and LoadPolicy) load it
	// into TrustedMaterial; set by hand alone, it is read on every keyless
	// verification.
	TrustedRoot string
	// TrustedMaterial is what keyless signatures are checked against: the
	// Fulcio CAs, transparency logs, timestamp authorities and CT logs of a
	// trusted root (SetTrustedRoot), one refreshed through TUF (UseTUF), or
	// any root.TrustedMaterial (tests use sigstore-go's VirtualSigstore).
	TrustedMaterial root.TrustedMaterial
	// SkipSCT accepts Fulcio certificates without a signed certificate
	// timestamp. The public-good Fulcio embeds one in every certificate and
	// it is required by default; a private Fulcio that logs to no CT log
	// (fulcio --ct-log-url "") issues certificates without, and needs this.
	SkipSCT bool
	// RequireSignedTimestamp demands an RFC 3161 timestamp from a timestamp
	// authority of the trusted root; by default a transparency log's
	// integrated time also establishes when a keyless signature was made.
	RequireSignedTimestamp bool

	// RequireIssuer, when set, is demanded of every envelope whatever its
	// method: a dev-key signature, which has no issuer, fails it.
	RequireIssuer string
	// RequireIdentityPattern, when set, must be found in the signer identity
	// of every envelope (regexp search, as the reference's flag does).
	RequireIdentityPattern *regexp.Regexp

	// InsecureTrustEmbeddedKey accepts a dev-key signature made by the key
	// the envelope itself carries. That proves integrity only: anyone can
	// sign with their own key.
	InsecureTrustEmbeddedKey bool
}

// Result describes a successful verification.
type Result struct {
	Method         string
	ContentHash    string
	KeyID          string // dev-key: the reference's key fingerprint
	TrustedBy      string // which part of the policy accepted the signer
	Insecure       bool   // accepted only because of InsecureTrustEmbeddedKey
	RekorLogIndex  int64  // keyless: the transparency-log entry's index
	SignerIdentity string // keyless: the certificate's first SAN (URI, email or OtherName)
	SignerIssuer   string // keyless: the OIDC issuer (OID 1.3.6.1.4.1.57264.1.8, or .1.1)
	// IntegratedTime is when the transparency log recorded a keyless
	// signature (zero for a Rekor v2 log, which records none).
	IntegratedTime time.Time
	// Timestamps are the verified times the certificate was checked at.
	Timestamps []Timestamp
}

// AddDevKey pins a public key.
func (p *Policy) AddDevKey(name string, key ed25519.PublicKey) {
	p.DevKeys = append(p.DevKeys, PinnedKey{Name: name, Key: key, pem: strings.TrimSpace(string(devkey.MarshalPublicKey(key))), id: devkey.KeyID(key)})
}

// AddIdentity trusts a keyless signer. Exactly one of identity and pattern
// must be set; the pattern is anchored (it must match the whole identity).
func (p *Policy) AddIdentity(issuer, identity, pattern string) error {
	id := Identity{Issuer: issuer, Identity: identity, IdentityPattern: pattern}
	if issuer == "" {
		return errors.New("keyless identity: issuer must not be empty")
	}
	if (identity == "") == (pattern == "") {
		return errors.New("keyless identity: give exactly one of identity and identity_pattern")
	}
	if pattern != "" {
		re, err := regexp.Compile(`^(?:` + pattern + `)$`)
		if err != nil {
			return fmt.Errorf("keyless identity: identity_pattern: %w", err)
		}
		id.re = re
	}
	p.Identities = append(p.Identities, id)
	return nil
}

// IsEmpty reports whether the policy holds no trust material at all.
func (p *Policy) IsEmpty() bool {
	return len(p.DevKeys) == 0 && len(p.Identities) == 0 && p.RequireIssuer == "" &&
		p.RequireIdentityPattern == nil && !p.InsecureTrustEmbeddedKey
}

func (p *Policy) requiresIdentity() bool {
	return p.RequireIssuer != "" || p.RequireIdentityPattern != nil
}

// UnanchoredPatternWarning returns a warning when a --require-identity-pattern
// is not anchored at both ends, or "" when it is. With search semantics,
// 'github\.com/org/repo/' also matches a branch named
// "refs/heads/github.com/org/repo/x" in somebody else's repository.
func UnanchoredPatternWarning(pattern string) string {
	if strings.HasPrefix(pattern, "^") && strings.HasSuffix(pattern, "$") && !strings.HasSuffix(pattern, `\$`) {
		return ""
	}
	return fmt.Sprintf("--require-identity-pattern %q is not anchored (^...$): it is searched for anywhere in the signer identity, "+
		"and branch names may contain slashes, so another repository's branch such as "+
		"refs/heads/github.com/org/repo/x can match it; prefer an anchored pattern or a policy file", pattern)
}

// Verify checks env against the policy. On failure the Result still names the
// method, and the error says which check failed.
func (p *Policy) Verify(env *envelope.Envelope) (*Result, error) {
	res := &Result{Method: "none", RekorLogIndex: envelope.NoRekorIndex}
	sig := env.Signature
	if sig == nil {
		return res, ErrUnsigned
	}
	res.Method = sig.Method
	if p.IsEmpty() {
		if sig.Method == envelope.MethodKeyless {
			return res, fmt.Errorf("%w: %w: %s", ErrNoTrustMaterial, ErrNoKeylessIdentity, HowToTrustKeyless)
		}
		return res, fmt.Errorf("%w: %s", ErrNoTrustMaterial, HowToPin)
	}
	res.ContentHash = env.ContentHash()
	switch sig.Method {
	case envelope.MethodDevKey:
		return p.verifyDevKey(env, sig, res)
	case envelope.MethodKeyless:
		return p.verifyKeyless(sig, res)
	}
	return res, fmt.Errorf("%w: %q", ErrUnsupported, sig.Method)
}

func (p *Policy) verifyDevKey(env *envelope.Envelope, sig *envelope.Signature, res *Result) (*Result, error) {
	if p.requiresIdentity() {
		return res, fmt.Errorf("%w (%s); a dev-key signature carries no identity", ErrIdentityRequired, p.describeRequirement())
	}
	pinned := p.pinnedFor(sig.Certificate)
	var key ed25519.PublicKey
	if pinned != nil {
		key, res.KeyID = pinned.Key, pinned.id
	} else {
		embedded, err := devkey.EmbeddedKey(sig)
		if err != nil {
			return res, err
		}
		res.KeyID = devkey.KeyID(embedded)
		for i := range p.DevKeys {
			if p.DevKeys[i].Key.Equal(embedded) {
				pinned = &p.DevKeys[i]
			}
		}
		switch {
		case pinned != nil:
			key, res.KeyID = pinned.Key, pinned.id
		case p.InsecureTrustEmbeddedKey:
			key = embedded
		case len(p.DevKeys) == 0 && len(p.Identities) > 0:
			return res, fmt.Errorf("%w: the policy trusts only keyless signers; a dev-key signature carries no identity", ErrIdentityRequired)
		default:
			return res, fmt.Errorf("%w: dev key %s is not among the %d pinned key(s); pin it with --dev-public-key or a policy file if you trust it",
				ErrKeyNotPinned, res.KeyID, len(p.DevKeys))
		}
	}
	if err := devkey.Check(sig, res.ContentHash, key); err != nil {
		return res, err
	}
	if pinned != nil {
		res.TrustedBy = "pinned dev key " + pinned.Name + " (" + res.KeyID + ")" // fmt.Sprintf costs more than the rest of the policy
	} else {
		res.Insecure = true
		res.TrustedBy = "the envelope's own embedded key (--insecure-trust-embedded-key): integrity only, the signer is NOT authenticated"
	}
	return res, nil
}

// pinnedFor finds the pinned key whose PEM text is exactly the embedded
// certificate: the common case, which needs no key parsing.
func (p *Policy) pinnedFor(certificate string) *PinnedKey {
	for i := range p.DevKeys {
		if p.DevKeys[i].pem == certificate {
			return &p.DevKeys[i]
		}
	}
	return nil
}

func (p *Policy) describeRequirement() string {
	var parts []string
	if p.RequireIssuer != "" {
		parts = append(parts, "issuer "+p.RequireIssuer)
	}
	if p.RequireIdentityPattern != nil {
		parts = append(parts, "identity matching "+p.RequireIdentityPattern.String())
	}
	return strings.Join(parts, ", ")
}

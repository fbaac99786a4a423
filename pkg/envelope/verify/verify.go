// Package verify decides whether a signed envelope is trusted.
//
// Verification is policy-first: a valid signature is necessary but never
// sufficient. The signer must be named by the Policy, as a pinned dev key or a
// keyless identity, and with no trust material at all nothing is accepted.
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

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
)

// Reasons a verification fails; the returned error wraps one of them (or
// devkey.ErrBadSignature / devkey.ErrMalformed) with details.
var (
	ErrUnsigned         = errors.New("envelope has no signature")
	ErrNoTrustMaterial  = errors.New("no trust material configured")
	ErrKeyNotPinned     = errors.New("signing key is not pinned")
	ErrIdentityRequired = errors.New("policy requires a keyless signer identity")
	ErrIdentityMismatch = errors.New("signer identity does not match the policy")
	ErrIssuerMismatch   = errors.New("signer issuer does not match the policy")
	ErrUnsupported      = errors.New("signature method not supported by this build")
)

// HowToPin tells a user what trust material to give; it ends every
// ErrNoTrustMaterial message.
const HowToPin = "pin the signer's public key with --dev-public-key KEY.pub, or give a policy file with --policy FILE " +
	"(pinned dev keys and keyless identities), or require a keyless identity with --require-issuer URL and " +
	"--require-identity-pattern RE; --insecure-trust-embedded-key checks integrity only"

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
	// keyless signatures offline.
	TrustedRoot string

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
	RekorLogIndex  int64
	SignerIdentity string
	SignerIssuer   string
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
		return res, fmt.Errorf("%w: %s", ErrNoTrustMaterial, HowToPin)
	}
	res.ContentHash = env.ContentHash()
	switch sig.Method {
	case envelope.MethodDevKey:
		return p.verifyDevKey(env, sig, res)
	case envelope.MethodKeyless:
		return res, fmt.Errorf("%w: %s signatures cannot be checked yet (keyless verification is not built in)", ErrUnsupported, sig.Method)
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

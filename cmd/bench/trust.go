package main

import (
	"fmt"
	"os"
	"regexp"

	"github.com/spf13/pflag"

	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

// trustFlags are the flags that say what a verifying command trusts.
type trustFlags struct {
	devKeys         []string
	policyFile      string
	requireIssuer   string
	requireIdentity string
	insecureEmbed   bool

	// Keyless (sigstore-cosign) trust material and checks.
	trustedRoot            string
	tuf                    bool
	tufMirror              string
	tufRoot                string
	requireSCT             bool
	requireSignedTimestamp bool

	fs *pflag.FlagSet
}

func (t *trustFlags) register(fs *pflag.FlagSet) {
	t.fs = fs
	fs.StringArrayVar(&t.devKeys, "dev-public-key", nil, "pin an Ed25519 public key (SPKI PEM file); repeat for several")
	fs.StringVar(&t.policyFile, "policy", "", "trust policy file (JSON): pinned dev keys, keyless identities, trusted root (see docs/trust-policy.md)")
	fs.StringVar(&t.requireIssuer, "require-issuer", "", "demand this OIDC issuer of every envelope, matched exactly (a dev-key signature has none, so it fails)")
	fs.StringVar(&t.requireIdentity, "require-identity-pattern", "", "demand a signer identity matching this regexp (searched; anchor it with ^...$)")
	fs.BoolVar(&t.insecureEmbed, "insecure-trust-embedded-key", false, "accept the key an envelope carries itself: integrity only, the signer is NOT authenticated")
	fs.StringVar(&t.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json to check keyless signatures against, offline (Fulcio CAs, transparency logs, timestamp authorities, CT logs)")
	fs.BoolVar(&t.tuf, "tuf", false, "fetch the Sigstore trusted root through TUF (network; the public-good instance unless --tuf-mirror)")
	fs.StringVar(&t.tufMirror, "tuf-mirror", "", "TUF repository URL for --tuf (a private Sigstore); needs --tuf-root")
	fs.StringVar(&t.tufRoot, "tuf-root", "", "the TUF root.json that anchors --tuf-mirror")
	fs.BoolVar(&t.requireSCT, "require-sct", true, "demand a signed certificate timestamp (CT log) in keyless certificates; false for a private Fulcio without a CT log")
	fs.BoolVar(&t.requireSignedTimestamp, "require-signed-timestamp", false, "demand an RFC 3161 timestamp from a timestamp authority of the trusted root (not only the log's integrated time)")
}

func (t *trustFlags) changed(name string) bool {
	return t.fs != nil && t.fs.Changed(name)
}

// policy builds the verify.Policy the flags describe, and the warnings to
// show. An error means a flag or file could not be used (exit 2). Flags add
// to a policy file's trust material; the keyless check flags, when given,
// replace the file's settings.
func (t *trustFlags) policy() (*verify.Policy, []string, error) {
	p := &verify.Policy{}
	if t.policyFile != "" {
		loaded, err := verify.LoadPolicy(t.policyFile)
		if err != nil {
			return nil, nil, err
		}
		p = loaded
	}
	for _, path := range t.devKeys {
		pub, err := devkey.LoadPublicKey(path)
		if err != nil {
			return nil, nil, fmt.Errorf("--dev-public-key: %w", err)
		}
		p.AddDevKey(path, pub)
	}
	if t.trustedRoot != "" {
		if err := p.SetTrustedRoot(t.trustedRoot); err != nil {
			return nil, nil, fmt.Errorf("--trusted-root: %w", err)
		}
	}
	if (t.tufMirror != "" || t.tufRoot != "") && !t.tuf {
		return nil, nil, fmt.Errorf("--tuf-mirror and --tuf-root configure --tuf: give --tuf as well")
	}
	if t.tuf {
		o := verify.TUFOptions{MirrorURL: t.tufMirror}
		if t.tufRoot != "" {
			data, err := os.ReadFile(t.tufRoot)
			if err != nil {
				return nil, nil, fmt.Errorf("--tuf-root: %w", err)
			}
			o.RootJSON = data
		}
		if err := p.UseTUF(o); err != nil {
			return nil, nil, fmt.Errorf("--tuf: %w", err)
		}
	}
	if t.changed("require-sct") || t.policyFile == "" {
		p.SkipSCT = !t.requireSCT
	}
	if t.changed("require-signed-timestamp") || t.policyFile == "" {
		p.RequireSignedTimestamp = t.requireSignedTimestamp
	}
	var warnings []string
	p.RequireIssuer = t.requireIssuer
	if t.requireIdentity != "" {
		re, err := regexp.Compile(t.requireIdentity)
		if err != nil {
			return nil, nil, fmt.Errorf("--require-identity-pattern: %w", err)
		}
		p.RequireIdentityPattern = re
		if w := verify.UnanchoredPatternWarning(t.requireIdentity); w != "" {
			warnings = append(warnings, w)
		}
	}
	p.InsecureTrustEmbeddedKey = t.insecureEmbed
	if t.insecureEmbed {
		warnings = append(warnings, "--insecure-trust-embedded-key: signatures are checked against the key each envelope carries; "+
			"this proves the envelope was not changed since that key signed it, not who signed it")
	}
	if p.SkipSCT {
		warnings = append(warnings, "keyless certificates are accepted without a signed certificate timestamp (require_sct false): "+
			"only for a private Fulcio that logs to no CT log")
	}
	return p, warnings, nil
}

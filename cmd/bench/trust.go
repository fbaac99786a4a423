package main

import (
	"fmt"
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
}

func (t *trustFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&t.devKeys, "dev-public-key", nil, "pin an Ed25519 public key (SPKI PEM file); repeat for several")
	fs.StringVar(&t.policyFile, "policy", "", "trust policy file (JSON): pinned dev keys and keyless identities (see docs/trust-policy.md)")
	fs.StringVar(&t.requireIssuer, "require-issuer", "", "demand this OIDC issuer of every envelope (a dev-key signature has none, so it fails)")
	fs.StringVar(&t.requireIdentity, "require-identity-pattern", "", "demand a signer identity matching this regexp (searched; anchor it with ^...$)")
	fs.BoolVar(&t.insecureEmbed, "insecure-trust-embedded-key", false, "accept the key an envelope carries itself: integrity only, the signer is NOT authenticated")
}

// policy builds the verify.Policy the flags describe, and the warnings to
// show. An error means a flag or file could not be used (exit 2).
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
	return p, warnings, nil
}

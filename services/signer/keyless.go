package signer

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/inferencebench/bench/pkg/envelope/keyless"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

// KeylessConfig configures the signer role's keyless (Sigstore) mode.
//
// Identity tokens: Tokens, if set, is used as is. Otherwise, with
// IdentityTokenFile the token is read from that file for every envelope (a
// Kubernetes projected service-account token or a SPIFFE JWT-SVID that an
// agent rotates on disk) and nothing else is tried; without it, $TokenEnv
// (default SIGSTORE_ID_TOKEN) is read for every envelope, then GitHub
// Actions' ambient credentials are requested when the job has
// "id-token: write". A service never signs a person in interactively.
//
// Services: SigningConfigPath (a Sigstore signing_config.json) and/or the
// explicit URLs, an explicit URL replacing the config's choice; with
// neither, the public-good instance's signing config is fetched through TUF.
type KeylessConfig struct {
	Tokens            keyless.TokenSource
	IdentityTokenFile string
	TokenEnv          string

	SigningConfigPath string
	FulcioURL         string
	RekorURL          string
	RekorVersion      uint32 // 1 (default) or 2; Rekor v2 needs a timestamp authority
	TSAURL            string // full URL with its path, e.g. .../api/v1/timestamp

	// TrustedRootPath, if set, is a trusted_root.json every new bundle is
	// verified against before it is published, so that a misconfigured
	// signer fails loudly instead of producing envelopes nobody accepts.
	TrustedRootPath string
	// TrustedMaterial does the same with material already loaded (tests:
	// keylesstest.Stack.TrustedRoot); it takes precedence over TrustedRootPath.
	TrustedMaterial root.TrustedMaterial

	// HTTPClient is used to reach the services (nil: a default client).
	HTTPClient *http.Client
	// Timeout bounds each request to a service (default 30 s).
	Timeout time.Duration
	// Retries is how many times a request that failed with a server error is
	// retried (default 0: the bus redelivers the envelope instead).
	Retries uint
}

// NewKeyless returns the keyless signer a KeylessConfig describes, ready for
// Config.Signer. It reads the signing config and trusted root now, so that a
// bad file is an error at start-up, not at the first envelope.
func NewKeyless(c KeylessConfig) (*keyless.Signer, error) {
	opts := keyless.SignerOptions{
		Tokens:          c.Tokens,
		FulcioURL:       c.FulcioURL,
		RekorURL:        c.RekorURL,
		RekorVersion:    c.RekorVersion,
		TSAURL:          c.TSAURL,
		TrustedMaterial: c.TrustedMaterial,
		HTTPClient:      c.HTTPClient,
		Timeout:         c.Timeout,
		Retries:         c.Retries,
	}
	if opts.Tokens == nil {
		opts.Tokens = ServiceTokens(c.IdentityTokenFile, c.TokenEnv)
	}
	if c.SigningConfigPath != "" {
		sc, err := root.NewSigningConfigFromPath(c.SigningConfigPath)
		if err != nil {
			return nil, fmt.Errorf("signing config %s: %w", c.SigningConfigPath, err)
		}
		opts.SigningConfig = sc
	}
	if opts.TrustedMaterial == nil && c.TrustedRootPath != "" {
		tr, err := verify.LoadTrustedRoot(c.TrustedRootPath)
		if err != nil {
			return nil, err
		}
		opts.TrustedMaterial = tr
	}
	return keyless.NewSigner(opts)
}

// ServiceTokens is the token source of an unattended signer: the token file
// alone when tokenFile is set (re-read for every signature), otherwise
// $envName (default SIGSTORE_ID_TOKEN), then GitHub Actions' ambient
// credentials (requested again for every signature: they expire).
func ServiceTokens(tokenFile, envName string) keyless.TokenSource {
	if tokenFile != "" {
		return keyless.TokenFile(tokenFile)
	}
	return keyless.FirstAvailable(keyless.EnvToken(envName), keyless.GitHubActionsToken(nil))
}

package main

import (
	"context"
	"fmt"
	"github.com/inferencebench/bench/internal/logging"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/keyless"
	"github.com/inferencebench/bench/services/signer"
)

// keylessFlags configure keyless (Sigstore) signing: where the OIDC identity
// token comes from and which Fulcio, Rekor and timestamp authority to use.
// 'bench sign --keyless', 'bench signer --keyless' and 'bench up --keyless'
// share them; only 'bench sign' may sign a person in interactively.
type keylessFlags struct {
	enabled       bool
	tokenFile     string
	signingConfig string
	fulcioURL     string
	rekorURL      string
	rekorVersion  uint32
	tsaURL        string
	trustedRoot   string
	timeout       time.Duration

	// Interactive sign-in ('bench sign' only).
	interactive  bool
	noBrowser    bool
	oidcIssuer   string
	oidcClientID string
}

const envTokenFile = "BENCH_IDENTITY_TOKEN_FILE"

// register adds the flags. trustedRootFlag is false where the command
// already has a --trusted-root (its trust policy's root is used instead).
func (k *keylessFlags) register(fs *pflag.FlagSet, interactive, trustedRootFlag bool) {
	fs.BoolVar(&k.enabled, "keyless", false, "sign keylessly with Sigstore: an OIDC identity token buys a short-lived Fulcio certificate; the signature goes to a transparency log (see docs/keyless.md)")
	tokenHelp := "read the OIDC identity token from this file for every signature (Kubernetes projected token, SPIFFE JWT-SVID; env " +
		envTokenFile + "); default: $SIGSTORE_ID_TOKEN, then GitHub Actions' ambient token"
	if interactive {
		tokenHelp += ", then an interactive sign-in"
	}
	fs.StringVar(&k.tokenFile, "identity-token-file", "", tokenHelp)
	fs.StringVar(&k.signingConfig, "signing-config", "", "Sigstore signing_config.json naming the Fulcio, Rekor and timestamp authority to use (default: the public-good instance's, fetched through TUF)")
	fs.StringVar(&k.fulcioURL, "fulcio-url", "", "Fulcio base URL (replaces the signing config's)")
	fs.StringVar(&k.rekorURL, "rekor-url", "", "Rekor base URL (replaces the signing config's)")
	fs.Uint32Var(&k.rekorVersion, "rekor-version", 1, "API version of --rekor-url: 1, or 2 (rekor-tiles; needs a timestamp authority)")
	fs.StringVar(&k.tsaURL, "tsa-url", "", "RFC 3161 timestamp authority URL with its path, e.g. https://timestamp.sigstore.dev/api/v1/timestamp (replaces the signing config's)")
	if trustedRootFlag {
		fs.StringVar(&k.trustedRoot, "trusted-root", "", "check every new keyless bundle against this trusted_root.json before using it (catches a misconfigured signer at once)")
	}
	fs.DurationVar(&k.timeout, "sigstore-timeout", 30*time.Second, "timeout of each request to Fulcio, Rekor or the timestamp authority")
	if interactive {
		fs.BoolVar(&k.interactive, "interactive", true, "when no token is found, sign in through a browser (--keyless only; never in CI: there is no terminal)")
		fs.BoolVar(&k.noBrowser, "device-flow", false, "sign in on any device: print a URL and a code instead of opening a browser here")
		fs.StringVar(&k.oidcIssuer, "oidc-issuer", keyless.PublicGoodOIDCIssuer, "OIDC issuer of the interactive sign-in")
		fs.StringVar(&k.oidcClientID, "oidc-client-id", "sigstore", "OAuth client id of the interactive sign-in")
	}
}

// check rejects keyless flags given without --keyless.
func (k *keylessFlags) check(fs *pflag.FlagSet) error {
	if k.enabled {
		return nil
	}
	for _, name := range []string{"identity-token-file", "signing-config", "fulcio-url", "rekor-url", "rekor-version", "tsa-url", "sigstore-timeout", "device-flow", "oidc-issuer", "oidc-client-id"} {
		if fs.Lookup(name) != nil && fs.Changed(name) {
			return fmt.Errorf("--%s configures keyless signing: add --keyless", name)
		}
	}
	return nil
}

// tokens returns the token source: the token file alone when one is given;
// otherwise $SIGSTORE_ID_TOKEN, then GitHub Actions' ambient credentials,
// then (interactive commands on a terminal) a browser sign-in.
func (k *keylessFlags) tokens(fs *pflag.FlagSet, interactive bool) keyless.TokenSource {
	file := flagOrEnv(fs, "identity-token-file", k.tokenFile, envTokenFile)
	if file != "" {
		return keyless.TokenFile(file)
	}
	base := signer.ServiceTokens("", "")
	if !interactive || !k.interactive || !logging.IsTerminal(os.Stdin) {
		return base
	}
	sources := []keyless.TokenSource{base}
	sources = append(sources, keyless.Interactive(keyless.InteractiveOptions{
		Issuer: k.oidcIssuer, ClientID: k.oidcClientID, Device: k.noBrowser, Out: os.Stderr,
	}))
	return keyless.FirstAvailable(sources...)
}

// config is the signer role's keyless configuration the flags describe.
func (k *keylessFlags) config(fs *pflag.FlagSet, interactive bool) signer.KeylessConfig {
	return signer.KeylessConfig{
		Tokens:            k.tokens(fs, interactive),
		SigningConfigPath: k.signingConfig,
		FulcioURL:         k.fulcioURL,
		RekorURL:          k.rekorURL,
		RekorVersion:      k.rekorVersion,
		TSAURL:            k.tsaURL,
		TrustedRootPath:   k.trustedRoot,
		Timeout:           k.timeout,
	}
}

// describeKeyless names the signer of a keyless signature block, for output.
func describeKeyless(sig *envelope.Signature) (identity, issuer string) {
	b, err := keyless.ParseSignature(sig)
	if err != nil {
		return "?", "?"
	}
	identity, issuer, _ = keyless.CertificateIdentity(b.Certificate)
	return identity, issuer
}

// signContext bounds one keyless signature from the command line, sign-in
// included.
func signContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, 10*time.Minute)
}

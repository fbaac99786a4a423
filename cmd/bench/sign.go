package main

import (
	"crypto/ed25519"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/services/signer"
)

func newSignCommand() *cobra.Command {
	var (
		keyPath, out string
		kf           keylessFlags
	)
	cmd := &cobra.Command{
		Use:   "sign (--key KEY | --keyless [token and service flags]) FILE [--out PATH]",
		Short: "Sign an unsigned envelope with a dev key or keylessly (Sigstore)",
		Long: `sign adds a signature to an unsigned envelope, in the reference
implementation's format: the signature covers the 64 hex characters of the
content hash. The envelope is normalised as the reference does (defaults
filled in, strings stripped) and written with two-space indentation.

With --key it is a dev-key (Ed25519) signature: whoever verifies must pin the
public key.

With --keyless it is a Sigstore keyless signature ("sigstore-cosign"): an
OIDC identity token buys a Fulcio certificate for an ephemeral ECDSA P-256
key, the signature is recorded in a transparency log (Rekor) and timestamped
by an RFC 3161 timestamp authority, and the bundle goes in the signature
block. Verifiers trust the identity (a CI workflow at a ref, an email), not a
key. The token comes from, in order:
  --identity-token-file FILE   read for this signature (and only from there)
  $SIGSTORE_ID_TOKEN           e.g. from 'gcloud auth print-identity-token'
  GitHub Actions               the job's ambient token ("permissions:
                               id-token: write"), audience "sigstore"
  a browser sign-in            on a terminal only (--interactive=false to
                               forbid; --device-flow for another device)
The services come from --signing-config (a Sigstore signing_config.json) or
--fulcio-url, --rekor-url [--rekor-version 2] and --tsa-url; with neither,
the public-good Sigstore instance (fetched through TUF: network access).
--trusted-root checks the new bundle before the file is written.

Without --out the file is replaced atomically; --out - writes to standard
output. An envelope that already carries a signature is refused: remove the
signature block first if you really mean to re-sign it.

Examples:
  bench sign --key bench.key run.json
  SIGSTORE_ID_TOKEN=$(cat token.jwt) bench sign --keyless run.json
  bench sign --keyless --signing-config signing_config.json \
    --identity-token-file /var/run/secrets/tokens/sigstore run.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if err := kf.check(cmd.Flags()); err != nil {
				return fail(exitInvalid, "%v", err)
			}
			var (
				sign signer.EnvelopeSigner
				priv ed25519.PrivateKey
			)
			switch {
			case kf.enabled && keyPath != "":
				return fail(exitInvalid, "give --key (dev key) or --keyless (Sigstore), not both")
			case kf.enabled:
			case keyPath == "":
				return fail(exitInvalid, "give --key KEY (a dev key; create one with 'bench keygen') or --keyless (Sigstore, see --help)")
			default:
				var err error
				if priv, err = devkey.LoadPrivateKey(keyPath); err != nil {
					return fail(exitInvalid, "signing key: %v", err)
				}
				sign = signer.DevKey(priv)
			}
			env, err := loadEnvelope(file)
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			if env.Signature != nil {
				return fail(exitFailed, "%s: %v", file, devkey.ErrAlreadySigned)
			}
			if kf.enabled {
				ks, err := signer.NewKeyless(kf.config(cmd.Flags(), true))
				if err != nil {
					return fail(exitInvalid, "%v", err)
				}
				sign = ks
			}
			ctx, cancel := signContext(cmd.Context())
			defer cancel()
			hash, err := sign.Sign(ctx, env)
			if err != nil {
				return fail(exitFailed, "signing %s: %v", file, err)
			}
			data := env.MarshalIndent()
			dest := out
			if dest == "" {
				dest = file
			}
			if dest != "-" {
				perm := os.FileMode(0o644)
				if st, err := os.Stat(dest); err == nil {
					perm = st.Mode().Perm()
				}
				if err := writeFileAtomic(dest, data, perm); err != nil {
					return fail(exitFailed, "writing %s: %v", dest, err)
				}
			} else if _, err := cmd.OutOrStdout().Write(data); err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "signed %s\n  content_hash:     %s\n", dest, hash)
			if kf.enabled {
				identity, issuer := describeKeyless(env.Signature)
				fmt.Fprintf(w, "  method:           %s\n  signer_identity:  %s\n  signer_issuer:    %s\n  rekor_log_index:  %d\n",
					env.Signature.Method, identity, issuer, env.Signature.RekorLogIndex)
			} else {
				fmt.Fprintf(w, "  key id:           %s\n", devkey.KeyID(priv.Public().(ed25519.PublicKey)))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyPath, "key", "k", "", "PKCS#8 PEM Ed25519 private key (from 'bench keygen')")
	cmd.Flags().StringVarP(&out, "out", "o", "", "where to write the signed envelope (default: replace FILE; - for stdout)")
	kf.register(cmd.Flags(), true, true)
	return cmd
}

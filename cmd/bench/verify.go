package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

func newVerifyCommand() *cobra.Command {
	var trust trustFlags
	cmd := &cobra.Command{
		Use:   "verify PATH [--dev-public-key PEM] [--policy FILE] [--require-issuer URL --require-identity-pattern RE] [--trusted-root FILE]",
		Short: "Verify an envelope's content hash, signature and signer",
		Long: `verify recomputes an envelope's content hash, checks its signature, and checks
that the signer is trusted. Trust must be given: a pinned dev key
(--dev-public-key, repeatable), a policy file (--policy), or keyless identity
requirements (--require-issuer, --require-identity-pattern). The key an
envelope carries is never trusted on its own; --insecure-trust-embedded-key
checks integrity only and says so.

Keyless (sigstore-cosign) envelopes are checked offline against a pinned
Sigstore trusted root (--trusted-root FILE, or "trusted_root" in the policy
file), or one fetched through TUF with --tuf: the bundle must sign this
envelope's recomputed content hash, its certificate must chain to a Fulcio CA
of the root at the time the transparency log (or a timestamp authority)
recorded it, the log entry must verify, and the certificate's issuer and
identity must satisfy the policy. A trusted root alone trusts no one: name
the signer with --require-issuer and --require-identity-pattern, or keyless
entries in a policy file. The output then reports the signer identity,
issuer, transparency-log index and the verified times. See docs/keyless.md.

Issuer and identity requirements apply whatever the signature method, so they
reject dev-key envelopes. --require-identity-pattern is searched for anywhere in
the identity, as in the reference implementation; anchor it (^...$) or use a
policy file, whose patterns must match the whole identity.

Exit status: 0 verified; 1 signature or policy failure (no signature, tampered
or wrong key, key not pinned, identity or issuer mismatch, a keyless check:
certificate, transparency log, timestamp); 2 the envelope or the trust
material could not be loaded (missing file, bad JSON, schema violation,
fingerprint mismatch, unreadable trusted root). PATH "-" reads standard input.

Examples:
  bench verify run.json --dev-public-key bench.pub
  bench verify run.json --trusted-root trusted_root.json \
    --require-issuer https://token.actions.githubusercontent.com \
    --require-identity-pattern '^https://github\.com/org/repo/\.github/workflows/bench\.yml@refs/heads/main$'
  bench verify run.json --policy policy.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			policy, warnings, err := trust.policy()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			env, err := loadEnvelope(path)
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			res, err := policy.Verify(env)
			if err != nil {
				printFailure(cmd.ErrOrStderr(), path, res, err)
				return silentExit(exitFailed)
			}
			printSuccess(cmd.OutOrStdout(), path, env, res)
			return nil
		},
	}
	trust.register(cmd.Flags())
	return cmd
}

// printSuccess writes the reference implementation's OK block, then what
// this implementation adds: the key id and which part of the policy trusted
// the signer.
func printSuccess(w io.Writer, path string, env *envelope.Envelope, res *verify.Result) {
	line := func(key, value string) { fmt.Fprintf(w, "  %-17s %s\n", key+":", value) }
	fmt.Fprintf(w, "OK  %s\n", path)
	line("method", res.Method)
	line("content_hash", res.ContentHash)
	line("suite", env.SuiteID+" v"+env.SuiteVersion)
	line("model", env.Model.ID)
	line("engine", env.Engine.Name+" v"+env.Engine.Version)
	if res.RekorLogIndex >= 0 {
		line("rekor_log_index", fmt.Sprint(res.RekorLogIndex))
	}
	if res.SignerIdentity != "" {
		line("signer_identity", res.SignerIdentity)
	}
	if res.SignerIssuer != "" {
		line("signer_issuer", res.SignerIssuer)
	}
	if !res.IntegratedTime.IsZero() {
		line("integrated_time", res.IntegratedTime.UTC().Format(time.RFC3339))
	}
	for _, ts := range res.Timestamps {
		if ts.Kind == "rfc3161" {
			line("rfc3161_timestamp", ts.Time.UTC().Format(time.RFC3339Nano)+" ("+ts.Authority+")")
		}
	}
	if res.KeyID != "" {
		line("key_id", res.KeyID)
	}
	line("trusted_by", res.TrustedBy)
}

func printFailure(w io.Writer, path string, res *verify.Result, err error) {
	fmt.Fprintf(w, "FAIL  %s\n", path)
	fmt.Fprintf(w, "  method:  %s\n", res.Method)
	if res.SignerIdentity != "" {
		fmt.Fprintf(w, "  signer:  %s (issuer %s)\n", res.SignerIdentity, res.SignerIssuer)
	}
	fmt.Fprintf(w, "  reason:  %s\n", failureReason(err))
}

// failureReason phrases err as the reference does where it has a wording.
func failureReason(err error) string {
	if errors.Is(err, verify.ErrUnsigned) {
		return "envelope has no signature"
	}
	return err.Error()
}

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

func newVerifyCommand() *cobra.Command {
	var trust trustFlags
	cmd := &cobra.Command{
		Use:   "verify PATH [--dev-public-key PEM] [--policy FILE] [--require-issuer URL] [--require-identity-pattern RE]",
		Short: "Verify an envelope's content hash, signature and signer",
		Long: `verify recomputes an envelope's content hash, checks its signature, and checks
that the signer is trusted. Trust must be given: a pinned dev key
(--dev-public-key, repeatable), a policy file (--policy), or keyless identity
requirements (--require-issuer, --require-identity-pattern). The key an
envelope carries is never trusted on its own; --insecure-trust-embedded-key
checks integrity only and says so.

Issuer and identity requirements apply whatever the signature method, so they
reject dev-key envelopes. --require-identity-pattern is searched for anywhere in
the identity, as in the reference implementation; anchor it (^...$) or use a
policy file, whose patterns must match the whole identity.

Exit status: 0 verified; 1 signature or policy failure (no signature, tampered
or wrong key, key not pinned, identity or issuer mismatch); 2 the envelope could
not be loaded (missing file, bad JSON, schema violation, fingerprint mismatch).
PATH "-" reads standard input.`,
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
	if res.KeyID != "" {
		line("key_id", res.KeyID)
	}
	line("trusted_by", res.TrustedBy)
}

func printFailure(w io.Writer, path string, res *verify.Result, err error) {
	fmt.Fprintf(w, "FAIL  %s\n", path)
	fmt.Fprintf(w, "  method:  %s\n", res.Method)
	fmt.Fprintf(w, "  reason:  %s\n", failureReason(err))
}

// failureReason phrases err as the reference does where it has a wording.
func failureReason(err error) string {
	if errors.Is(err, verify.ErrUnsigned) {
		return "envelope has no signature"
	}
	return err.Error()
}

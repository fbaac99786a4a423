package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope/devkey"
)

func newSignCommand() *cobra.Command {
	var keyPath, out string
	cmd := &cobra.Command{
		Use:   "sign --key KEY FILE [--out PATH]",
		Short: "Sign an unsigned envelope with a dev key",
		Long: `sign adds a dev-key (Ed25519) signature to an unsigned envelope, in the
reference implementation's format: the signature covers the 64 hex characters
of the content hash. The envelope is normalised as the reference does (defaults
filled in, strings stripped) and written with two-space indentation.

Without --out the file is replaced atomically; --out - writes to standard
output. An envelope that already carries a signature is refused: remove the
signature block first if you really mean to re-sign it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if keyPath == "" {
				return fail(exitInvalid, "--key is required (create one with 'bench keygen')")
			}
			priv, err := devkey.LoadPrivateKey(keyPath)
			if err != nil {
				return fail(exitInvalid, "signing key: %v", err)
			}
			env, err := loadEnvelope(file)
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			hash, err := devkey.Sign(env, priv)
			if errors.Is(err, devkey.ErrAlreadySigned) {
				return fail(exitFailed, "%s: %v", file, err)
			}
			if err != nil {
				return fail(exitFailed, "signing %s: %v", file, err)
			}
			data := env.MarshalIndent()
			dest := out
			if dest == "" {
				dest = file
			}
			if dest == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			perm := os.FileMode(0o644)
			if st, err := os.Stat(dest); err == nil {
				perm = st.Mode().Perm()
			}
			if err := writeFileAtomic(dest, data, perm); err != nil {
				return fail(exitFailed, "writing %s: %v", dest, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "signed %s\n  content_hash:  %s\n  key id:        %s\n", dest, hash, devkey.KeyID(priv.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyPath, "key", "k", "", "PKCS#8 PEM Ed25519 private key (from 'bench keygen')")
	cmd.Flags().StringVarP(&out, "out", "o", "", "where to write the signed envelope (default: replace FILE; - for stdout)")
	return cmd
}

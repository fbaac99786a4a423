package main

import (
	"crypto/ed25519"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope/devkey"
)

func newKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen [--out PATH]",
		Short: "Create an Ed25519 dev signing key pair",
		Long: `keygen writes a new Ed25519 private key (PKCS#8 PEM, mode 0600) to PATH and
its public key (SPKI PEM) beside it: bench.key -> bench.pub, anything else gets
.pub appended. It never overwrites an existing file.

Dev keys are for development and private fleets: whoever verifies must pin the
public key (bench verify --dev-public-key bench.pub). Published results should
be signed keylessly through an OIDC identity instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, err := devkey.Generate()
			if err != nil {
				return fail(exitFailed, "generating a key: %v", err)
			}
			pubPath, err := devkey.WriteKeyPair(out, priv)
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "private key: %s (mode 0600, keep it secret)\n", out)
			fmt.Fprintf(w, "public key:  %s\n", pubPath)
			fmt.Fprintf(w, "key id:      %s\n", devkey.KeyID(priv.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "bench.key", "where to write the private key; the public key goes beside it")
	return cmd
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newHashCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash FILE...",
		Short: "Print the content hash of envelopes",
		Long: `hash prints "<content_hash>  FILE" for each envelope: the lowercase hex sha256
of the canonical JSON of everything but the signature, exactly as the reference
implementation computes it (and what a signature signs). "-" reads standard
input. A file that cannot be read is reported and the others still hashed;
the exit status is then 2.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			failed := false
			for _, f := range files {
				env, err := loadEnvelope(f)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "bench hash:", err)
					failed = true
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s\n", env.ContentHash(), f)
			}
			if failed {
				return silentExit(exitInvalid)
			}
			return nil
		},
	}
}

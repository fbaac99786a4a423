package main

import (
	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope"
)

func newSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the envelope's JSON Schema",
		Long: `schema prints the JSON Schema (draft 2020-12) of a v1 envelope, generated from
the Go types that decode it; schemas/envelope.v1.schema.json is the same text.
The schema describes normalised envelopes; verification also checks what a
schema cannot express, such as the hardware fingerprint hash.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(envelope.JSONSchema())
			return err
		},
	}
}

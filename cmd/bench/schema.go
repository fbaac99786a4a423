package main

import (
	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
)

func newSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema [envelope|bus-message]",
		Short: "Print the JSON Schema of the envelope or of a bus message",
		Long: `schema prints a JSON Schema (draft 2020-12) generated from the Go types:

  envelope      a v1 envelope (the default); schemas/envelope.v1.schema.json
  bus-message   a message on the pipeline's streams, as {"stream", "subject",
                "headers", "body"}; schemas/bus-message.v1.schema.json

The envelope schema describes normalised envelopes; verification also checks
what a schema cannot express, such as the hardware fingerprint hash.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"envelope", "bus-message"},
		RunE: func(cmd *cobra.Command, args []string) error {
			which := "envelope"
			if len(args) == 1 {
				which = args[0]
			}
			var out []byte
			switch which {
			case "envelope":
				out = envelope.JSONSchema()
			case "bus-message":
				out = bus.MessageSchema()
			default:
				return fail(exitInvalid, "schema %q: want envelope or bus-message", which)
			}
			_, err := cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

package main

import (
	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner/fleet"
)

func newSchemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema [envelope|bus-message|job]",
		Short: "Print the JSON Schema of the envelope, a bus message or a fleet job",
		Long: `schema prints a JSON Schema (draft 2020-12) generated from the Go types:

  envelope      a v1 envelope (the default); schemas/envelope.v1.schema.json
  bus-message   a message on the pipeline's streams, as {"stream", "subject",
                "headers", "body"}; schemas/bus-message.v1.schema.json
  job           a fleet job's spec (the jobs stream's body); schemas/job.v1.schema.json

The envelope schema describes normalised envelopes; verification also checks
what a schema cannot express, such as the hardware fingerprint hash.`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"envelope", "bus-message", "job"},
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
			case "job":
				out = fleet.JSONSchema()
			default:
				return fail(exitInvalid, "schema %q: want envelope, bus-message or job", which)
			}
			_, err := cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

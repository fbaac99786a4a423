// Package schemas holds the JSON Schemas of everything InferenceBench writes:
// the envelope and, as the pipeline grows, every bus message. The files are
// generated from the Go types (make schemas) and a test fails when one is
// stale, so the schemas published here are always the ones the code obeys.
package schemas

import (
	"embed"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner/fleet"
)

// Files holds the checked-in schema files.
//
//go:embed *.schema.json
var Files embed.FS

// Generated returns every schema file's name and its content generated from
// the Go types.
func Generated() map[string][]byte {
	return map[string][]byte{
		"envelope.v1.schema.json":    envelope.JSONSchema(),
		"bus-message.v1.schema.json": bus.MessageSchema(),
		"job.v1.schema.json":         fleet.JSONSchema(),
	}
}

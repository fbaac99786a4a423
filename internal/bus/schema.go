package bus

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// HeaderDescriptions documents every header of the contract.
var HeaderDescriptions = map[string]string{
	jetstream.MsgIDHeader: "the message id JetStream de-duplicates on: <stage>:<content_hash> (see each stream)",
	HdrContentHash:        "sha256 (64 lowercase hex digits) of the envelope body without its signature: the same at every stage",
	HdrRunID:              "the envelope's run_id (a UUID): the correlation id in every stage's logs",
	HdrStage:              "the stage that published the message: runner, signer, verifier or indexer",
	HdrReason:             "why the stage refused the message (at most 4096 bytes)",
	HdrFromSubject:        "the subject the refused message arrived on",
	HdrDeliveries:         "how often the stage was given the message before refusing it",
	HdrRejectedAt:         "when it was refused (RFC 3339, UTC)",
	HdrSignerID:           "the dev key id (16 hex digits) or the keyless identity that signed the envelope",
	HdrTraces:             "the URI of the run's trace object (s3://bucket/traces/sha256/<hex>.parquet)",
	HdrJobID:              "fleet runs: the job (32 hex digits) the message or envelope belongs to",
	HdrBatchID:            "fleet runs: the batch (16 hex digits) the job belongs to",
}

var headerPatterns = map[string]string{
	HdrContentHash: "^[0-9a-f]{64}$",
	HdrRunID:       "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
	HdrStage:       "^(runner|signer|verifier|indexer)$",
	HdrDeliveries:  "^[1-9][0-9]*$",
}

// MessageSchemaID is the $id of the bus message schema.
const MessageSchemaID = "https://github.com/inferencebench/bench/schemas/bus-message.v1.schema.json"

// JobSchemaID is the $id of the job spec schema (services/runner/fleet).
const JobSchemaID = "https://github.com/inferencebench/bench/schemas/job.v1.schema.json"

// EnvelopeSchemaID is the $id of the envelope schema the message schema refers to.
const EnvelopeSchemaID = "https://github.com/inferencebench/bench/schemas/envelope.v1.schema.json"

// MessageSchema is the JSON Schema (draft 2020-12) of a bus message written
// as a JSON document {"stream", "subject", "headers", "body"}: headers as
// NATS carries them (each a list of strings), body the payload parsed as
// JSON. It is generated from Streams, so it cannot drift from the code;
// schemas/bus-message.v1.schema.json is the same text.
func MessageSchema() []byte {
	var kinds []any
	for _, s := range Streams {
		headers := map[string]any{}
		for name, desc := range HeaderDescriptions {
			item := map[string]any{"type": "string"}
			if p, ok := headerPatterns[name]; ok {
				item["pattern"] = p
			}
			headers[name] = map[string]any{"description": desc, "type": "array", "minItems": 1, "items": item}
		}
		idDigits := "64"
		var body any = map[string]any{"$ref": EnvelopeSchemaID}
		switch s.Name {
		case StreamRejected:
			body = map[string]any{"description": "the refused message's payload, verbatim (when it was JSON)"}
		case StreamJobs:
			body = map[string]any{"$ref": JobSchemaID}
			idDigits = "32"
		}
		if s.Name != StreamRejected {
			headers[jetstream.MsgIDHeader].(map[string]any)["items"] = map[string]any{
				"type": "string", "pattern": "^" + regexp.QuoteMeta(strings.SplitN(s.MsgID, ":", 2)[0]) + ":[0-9a-f]{" + idDigits + "}$"}
		}
		kinds = append(kinds, map[string]any{
			"title":       s.Name,
			"description": s.Purpose,
			"type":        "object",
			"required":    []string{"stream", "subject", "headers"},
			"properties": map[string]any{
				"stream":  map[string]any{"const": s.Name},
				"subject": map[string]any{"type": "string", "pattern": subjectPattern(s.Subjects[0])},
				"headers": map[string]any{"type": "object", "required": s.Headers, "properties": headers},
				"body":    body,
			},
		})
	}
	schema := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         MessageSchemaID,
		"title":       "InferenceBench bus message v1",
		"description": "A message on one of the pipeline's JetStream streams (see docs/architecture.md, the bus contract).",
		"oneOf":       kinds,
	}
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		panic(err) // static data
	}
	return append(b, '\n')
}

// subjectPattern turns "a.b.>" into a regexp for its subjects.
func subjectPattern(wildcard string) string {
	return "^" + regexp.QuoteMeta(strings.TrimSuffix(wildcard, ">")) + `[^.\s]+(\.[^.\s]+)*$`
}

// ContractTable renders Streams as the Markdown table docs/architecture.md
// shows (a test keeps the two identical).
func ContractTable() string {
	var b strings.Builder
	b.WriteString("| stream | subjects | retention | consumer (stage) | message body | Nats-Msg-Id | required headers | purpose |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, s := range Streams {
		retention := "work queue"
		if s.Retention == jetstream.LimitsPolicy {
			retention = "limits (kept)"
		}
		consumer := s.Consumer
		if consumer == "" {
			consumer = "subscribers (`bench watch`, ordered consumers)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | `%s` | %s | %s |\n", s.Name, strings.Join(s.Subjects, "`, `"), retention,
			consumer, s.Schema, s.MsgID, "`"+strings.Join(s.Headers, "`, `")+"`", s.Purpose)
	}
	return b.String()
}

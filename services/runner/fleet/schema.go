package fleet

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/inferencebench/bench/internal/bus"
)

// JSONSchema is the JSON Schema (draft 2020-12) of a job spec, the body of
// a message on the jobs stream, generated from Spec's JSON tags so that it
// cannot drift; schemas/job.v1.schema.json is the same text.
func JSONSchema() []byte {
	s := typeSchema(reflect.TypeOf(Spec{}))
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = bus.JobSchemaID
	s["title"] = "InferenceBench fleet job v1"
	s["description"] = "One job of a batch: an engine serving a model, measured at a sweep of load points on one dataset with one seed. Its id is the first 32 hex digits of the sha256 of its canonical JSON."
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // static types
	}
	return append(b, '\n')
}

func typeSchema(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			props[name] = typeSchema(f.Type)
			if !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
		out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			out["required"] = required
		}
		return out
	}
	panic("fleet: no schema for " + t.String())
}

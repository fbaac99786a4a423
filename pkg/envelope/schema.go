package envelope

import (
	"encoding/json"
	"reflect"
)

// SchemaID is the $id of the envelope's JSON Schema.
const SchemaID = "https://github.com/inferencebench/bench/schemas/envelope.v1.schema.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of a normalised v1
// envelope, generated from the struct tags that also drive Decode. It
// describes what this package writes; Decode also accepts the lax forms the
// reference accepts (the string "42" for an integer, and so on), and checks
// what a schema cannot express (the fingerprint hash).
func JSONSchema() []byte {
	g := schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Envelope]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "InferenceBench envelope v1"
	root["description"] = "One benchmark run's metrics bound to the model, engine, hardware, software, dataset and seed that produced them. " +
		"Byte-compatible with the reference implementation; the content hash is sha256 of the canonical JSON of everything but 'signature'."
	root["$defs"] = g.defs
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(out, '\n')
}

type schemaGen struct {
	defs map[string]any
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	plan := planFor(t)
	props := map[string]any{}
	required := []string{}
	for i := range plan.fields {
		f := &plan.fields[i]
		props[f.name] = g.field(f)
		if !f.rules.optional {
			required = append(required, f.name)
		}
	}
	return map[string]any{
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": true, // unknown fields are kept and hashed
	}
}

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	if _, ok := g.defs[t.Name()]; !ok {
		g.defs[t.Name()] = nil // reserve: guards against recursion
		g.defs[t.Name()] = g.object(t)
	}
	return map[string]any{"$ref": "#/$defs/" + t.Name()}
}

func (g *schemaGen) field(f *field) map[string]any {
	r := &f.rules
	var s map[string]any
	switch f.kind {
	case kindString:
		s = map[string]any{"type": "string"}
		if r.minLen >= 0 {
			s["minLength"] = r.minLen
		}
		if r.maxLen >= 0 {
			s["maxLength"] = r.maxLen
		}
		if r.pattern != "" {
			s["pattern"] = patterns[r.pattern].schema
		}
		if len(r.enum) == 1 {
			s["const"] = r.enum[0]
		} else if r.enum != nil {
			s["enum"] = r.enum
		}
	case kindBool:
		s = map[string]any{"type": "boolean"}
	case kindInt64, kindBigInt:
		s = map[string]any{"type": "integer"}
		if r.min != nil {
			s["minimum"] = *r.min
		}
		if r.max != nil {
			s["maximum"] = *r.max
		}
	case kindTime:
		s = map[string]any{"type": "string", "format": "date-time"}
	case kindValue:
		s = map[string]any{"type": "object"}
	case kindStrings:
		s = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	case kindStruct:
		s = g.ref(f.typ)
	case kindOptStruct:
		s = map[string]any{"anyOf": []any{g.ref(f.typ.Elem()), map[string]any{"type": "null"}}}
	case kindStructSlice:
		s = map[string]any{"type": "array", "items": g.ref(f.typ.Elem())}
	case kindCustom:
		s = reflect.Zero(f.typ).Interface().(mapCodec).jsonSchema()
		if r.nonempty {
			s["minProperties"] = 1
		}
	}
	if r.hasDef {
		s["default"] = defaultValue(f)
	} else if r.optional {
		switch f.kind {
		case kindString:
			s["default"] = ""
		case kindBool:
			s["default"] = false
		case kindStrings, kindStructSlice:
			s["default"] = []any{}
		case kindValue, kindCustom:
			s["default"] = map[string]any{}
		case kindOptStruct:
			s["default"] = nil
		}
	}
	return s
}

func defaultValue(f *field) any {
	if f.kind == kindInt64 {
		var n int64
		if err := json.Unmarshal([]byte(f.rules.def), &n); err == nil {
			return n
		}
	}
	return f.rules.def
}

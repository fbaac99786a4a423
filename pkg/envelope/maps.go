package envelope

import (
	"fmt"
	"math"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// Metric is one named measurement. Its value is an Int, Float, String or Null
// canonjson.Value: the reference keeps integers and floats apart, so 612 and
// 612.0 hash differently.
type Metric struct {
	Name  string
	Value canonjson.Value
}

// Metrics is the metrics map of an envelope, in insertion order.
type Metrics []Metric

// Get returns the value of the named metric.
func (m Metrics) Get(name string) (canonjson.Value, bool) {
	for i := range m {
		if m[i].Name == name {
			return m[i].Value, true
		}
	}
	return canonjson.Value{}, false
}

// Float returns a numeric metric as a float64.
func (m Metrics) Float(name string) (float64, bool) {
	v, ok := m.Get(name)
	if !ok || (v.Kind() != canonjson.Float && v.Kind() != canonjson.Int) {
		return 0, false
	}
	return v.Float(), true
}

// Set replaces the named metric, or appends it.
func (m *Metrics) Set(name string, v canonjson.Value) {
	for i := range *m {
		if (*m)[i].Name == name {
			(*m)[i].Value = v
			return
		}
	}
	*m = append(*m, Metric{Name: name, Value: v})
}

// SetFloat sets a float metric. NaN and ±Inf cannot be represented in an
// envelope; they are recorded as null, which is what "not measured" means.
func (m *Metrics) SetFloat(name string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		m.Set(name, canonjson.NullValue())
		return
	}
	m.Set(name, canonjson.FloatValue(f))
}

// SetInt sets an integer metric.
func (m *Metrics) SetInt(name string, i int64) { m.Set(name, canonjson.IntValue(i)) }

// SetString sets a string metric.
func (m *Metrics) SetString(name, s string) { m.Set(name, canonjson.StringValue(s)) }

func (m *Metrics) decodeValue(v canonjson.Value, path *pathElem, errs *fieldErrors) {
	if v.Kind() != canonjson.Object {
		errs.add(path, "must be an object, not %s", kindName(v))
		return
	}
	out := make(Metrics, 0, v.Len())
	for _, mem := range v.Members() {
		name := strip(mem.Key)
		at := path.key(name)
		val := mem.Value
		switch val.Kind() {
		case canonjson.Int, canonjson.Float, canonjson.Null:
		case canonjson.String:
			val = canonjson.StringValue(strip(val.Str()))
		case canonjson.Bool:
			// float | int | str | None: a bool is taken as the float 1.0 or 0.0.
			val = canonjson.FloatValue(map[bool]float64{true: 1, false: 0}[val.Bool()])
		default:
			errs.add(at, "must be a number, a string or null, not %s", kindName(val))
			continue
		}
		if _, dup := out.Get(name); dup {
			errs.add(at, "duplicate metric name after whitespace stripping")
			continue
		}
		out = append(out, Metric{Name: name, Value: val})
	}
	*m = out
}

func (m Metrics) encodeValue() canonjson.Value {
	members := make([]canonjson.Member, len(m))
	for i, metric := range m {
		members[i] = canonjson.Member{Key: metric.Name, Value: metric.Value}
	}
	return canonjson.ObjectValue(members)
}

func (Metrics) jsonSchema() map[string]any {
	return map[string]any{
		"type": "object",
		"additionalProperties": map[string]any{
			"type": []any{"number", "string", "null"},
		},
	}
}

// StringEntry is one entry of a StringMap.
type StringEntry struct {
	Key, Value string
}

// StringMap is a JSON object of strings in insertion order (the envelope's
// distributions).
type StringMap []StringEntry

// Get returns the value stored under key.
func (s StringMap) Get(key string) (string, bool) {
	for _, e := range s {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// Set replaces the value under key, or appends it.
func (s *StringMap) Set(key, value string) {
	for i := range *s {
		if (*s)[i].Key == key {
			(*s)[i].Value = value
			return
		}
	}
	*s = append(*s, StringEntry{Key: key, Value: value})
}

func (s *StringMap) decodeValue(v canonjson.Value, path *pathElem, errs *fieldErrors) {
	if v.Kind() != canonjson.Object {
		errs.add(path, "must be an object, not %s", kindName(v))
		return
	}
	out := make(StringMap, 0, v.Len())
	for _, mem := range v.Members() {
		key := strip(mem.Key)
		at := path.key(key)
		if mem.Value.Kind() != canonjson.String {
			errs.add(at, "must be a string, not %s", kindName(mem.Value))
			continue
		}
		if _, dup := out.Get(key); dup {
			errs.add(at, "duplicate key after whitespace stripping")
			continue
		}
		out = append(out, StringEntry{Key: key, Value: strip(mem.Value.Str())})
	}
	*s = out
}

func (s StringMap) encodeValue() canonjson.Value {
	members := make([]canonjson.Member, len(s))
	for i, e := range s {
		members[i] = canonjson.Member{Key: e.Key, Value: canonjson.StringValue(e.Value)}
	}
	return canonjson.ObjectValue(members)
}

func (StringMap) jsonSchema() map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
}

func kindName(v canonjson.Value) string {
	switch v.Kind() {
	case canonjson.Int:
		return fmt.Sprintf("an integer (%s)", abbreviate(v.IntText()))
	case canonjson.Float:
		return "a float"
	case canonjson.String:
		return fmt.Sprintf("a string (%q)", abbreviate(v.Str()))
	case canonjson.Null:
		return "null"
	case canonjson.Bool:
		return fmt.Sprintf("a boolean (%t)", v.Bool())
	case canonjson.Array:
		return "an array"
	}
	return "an object"
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

package envelope

import (
	"fmt"
	"math"
	"slices"

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

func (m *Metrics) decodeJSON(st *decodeState) error {
	d := st.d
	if ok, err := st.expect(canonjson.Object, "an object"); !ok {
		return err
	}
	if err := d.BeginObject(); err != nil {
		return err
	}
	// Collected on the stack, then copied to a slice of exactly their
	// number: envelopes hold anything from one metric to a few dozen.
	var buf [32]Metric
	out := buf[:0]
	var stripped strippedKeys
	for {
		key, more, err := d.NextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		val, err := readAny(d)
		if err != nil {
			return err
		}
		name := strip(key)
		switch val.Kind() {
		case canonjson.Int, canonjson.Float, canonjson.Null:
		case canonjson.String:
			val = canonjson.StringValue(strip(val.Str()))
		case canonjson.Bool:
			// float | int | str | None: a bool is taken as the float 1.0 or 0.0.
			val = canonjson.FloatValue(map[bool]float64{true: 1, false: 0}[val.Bool()])
		default:
			st.failKey(name, "must be a number, a string or null, not %s", kindName(val))
			continue
		}
		// Keys equal after stripping: pydantic would silently keep the last;
		// like duplicate keys, they are refused.
		if stripped.mayCollide(name, key) && slices.ContainsFunc(out, func(m Metric) bool { return m.Name == name }) {
			st.failKey(name, "duplicate metric name after whitespace stripping")
			continue
		}
		out = append(out, Metric{Name: name, Value: val})
	}
	*m = make(Metrics, len(out))
	copy(*m, out)
	return nil
}

func (m Metrics) appendJSON(dst []byte, sorted bool) []byte {
	dst = append(dst, '{')
	write := func(i int, metric *Metric) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonjson.AppendString(dst, metric.Name)
		dst = append(dst, ':')
		dst = canonjson.AppendCanonical(dst, metric.Value)
	}
	if !sorted {
		for i := range m {
			write(i, &m[i])
		}
		return append(dst, '}')
	}
	var stack [32]int
	order := sortedByName(stack[:0], len(m), func(i int) string { return m[i].Name })
	for i, idx := range order {
		write(i, &m[idx])
	}
	return append(dst, '}')
}

// sortedByName appends 0..n-1 to order[:0] and sorts them by name(i), as
// Go compares strings (byte order, which is Python's code point order for
// valid UTF-8). It is an insertion sort, since maps in an envelope hold a
// few dozen entries at most, on the names' first eight bytes as integers,
// comparing whole names only when those are equal. Callers pass a stack
// array, so the common case allocates nothing.
func sortedByName(order []int, n int, name func(i int) string) []int {
	type key struct {
		prefix uint64 // the first 8 bytes, big-endian, zero-padded
		i      int
	}
	var stack [32]key
	keys := stack[:0]
	for i := range n {
		s := name(i)
		var p uint64
		for j := range 8 {
			p <<= 8
			if j < len(s) {
				p |= uint64(s[j])
			}
		}
		keys = append(keys, key{p, i})
		for j := len(keys) - 1; j > 0; j-- {
			a, b := keys[j], keys[j-1]
			if a.prefix > b.prefix || a.prefix == b.prefix && name(a.i) >= name(b.i) {
				break
			}
			keys[j], keys[j-1] = b, a
		}
	}
	order = order[:0]
	for _, k := range keys {
		order = append(order, k.i)
	}
	return order
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

func (s *StringMap) decodeJSON(st *decodeState) error {
	d := st.d
	if ok, err := st.expect(canonjson.Object, "an object"); !ok {
		return err
	}
	if err := d.BeginObject(); err != nil {
		return err
	}
	out := StringMap{}
	var stripped strippedKeys
	for {
		rawKey, more, err := d.NextKey()
		if err != nil {
			return err
		}
		if !more {
			break
		}
		val, err := readAny(d)
		if err != nil {
			return err
		}
		key := strip(rawKey)
		if val.Kind() != canonjson.String {
			st.failKey(key, "must be a string, not %s", kindName(val))
			continue
		}
		if stripped.mayCollide(key, rawKey) && slices.ContainsFunc(out, func(e StringEntry) bool { return e.Key == key }) {
			st.failKey(key, "duplicate key after whitespace stripping")
			continue
		}
		out = append(out, StringEntry{Key: key, Value: strip(val.Str())})
	}
	*s = out
	return nil
}

func (s StringMap) appendJSON(dst []byte, sorted bool) []byte {
	var stack [32]int
	order := sortedByName(stack[:0], len(s), func(i int) string { return s[i].Key })
	if !sorted {
		for i := range order {
			order[i] = i
		}
	}
	dst = append(dst, '{')
	for i, idx := range order {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = canonjson.AppendString(dst, s[idx].Key)
		dst = append(dst, ':')
		dst = canonjson.AppendString(dst, s[idx].Value)
	}
	return append(dst, '}')
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

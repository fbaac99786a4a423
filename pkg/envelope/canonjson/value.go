// Package canonjson reads JSON strictly and writes it exactly as Python's json
// module does, so that hashes computed here match hashes computed by the
// reference implementation byte for byte.
//
// A Value keeps what encoding/json forgets: whether a number was written as an
// integer or a float (Python keeps 612 and 20.0 apart), integers of any size,
// and the order of object members. Parse rejects what Python would read
// differently or not at all: duplicate keys, NaN and Infinity, invalid UTF-8,
// lone surrogates, floats that overflow, integers longer than Python's limit.
//
// Canonical produces json.dumps(v, sort_keys=True, separators=(",", ":")), the
// bytes behind every content hash; AppendIndent produces json.dumps(v,
// indent=2), the layout of the reference's envelope files.
package canonjson

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// Kind is the JSON type of a Value, with numbers split into integers and floats.
type Kind uint8

// The kinds of JSON value. The zero Value is Null.
const (
	Null Kind = iota
	Bool
	Int
	Float
	String
	Array
	Object
)

var kindNames = [...]string{"null", "boolean", "integer", "number", "string", "array", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Value is one JSON value. Values are immutable once built: the accessors
// return shared slices that callers must not modify.
//
// A Value is 40 bytes: envelopes are mostly small scalars (a NUMA topology
// alone can hold hundreds of CPU numbers), so its size sets the cost of
// parsing them.
type Value struct {
	kind    Kind
	boolean bool
	float   float64
	str     string     // String: the text; Int: canonical decimal digits; Float: its repr if known, or ""; see below
	c       *container // Array and Object
}

// An Array or Object Value whose c is nil holds its canonical text in str
// instead of a tree (Decoder.ReadCanonical): most of an envelope's values
// sit in free-form objects that are hashed but seldom inspected.

type container struct {
	elems   []Value  // Array
	members []Member // Object, in document order
}

// Member is one name/value pair of an object.
type Member struct {
	Key   string
	Value Value
}

// NullValue returns the JSON null.
func NullValue() Value { return Value{} }

// BoolValue returns a JSON boolean.
func BoolValue(b bool) Value { return Value{kind: Bool, boolean: b} }

// StringValue returns a JSON string.
func StringValue(s string) Value { return Value{kind: String, str: s} }

// IntValue returns a JSON integer.
func IntValue(i int64) Value { return Value{kind: Int, str: strconv.FormatInt(i, 10)} }

// BigIntValue returns a JSON integer of any size.
func BigIntValue(i *big.Int) Value { return Value{kind: Int, str: i.String()} }

// FloatValue returns a JSON float. It panics on NaN or ±Inf, which JSON cannot
// carry: callers holding measured values must check them first.
func FloatValue(f float64) Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic("canonjson: FloatValue of " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	return Value{kind: Float, float: f}
}

// ArrayValue returns a JSON array holding elems (not copied).
func ArrayValue(elems []Value) Value { return Value{kind: Array, c: &container{elems: elems}} }

// ObjectValue returns a JSON object holding members in the given order (not
// copied). Keys must be unique; Canonical sorts them.
func ObjectValue(members []Member) Value {
	return Value{kind: Object, c: &container{members: members}}
}

// Kind reports the value's JSON type.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is JSON null.
func (v Value) IsNull() bool { return v.kind == Null }

// Bool returns the boolean of a Bool value.
func (v Value) Bool() bool { return v.boolean }

// Float returns the number of a Float or Int value as a float64 (rounded for
// integers that do not fit exactly).
func (v Value) Float() float64 {
	if v.kind == Int {
		f, _ := strconv.ParseFloat(v.str, 64)
		return f
	}
	return v.float
}

// IntText returns the decimal digits of an Int value, with a leading '-' for
// negative numbers and no leading zeros.
func (v Value) IntText() string {
	if v.kind != Int {
		return ""
	}
	return v.str
}

// Int64 returns an Int value as int64, and false if it does not fit.
func (v Value) Int64() (int64, bool) {
	if v.kind != Int {
		return 0, false
	}
	i, err := strconv.ParseInt(v.str, 10, 64)
	return i, err == nil
}

// BigInt returns an Int value as a big.Int.
func (v Value) BigInt() *big.Int {
	if v.kind != Int {
		return nil
	}
	i, _ := new(big.Int).SetString(v.str, 10)
	return i
}

// Str returns the text of a String value.
func (v Value) Str() string {
	if v.kind != String {
		return ""
	}
	return v.str
}

// Elems returns the elements of an Array value.
func (v Value) Elems() []Value {
	if v.kind != Array {
		return nil
	}
	return v.tree().elems
}

// Members returns the members of an Object value (in document order, or in
// key order for a Value read by Decoder.ReadCanonical).
func (v Value) Members() []Member {
	if v.kind != Object {
		return nil
	}
	return v.tree().members
}

// tree returns the container of an Array or Object, parsing canonical text
// when that is all the Value holds.
func (v Value) tree() *container {
	if v.c != nil {
		return v.c
	}
	if v.str == "" {
		return &container{}
	}
	t, err := Parse([]byte(v.str))
	if err != nil || t.c == nil {
		panic("canonjson: corrupt canonical text in a Value: " + v.str)
	}
	return t.c
}

// isRaw reports whether v is a container held as canonical text.
func (v Value) isRaw() bool {
	return (v.kind == Array || v.kind == Object) && v.c == nil && v.str != ""
}

// Get returns the value of the member named key and whether it exists.
func (v Value) Get(key string) (Value, bool) {
	members := v.Members()
	for i := range members {
		if members[i].Key == key {
			return members[i].Value, true
		}
	}
	return Value{}, false
}

// Len returns the number of elements or members of an Array or Object.
func (v Value) Len() int {
	switch v.kind {
	case Array:
		return len(v.Elems())
	case Object:
		return len(v.Members())
	}
	return 0
}

// Equal reports whether a and b are the same JSON value: same kinds, same
// numbers, same strings, same members regardless of order.
func Equal(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case Null:
		return true
	case Bool:
		return a.boolean == b.boolean
	case Float:
		return math.Float64bits(a.float) == math.Float64bits(b.float)
	case Int, String:
		return a.str == b.str
	case Array, Object:
		if a.isRaw() && b.isRaw() {
			return a.str == b.str // canonical text is unique per value
		}
	}
	switch a.kind {
	case Array:
		ae, be := a.Elems(), b.Elems()
		if len(ae) != len(be) {
			return false
		}
		for i := range ae {
			if !Equal(ae[i], be[i]) {
				return false
			}
		}
		return true
	case Object:
		if a.Len() != b.Len() {
			return false
		}
		for _, m := range a.Members() {
			other, ok := b.Get(m.Key)
			if !ok || !Equal(m.Value, other) {
				return false
			}
		}
		return true
	}
	return false
}

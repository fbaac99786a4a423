package canonjson

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Canonical returns the canonical form of v: the bytes of Python's
// json.dumps(v, sort_keys=True, separators=(",", ":")).
func Canonical(v Value) []byte { return AppendCanonical(nil, v) }

// AppendCanonical appends the canonical form of v to dst.
func AppendCanonical(dst []byte, v Value) []byte {
	switch v.kind {
	case Null:
		return append(dst, "null"...)
	case Bool:
		if v.boolean {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case Int:
		return append(dst, v.str...)
	case Float:
		if v.str != "" { // the literal read, when it is already canonical
			return append(dst, v.str...)
		}
		return AppendFloat(dst, v.float)
	case String:
		return AppendString(dst, v.str)
	case Array:
		if v.c == nil {
			return append(dst, v.str...)
		}
		dst = append(dst, '[')
		for i, e := range v.Elems() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendCanonical(dst, e)
		}
		return append(dst, ']')
	case Object:
		if v.c == nil {
			return append(dst, v.str...)
		}
		dst = append(dst, '{')
		members := v.Members()
		var stack [24]int32
		for i, idx := range sortedOrder(members, stack[:0]) {
			if i > 0 {
				dst = append(dst, ',')
			}
			m := &members[idx]
			dst = AppendString(dst, m.Key)
			dst = append(dst, ':')
			dst = AppendCanonical(dst, m.Value)
		}
		return append(dst, '}')
	}
	return dst
}

// sortedOrder returns the indexes of members sorted by key. Python sorts keys
// by code point, which for valid UTF-8 is the byte order Go compares strings
// in. Objects here are small, so an insertion sort over indexes beats
// sort.Slice and leaves the members themselves untouched.
func sortedOrder(members []Member, idx []int32) []int32 {
	for i := range members {
		idx = append(idx, int32(i))
		for j := len(idx) - 1; j > 0 && members[idx[j]].Key < members[idx[j-1]].Key; j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
	return idx
}

// AppendIndent appends v as Python's json.dumps(v, indent=indent) writes it:
// members in their order, ", " replaced by a newline and indentation, ": "
// between key and value, and non-ASCII characters escaped.
func AppendIndent(dst []byte, v Value, indent int) []byte {
	return appendIndent(dst, v, indent, 0)
}

func appendIndent(dst []byte, v Value, indent, level int) []byte {
	newline := func(dst []byte, level int) []byte {
		dst = append(dst, '\n')
		for i := 0; i < indent*level; i++ {
			dst = append(dst, ' ')
		}
		return dst
	}
	switch v.kind {
	case Array:
		elems := v.Elems()
		if len(elems) == 0 {
			return append(dst, "[]"...)
		}
		dst = append(dst, '[')
		for i := range elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, level+1)
			dst = appendIndent(dst, elems[i], indent, level+1)
		}
		dst = newline(dst, level)
		return append(dst, ']')
	case Object:
		members := v.Members()
		if len(members) == 0 {
			return append(dst, "{}"...)
		}
		dst = append(dst, '{')
		for i := range members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = newline(dst, level+1)
			dst = AppendString(dst, members[i].Key)
			dst = append(dst, ": "...)
			dst = appendIndent(dst, members[i].Value, indent, level+1)
		}
		dst = newline(dst, level)
		return append(dst, '}')
	}
	return AppendCanonical(dst, v)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string the way Python's json.dumps does
// with ensure_ascii: short escapes for \" \\ \n \r \t \b \f, \u00XX for other
// control characters and DEL, \uXXXX (UTF-16 surrogate pairs above U+FFFF)
// for everything outside printable ASCII. '/', '<', '>' and '&' stay as they are.
func AppendString(dst []byte, s string) []byte {
	// The common case, nothing to escape, without going through the generic
	// appendString (one call fewer, for every string of every hash).
	if isCanonical(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return appendString(dst, s)
}

func appendString[T text](dst []byte, s T) []byte {
	dst = append(dst, '"')
	if isCanonical(s) { // the common case: nothing to escape
		dst = append(dst, s...)
		return append(dst, '"')
	}
	i, start := scanCanonical(s, 0), 0
	for i < len(s) {
		c := s[i]
		if canonicalASCII[c] {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				dst = append(dst, '\\', '"')
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = appendU4(dst, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r >= 0x10000 {
			r -= 0x10000
			dst = appendU4(dst, 0xD800+(r>>10))
			dst = appendU4(dst, 0xDC00+(r&0x3FF))
		} else {
			// Invalid UTF-8 cannot come from Parse; if a caller builds such a
			// string anyway it is written as U+FFFD.
			dst = appendU4(dst, r)
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xF], hexDigits[r>>8&0xF], hexDigits[r>>4&0xF], hexDigits[r&0xF])
}

// AppendFloat appends f as Python's repr(float) writes it: the shortest digits
// that round-trip, in fixed notation when the decimal exponent is in [-4, 16)
// and as d.ddde±XX otherwise; integral values keep ".0". It panics on NaN and
// ±Inf, which FloatValue and Parse never let into a Value.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic("canonjson: AppendFloat of a non-finite number")
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	// strconv's 'e' format gives the shortest round-trip digits, as Python
	// does; only the layout differs. Scratch: "-d.dddddddddddddddde-324".
	var scratch [32]byte
	e := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64)
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	// e is now d[.ddd]e±XX
	var digits [17]byte
	nd := 0
	i := 0
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp := 0
	neg := e[i+1] == '-'
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if neg {
		exp = -exp
	}

	if exp < -4 || exp >= 16 {
		dst = append(dst, digits[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:nd]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, '0', '.')
		for j := 0; j < -exp-1; j++ {
			dst = append(dst, '0')
		}
		return append(dst, digits[:nd]...)
	}
	intDigits := exp + 1
	if nd <= intDigits {
		dst = append(dst, digits[:nd]...)
		for j := nd; j < intDigits; j++ {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	}
	dst = append(dst, digits[:intDigits]...)
	dst = append(dst, '.')
	return append(dst, digits[intDigits:nd]...)
}

// AppendCompact appends v without whitespace, keeping object members in
// their order (Canonical sorts them).
func AppendCompact(dst []byte, v Value) []byte {
	switch v.kind {
	case Array:
		if v.c == nil {
			return append(dst, v.str...)
		}
		dst = append(dst, '[')
		for i, e := range v.c.elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendCompact(dst, e)
		}
		return append(dst, ']')
	case Object:
		if v.c == nil {
			return append(dst, v.str...)
		}
		dst = append(dst, '{')
		for i := range v.c.members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, v.c.members[i].Key)
			dst = append(dst, ':')
			dst = AppendCompact(dst, v.c.members[i].Value)
		}
		return append(dst, '}')
	}
	return AppendCanonical(dst, v)
}

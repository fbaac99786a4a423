package canonjson

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DefaultMaxDepth bounds the nesting of arrays and objects that Parse accepts.
// Python's json module fails near 1,000 levels (its recursion limit); no
// envelope comes close to either.
const DefaultMaxDepth = 512

// MaxIntDigits is the longest integer Parse accepts: Python 3.11+ refuses to
// convert longer digit strings (sys.int_info.default_max_str_digits), so the
// reference could neither read nor hash them.
const MaxIntDigits = 4300

// Options tunes Parse. The zero value is ready to use.
type Options struct {
	// MaxDepth is the deepest nesting accepted; 0 means DefaultMaxDepth.
	MaxDepth int
}

// SyntaxError reports JSON that Parse rejects, with the position of the problem.
type SyntaxError struct {
	Offset int    // byte offset of the problem
	Line   int    // 1-based line
	Column int    // 1-based column, in bytes
	Msg    string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// ErrEmpty is returned for input that holds no JSON value at all.
var ErrEmpty = errors.New("invalid JSON: empty input")

// Parse reads exactly one JSON value from data with the default options.
func Parse(data []byte) (Value, error) { return Options{}.Parse(data) }

// Parse reads exactly one JSON value from data. Surrounding whitespace is
// allowed; anything else after the value is an error.
func (o Options) Parse(data []byte) (Value, error) {
	maxDepth := o.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	// One copy of the input lets every unescaped string and number share it.
	p := parser{s: string(data), maxDepth: maxDepth}
	if !utf8.ValidString(p.s) {
		return Value{}, p.errAt(firstInvalidUTF8(p.s), "invalid UTF-8")
	}
	if strings.HasPrefix(p.s, "\uFEFF") {
		return Value{}, p.errAt(0, "unexpected byte order mark (U+FEFF) before the value")
	}
	p.skipSpace()
	if p.pos == len(p.s) {
		return Value{}, ErrEmpty
	}
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return Value{}, p.errAt(p.pos, "unexpected data after the top-level value")
	}
	return v, nil
}

type parser struct {
	s        string
	pos      int
	maxDepth int
	// Scratch stacks reused across containers so that each array or object
	// costs one allocation of exactly its size.
	elems   []Value
	members []Member
	buf     []byte
}

func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	line, col := 1, 1
	for i := 0; i < off && i < len(p.s); i++ {
		if p.s[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func firstInvalidUTF8(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(s)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if p.pos >= len(p.s) {
		return Value{}, p.errAt(p.pos, "unexpected end of input")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.string()
		return Value{kind: String, str: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", Value{kind: Bool, boolean: true})
	case c == 'f':
		return p.literal("false", Value{kind: Bool})
	case c == 'n':
		return p.literal("null", Value{})
	case c == 'N' || c == 'I':
		return Value{}, p.errAt(p.pos, "NaN and Infinity are not valid JSON numbers")
	default:
		return Value{}, p.errAt(p.pos, "unexpected character %q", c)
	}
}

func (p *parser) literal(word string, v Value) (Value, error) {
	if !strings.HasPrefix(p.s[p.pos:], word) {
		return Value{}, p.errAt(p.pos, "invalid literal (expected %s)", word)
	}
	p.pos += len(word)
	return v, nil
}

func (p *parser) array(depth int) (Value, error) {
	if depth > p.maxDepth {
		return Value{}, p.errAt(p.pos, "nesting deeper than %d levels", p.maxDepth)
	}
	p.pos++ // '['
	base := len(p.elems)
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		return Value{kind: Array, elems: []Value{}}, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		p.elems = append(p.elems, v)
		p.skipSpace()
		if p.pos >= len(p.s) {
			return Value{}, p.errAt(p.pos, "unexpected end of input in array")
		}
		c := p.s[p.pos]
		p.pos++
		if c == ']' {
			break
		}
		if c != ',' {
			return Value{}, p.errAt(p.pos-1, "expected ',' or ']' in array, found %q", c)
		}
	}
	elems := make([]Value, len(p.elems)-base)
	copy(elems, p.elems[base:])
	clear(p.elems[base:]) // drop references so the scratch does not pin them
	p.elems = p.elems[:base]
	return Value{kind: Array, elems: elems}, nil
}

// dupScanLimit is the object size up to which duplicate keys are found by a
// linear scan; larger objects use a map.
const dupScanLimit = 32

func (p *parser) object(depth int) (Value, error) {
	if depth > p.maxDepth {
		return Value{}, p.errAt(p.pos, "nesting deeper than %d levels", p.maxDepth)
	}
	p.pos++ // '{'
	base := len(p.members)
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		return Value{kind: Object, members: []Member{}}, nil
	}
	var seen map[string]struct{}
	for {
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			if p.pos >= len(p.s) {
				return Value{}, p.errAt(p.pos, "unexpected end of input in object")
			}
			return Value{}, p.errAt(p.pos, "expected a string key in object, found %q", p.s[p.pos])
		}
		keyPos := p.pos
		key, err := p.string()
		if err != nil {
			return Value{}, err
		}
		// Python keeps the last of duplicate keys, other parsers the first:
		// a document that means different things to different readers is
		// refused rather than guessed at.
		n := len(p.members) - base
		if n < dupScanLimit {
			for _, m := range p.members[base:] {
				if m.Key == key {
					return Value{}, p.errAt(keyPos, "duplicate key %q", key)
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]struct{}, 2*n)
				for _, m := range p.members[base:] {
					seen[m.Key] = struct{}{}
				}
			}
			if _, dup := seen[key]; dup {
				return Value{}, p.errAt(keyPos, "duplicate key %q", key)
			}
			seen[key] = struct{}{}
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return Value{}, p.errAt(p.pos, "expected ':' after object key %q", key)
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		p.members = append(p.members, Member{Key: key, Value: v})
		p.skipSpace()
		if p.pos >= len(p.s) {
			return Value{}, p.errAt(p.pos, "unexpected end of input in object")
		}
		c := p.s[p.pos]
		p.pos++
		if c == '}' {
			break
		}
		if c != ',' {
			return Value{}, p.errAt(p.pos-1, "expected ',' or '}' in object, found %q", c)
		}
	}
	members := make([]Member, len(p.members)-base)
	copy(members, p.members[base:])
	clear(p.members[base:])
	p.members = p.members[:base]
	return Value{kind: Object, members: members}, nil
}

// string reads a string token starting at its opening quote.
func (p *parser) string() (string, error) {
	start := p.pos + 1
	i := start
	for i < len(p.s) {
		c := p.s[i]
		if c == '"' {
			p.pos = i + 1
			return p.s[start:i], nil
		}
		if c == '\\' {
			return p.escapedString(start, i)
		}
		if c < 0x20 {
			return "", p.errAt(i, "control character %#02x in string (must be escaped)", c)
		}
		i++
	}
	return "", p.errAt(p.pos, "unterminated string")
}

func (p *parser) escapedString(start, i int) (string, error) {
	buf := append(p.buf[:0], p.s[start:i]...)
	for i < len(p.s) {
		c := p.s[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.buf = buf
			return string(buf), nil
		case c < 0x20:
			return "", p.errAt(i, "control character %#02x in string (must be escaped)", c)
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(p.s) {
			break
		}
		esc := p.s[i+1]
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(p.s, i+2)
			if !ok {
				return "", p.errAt(i, "invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Python would accept a lone surrogate and carry it into the
				// hash; Go strings cannot hold one, so it is refused.
				r2, ok := rune(0), false
				if r < 0xDC00 && strings.HasPrefix(p.s[i:], `\u`) {
					r2, ok = hex4(p.s, i+2)
				}
				pair := utf16.DecodeRune(r, r2)
				if !ok || pair == utf8.RuneError {
					return "", p.errAt(i-6, "lone UTF-16 surrogate \\u%04x in string", r)
				}
				r = pair
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return "", p.errAt(i, "invalid escape \\%c in string", esc)
		}
		i += 2
	}
	return "", p.errAt(start-1, "unterminated string")
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[at : at+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number token. Its lexical form decides its kind, as in
// Python: digits alone make an integer; a fraction or exponent makes a float.
func (p *parser) number() (Value, error) {
	start := p.pos
	i := start
	if p.s[i] == '-' {
		i++
	}
	digitsStart := i
	switch {
	case i < len(p.s) && p.s[i] == '0':
		i++
	case i < len(p.s) && p.s[i] >= '1' && p.s[i] <= '9':
		for i < len(p.s) && isDigit(p.s[i]) {
			i++
		}
	case i < len(p.s) && p.s[i] == 'I':
		return Value{}, p.errAt(start, "NaN and Infinity are not valid JSON numbers")
	default:
		return Value{}, p.errAt(start, "invalid number")
	}
	intEnd := i
	isFloat := false
	if i < len(p.s) && p.s[i] == '.' {
		isFloat = true
		i++
		if i >= len(p.s) || !isDigit(p.s[i]) {
			return Value{}, p.errAt(start, "invalid number: digits must follow '.'")
		}
		for i < len(p.s) && isDigit(p.s[i]) {
			i++
		}
	}
	if i < len(p.s) && (p.s[i] == 'e' || p.s[i] == 'E') {
		isFloat = true
		i++
		if i < len(p.s) && (p.s[i] == '+' || p.s[i] == '-') {
			i++
		}
		if i >= len(p.s) || !isDigit(p.s[i]) {
			return Value{}, p.errAt(start, "invalid number: digits must follow the exponent")
		}
		for i < len(p.s) && isDigit(p.s[i]) {
			i++
		}
	}
	if i < len(p.s) && isDigit(p.s[i]) {
		return Value{}, p.errAt(start, "invalid number: leading zero")
	}
	p.pos = i
	text := p.s[start:i]
	if !isFloat {
		if intEnd-digitsStart > MaxIntDigits {
			return Value{}, p.errAt(start, "integer has %d digits, more than the %d that Python accepts", intEnd-digitsStart, MaxIntDigits)
		}
		if text == "-0" {
			text = "0" // Python reads -0 as the integer 0
		}
		return Value{kind: Int, str: text}, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		// Only overflow reaches here: the grammar was checked above, and
		// underflow rounds to zero without an error, as in Python.
		return Value{}, p.errAt(start, "number %s is too large for a 64-bit float", abbreviate(text))
	}
	return Value{kind: Float, float: f}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

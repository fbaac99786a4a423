package canonjson

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
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

// Options tunes Parse and NewDecoder. The zero value is ready to use.
type Options struct {
	// MaxDepth is the deepest nesting accepted; 0 means DefaultMaxDepth.
	MaxDepth int
}

// SyntaxError reports JSON that is rejected, with the position of the problem.
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
	d, err := o.NewDecoder(data)
	if err != nil {
		return Value{}, err
	}
	defer d.Release()
	v, err := d.ReadValue()
	if err != nil {
		return Value{}, err
	}
	return v, d.End()
}

// Decoder reads one JSON document value by value, so that a caller that knows
// the document's shape (package envelope) can decode it without building a
// tree. It enforces everything Parse does: duplicate keys are refused at
// every level, nesting is bounded, numbers keep their class.
type Decoder struct {
	s        string
	pos      int
	depth    int
	maxDepth int
	// maxScalarDepth, when not 0, is the deepest container nesting a scalar
	// may sit in (ReadCanonicalDepth).
	maxScalarDepth int
	// Per open container: whether its first entry is still to come, and
	// where its keys start in keys (objects).
	frames []frame
	keys   []string
	// Scratch stacks reused across containers and, through decoderPool,
	// across documents.
	elems   []Value
	members []Member
	segs    []segment
	buf     []byte
	tmp     []byte
	// Arenas the finished containers of ReadValue are carved from: a
	// document costs a few chunk allocations instead of one per container.
	// Chunks are never reused, since the returned Values point into them.
	valueArena     []Value
	memberArena    []Member
	containerArena []container
}

type frame struct {
	first   bool
	keyBase int
	seen    map[string]struct{} // keys of an object too large for a linear scan
}

// segment is one member of an object being written in canonical form.
type segment struct {
	key        string
	start, end int // the member's bytes in the output
}

var decoderPool = sync.Pool{New: func() any { return new(Decoder) }}

// NewDecoder starts reading data, which must be valid UTF-8. The Decoder
// shares nothing with data: strings it returns stay valid after data changes.
func (o Options) NewDecoder(data []byte) (*Decoder, error) {
	d := decoderPool.Get().(*Decoder)
	d.maxDepth = o.MaxDepth
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	// One copy of the input lets every unescaped string and number share it.
	d.s, d.pos, d.depth, d.maxScalarDepth = string(data), 0, 0, 0
	if !utf8.ValidString(d.s) {
		err := d.errAt(firstInvalidUTF8(d.s), "invalid UTF-8")
		d.Release()
		return nil, err
	}
	if strings.HasPrefix(d.s, "\uFEFF") {
		err := d.errAt(0, "unexpected byte order mark (U+FEFF) before the value")
		d.Release()
		return nil, err
	}
	d.skipSpace()
	if d.pos == len(d.s) {
		d.Release()
		return nil, ErrEmpty
	}
	return d, nil
}

// NewDecoder is Options{}.NewDecoder.
func NewDecoder(data []byte) (*Decoder, error) { return Options{}.NewDecoder(data) }

// Release returns the Decoder to a pool. It must not be used afterwards;
// Values it returned stay valid.
func (d *Decoder) Release() {
	clear(d.elems[:cap(d.elems)])
	clear(d.members[:cap(d.members)])
	clear(d.keys[:cap(d.keys)])
	clear(d.segs[:cap(d.segs)])
	d.elems, d.members, d.keys, d.segs, d.frames = d.elems[:0], d.members[:0], d.keys[:0], d.segs[:0], d.frames[:0]
	clear(d.frames[:cap(d.frames)])
	d.s, d.valueArena, d.memberArena, d.containerArena = "", nil, nil, nil
	if cap(d.buf) > 1<<16 {
		d.buf = nil
	}
	if cap(d.tmp) > 1<<16 {
		d.tmp = nil
	}
	decoderPool.Put(d)
}

// End checks that nothing but whitespace follows the value read.
func (d *Decoder) End() error {
	d.skipSpace()
	if d.pos != len(d.s) {
		return d.errAt(d.pos, "unexpected data after the top-level value")
	}
	return nil
}

// Peek returns the kind of the next value without consuming it. Numbers are
// reported as Int or Float by their lexical form.
func (d *Decoder) Peek() (Kind, error) {
	d.skipSpace()
	if d.pos >= len(d.s) {
		return Null, d.errAt(d.pos, "unexpected end of input")
	}
	switch c := d.s[d.pos]; {
	case c == '{':
		return Object, nil
	case c == '[':
		return Array, nil
	case c == '"':
		return String, nil
	case c == 't' || c == 'f':
		return Bool, nil
	case c == 'n':
		return Null, nil
	case c == '-' || (c >= '0' && c <= '9'):
		for i := d.pos + 1; i < len(d.s); i++ {
			switch d.s[i] {
			case '.', 'e', 'E':
				return Float, nil
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return Int, nil
			}
		}
		return Int, nil
	case c == 'N' || c == 'I':
		return Null, d.errAt(d.pos, "NaN and Infinity are not valid JSON numbers")
	default:
		return Null, d.errAt(d.pos, "unexpected character %q", c)
	}
}

// BeginObject consumes the '{' of an object; iterate its members with NextKey.
func (d *Decoder) BeginObject() error {
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != '{' {
		return d.errAt(d.pos, "expected an object")
	}
	if d.depth++; d.depth > d.maxDepth {
		return d.errAt(d.pos, "nesting deeper than %d levels", d.maxDepth)
	}
	d.pos++
	d.frames = append(d.frames, frame{first: true, keyBase: len(d.keys)})
	return nil
}

// NextKey reads the next member's key and the ':' after it, and returns
// more=false at the end of the object. A key already seen in this object is
// an error: Python keeps the last of duplicate keys, other parsers the
// first, so a document that means different things to different readers is
// refused rather than guessed at.
func (d *Decoder) NextKey() (key string, more bool, err error) {
	f := &d.frames[len(d.frames)-1]
	d.skipSpace()
	if d.pos >= len(d.s) {
		return "", false, d.errAt(d.pos, "unexpected end of input in object")
	}
	c := d.s[d.pos]
	if c == '}' {
		d.pos++
		d.endObject(f)
		return "", false, nil
	}
	if !f.first {
		if c != ',' {
			return "", false, d.errAt(d.pos, "expected ',' or '}' in object, found %q", c)
		}
		d.pos++
		d.skipSpace()
		if d.pos >= len(d.s) {
			return "", false, d.errAt(d.pos, "unexpected end of input in object")
		}
		c = d.s[d.pos]
	}
	f.first = false
	if c != '"' {
		return "", false, d.errAt(d.pos, "expected a string key in object, found %q", c)
	}
	keyPos := d.pos
	key, err = d.readString()
	if err != nil {
		return "", false, err
	}
	if d.isDuplicate(f, key) {
		return "", false, d.errAt(keyPos, "duplicate key %q", key)
	}
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != ':' {
		return "", false, d.errAt(d.pos, "expected ':' after object key %q", key)
	}
	d.pos++
	return key, true, nil
}

// dupScanLimit is the object size up to which duplicate keys are found by a
// linear scan; larger objects use a map.
const dupScanLimit = 32

func (d *Decoder) isDuplicate(f *frame, key string) bool {
	if f.seen == nil {
		keys := d.keys[f.keyBase:]
		if len(keys) < dupScanLimit {
			for _, k := range keys {
				if k == key {
					return true
				}
			}
			d.keys = append(d.keys, key)
			return false
		}
		f.seen = make(map[string]struct{}, 2*len(keys))
		for _, k := range keys {
			f.seen[k] = struct{}{}
		}
	}
	if _, dup := f.seen[key]; dup {
		return true
	}
	f.seen[key] = struct{}{}
	return false
}

func (d *Decoder) endObject(f *frame) {
	clear(d.keys[f.keyBase:])
	d.keys = d.keys[:f.keyBase]
	*f = frame{}
	d.frames = d.frames[:len(d.frames)-1]
	d.depth--
}

// BeginArray consumes the '[' of an array; iterate it with NextElem.
func (d *Decoder) BeginArray() error {
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != '[' {
		return d.errAt(d.pos, "expected an array")
	}
	if d.depth++; d.depth > d.maxDepth {
		return d.errAt(d.pos, "nesting deeper than %d levels", d.maxDepth)
	}
	d.pos++
	d.frames = append(d.frames, frame{first: true})
	return nil
}

// NextElem reports whether the array has another element (then positioned
// at it) or has ended.
func (d *Decoder) NextElem() (more bool, err error) {
	f := &d.frames[len(d.frames)-1]
	d.skipSpace()
	if d.pos >= len(d.s) {
		return false, d.errAt(d.pos, "unexpected end of input in array")
	}
	c := d.s[d.pos]
	if c == ']' {
		d.pos++
		d.frames = d.frames[:len(d.frames)-1]
		d.depth--
		return false, nil
	}
	if !f.first {
		if c != ',' {
			return false, d.errAt(d.pos, "expected ',' or ']' in array, found %q", c)
		}
		d.pos++
	}
	f.first = false
	return true, nil
}

// ReadValue reads the next value, of any kind, as a tree.
func (d *Decoder) ReadValue() (Value, error) {
	k, err := d.Peek()
	if err != nil {
		return Value{}, err
	}
	switch k {
	case Object:
		if err := d.BeginObject(); err != nil {
			return Value{}, err
		}
		base := len(d.members)
		for {
			key, more, err := d.NextKey()
			if err != nil {
				return Value{}, err
			}
			if !more {
				break
			}
			v, err := d.ReadValue()
			if err != nil {
				return Value{}, err
			}
			d.members = append(d.members, Member{Key: key, Value: v})
		}
		c := d.newContainer()
		c.members = d.takeMembers(base)
		return Value{kind: Object, c: c}, nil
	case Array:
		if err := d.BeginArray(); err != nil {
			return Value{}, err
		}
		base := len(d.elems)
		for {
			more, err := d.NextElem()
			if err != nil {
				return Value{}, err
			}
			if !more {
				break
			}
			v, err := d.ReadValue()
			if err != nil {
				return Value{}, err
			}
			d.elems = append(d.elems, v)
		}
		c := d.newContainer()
		c.elems = d.takeElems(base)
		return Value{kind: Array, c: c}, nil
	}
	return d.readScalar(k)
}

// ReadCanonicalDepth is ReadCanonical for a value that may nest at most
// levels deep, counting the value itself as level 1 and a scalar inside n
// containers as level n+1 (Python's serialisers count this way).
func (d *Decoder) ReadCanonicalDepth(levels int) (Value, error) {
	savedMax, savedScalar := d.maxDepth, d.maxScalarDepth
	d.maxDepth = min(savedMax, d.depth+levels)
	d.maxScalarDepth = d.depth + levels - 1
	defer func() { d.maxDepth, d.maxScalarDepth = savedMax, savedScalar }()
	return d.ReadCanonical()
}

// ReadCanonical reads the next value and returns it in canonical form,
// without building a tree. Containers come back as Values that hold their
// canonical text: AppendCanonical copies it, and Members or Elems parse it
// on demand.
func (d *Decoder) ReadCanonical() (Value, error) {
	d.skipSpace()
	if d.pos >= len(d.s) {
		return Value{}, d.errAt(d.pos, "unexpected end of input")
	}
	switch c := d.s[d.pos]; {
	case c == '"':
		s, err := d.readString()
		return Value{kind: String, str: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return d.readNumber()
	case c == '{' || c == '[':
		k := Object
		if c == '[' {
			k = Array
		}
		out, err := d.appendCanonical(d.tmp[:0])
		d.tmp = out
		if err != nil {
			return Value{}, err
		}
		return Value{kind: k, str: string(out)}, nil
	}
	k, err := d.Peek()
	if err != nil {
		return Value{}, err
	}
	return d.readScalar(k)
}

func (d *Decoder) appendCanonical(dst []byte) ([]byte, error) {
	d.skipSpace()
	if d.pos >= len(d.s) {
		return dst, d.errAt(d.pos, "unexpected end of input")
	}
	if c := d.s[d.pos]; d.maxScalarDepth > 0 && d.depth > d.maxScalarDepth && c != '[' && c != '{' {
		return dst, d.errAt(d.pos, "nesting deeper than %d levels", d.maxDepth)
	}
	switch c := d.s[d.pos]; {
	case c == '"':
		// A string of printable ASCII without escapes is its own canonical
		// form: copy it as it stands.
		s := d.s
		i := scanCanonical(s, d.pos+1)
		if i < len(s) && s[i] == '"' {
			dst = append(dst, s[d.pos:i+1]...)
			d.pos = i + 1
			return dst, nil
		}
		str, err := d.readString()
		if err != nil {
			return dst, err
		}
		return AppendString(dst, str), nil
	case c == '-' || (c >= '0' && c <= '9'):
		v, err := d.readNumber()
		if err != nil {
			return dst, err
		}
		if v.kind == Int {
			return append(dst, v.str...), nil
		}
		return AppendFloat(dst, v.float), nil
	case c == '{':
		if err := d.BeginObject(); err != nil {
			return dst, err
		}
		dst = append(dst, '{')
		base := len(d.segs)
		for {
			key, more, err := d.NextKey()
			if err != nil {
				return dst, err
			}
			if !more {
				break
			}
			if len(d.segs) > base {
				dst = append(dst, ',')
			}
			start := len(dst)
			dst = AppendString(dst, key)
			dst = append(dst, ':')
			if dst, err = d.appendCanonical(dst); err != nil {
				return dst, err
			}
			d.segs = append(d.segs, segment{key: key, start: start, end: len(dst)})
		}
		dst = d.sortMembers(dst, base)
		return append(dst, '}'), nil
	case c == '[':
		if err := d.BeginArray(); err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		dst = d.appendIntRun(dst)
		for first := len(dst) == 0 || dst[len(dst)-1] == '['; ; first = false {
			more, err := d.NextElem()
			if err != nil {
				return dst, err
			}
			if !more {
				break
			}
			if !first {
				dst = append(dst, ',')
			}
			if dst, err = d.appendCanonical(dst); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	k, err := d.Peek()
	if err != nil {
		return dst, err
	}
	v, err := d.readScalar(k)
	if err != nil {
		return dst, err
	}
	return AppendCanonical(dst, v), nil
}

// appendIntRun copies a leading run of small non-negative integers of the
// array just opened (CPU lists in NUMA topologies are hundreds of them) in
// one tight loop. It stops, leaving the array to the general code, at
// anything else, including the first element it cannot handle, and consumes
// a separating comma only when an integer follows it.
func (d *Decoder) appendIntRun(dst []byte) []byte {
	if d.maxScalarDepth > 0 && d.depth > d.maxScalarDepth {
		return dst // too deep for scalars: the general path reports it
	}
	s, i := d.s, d.pos
	f := &d.frames[len(d.frames)-1]
	for {
		j := i
		if j < len(s) && s[j] <= ' ' {
			j = skipWS(s, j)
		}
		if !f.first {
			if j >= len(s) || s[j] != ',' {
				break
			}
			if j++; j < len(s) && s[j] <= ' ' {
				j = skipWS(s, j)
			}
		}
		// One to 18 digits, no leading zero, not followed by . e E or a digit.
		k := j
		for k < len(s) && k-j < 18 && isDigit(s[k]) {
			k++
		}
		if k == j || (s[j] == '0' && k-j > 1) || k >= len(s) || isDigit(s[k]) || s[k] == '.' || s[k] == 'e' || s[k] == 'E' {
			break
		}
		if !f.first {
			dst = append(dst, ',')
		}
		dst = append(dst, s[j:k]...)
		f.first = false
		i = k
	}
	d.pos = i
	return dst
}

// canonicalASCII marks the bytes that AppendString writes unchanged.
var canonicalASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// sortMembers puts the members written since segment base, which are
// separated by commas in document order, into key order.
func (d *Decoder) sortMembers(dst []byte, base int) []byte {
	segs := d.segs[base:]
	defer func() {
		clear(d.segs[base:])
		d.segs = d.segs[:base]
	}()
	sorted := true
	for i := 1; i < len(segs); i++ {
		if segs[i].key < segs[i-1].key {
			sorted = false
			break
		}
	}
	if sorted {
		return dst
	}
	start := segs[0].start
	for i := 1; i < len(segs); i++ {
		for j := i; j > 0 && segs[j].key < segs[j-1].key; j-- {
			segs[j], segs[j-1] = segs[j-1], segs[j]
		}
	}
	tmp := append(d.buf[:0], dst[start:]...)
	d.buf = tmp
	dst = dst[:start]
	for i, sg := range segs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, tmp[sg.start-start:sg.end-start]...)
	}
	return dst
}

// Skip reads past the next value.
func (d *Decoder) Skip() error {
	_, err := d.ReadCanonical()
	return err
}

func (d *Decoder) readScalar(k Kind) (Value, error) {
	switch k {
	case String:
		s, err := d.readString()
		return Value{kind: String, str: s}, err
	case Int, Float:
		return d.readNumber()
	case Bool:
		if strings.HasPrefix(d.s[d.pos:], "true") {
			d.pos += 4
			return Value{kind: Bool, boolean: true}, nil
		}
		if strings.HasPrefix(d.s[d.pos:], "false") {
			d.pos += 5
			return Value{kind: Bool}, nil
		}
	case Null:
		if strings.HasPrefix(d.s[d.pos:], "null") {
			d.pos += 4
			return Value{}, nil
		}
	}
	return Value{}, d.errAt(d.pos, "invalid literal")
}

func (d *Decoder) newContainer() *container {
	if len(d.containerArena) == 0 {
		d.containerArena = make([]container, arenaChunk/4)
	}
	c := &d.containerArena[0]
	d.containerArena = d.containerArena[1:]
	return c
}

// arenaChunk is the number of entries allocated at a time for each arena.
const arenaChunk = 256

// takeElems moves the children collected since base out of the scratch
// stack into arena memory of exactly their size.
func (d *Decoder) takeElems(base int) []Value {
	n := len(d.elems) - base
	if n > len(d.valueArena) {
		d.valueArena = make([]Value, max(arenaChunk, n))
	}
	out := d.valueArena[:n:n]
	d.valueArena = d.valueArena[n:]
	copy(out, d.elems[base:])
	clear(d.elems[base:])
	d.elems = d.elems[:base]
	return out
}

func (d *Decoder) takeMembers(base int) []Member {
	n := len(d.members) - base
	if n > len(d.memberArena) {
		d.memberArena = make([]Member, max(arenaChunk/2, n))
	}
	out := d.memberArena[:n:n]
	d.memberArena = d.memberArena[n:]
	copy(out, d.members[base:])
	clear(d.members[base:])
	d.members = d.members[:base]
	return out
}

func (d *Decoder) errAt(off int, format string, args ...any) *SyntaxError {
	line, col := 1, 1
	for i := 0; i < off && i < len(d.s); i++ {
		if d.s[i] == '\n' {
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

func (d *Decoder) skipSpace() {
	if s, i := d.s, d.pos; i >= len(s) || s[i] <= ' ' { // inlined: most calls find none
		d.pos = skipWS(s, i)
	}
}

var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// plainStringByte marks the bytes a string can hold without ending or
// escaping: everything but '"', '\\' and control characters (UTF-8 was
// validated up front).
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// readString reads a string token starting at its opening quote.
func (d *Decoder) readString() (string, error) {
	s := d.s
	start := d.pos + 1
	i := scanPlain(s, start)
	if i < len(s) {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return s[start:i], nil
		case c == '\\':
			return d.escapedString(start, i)
		default:
			return "", d.errAt(i, "control character %#02x in string (must be escaped)", c)
		}
	}
	return "", d.errAt(d.pos, "unterminated string")
}

func (d *Decoder) escapedString(start, i int) (string, error) {
	buf := append(d.buf[:0], d.s[start:i]...)
	defer func() { d.buf = buf }()
	for i < len(d.s) {
		c := d.s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			return "", d.errAt(i, "control character %#02x in string (must be escaped)", c)
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d.s) {
			break
		}
		esc := d.s[i+1]
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
			r, ok := hex4(d.s, i+2)
			if !ok {
				return "", d.errAt(i, "invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Python would accept a lone surrogate and carry it into the
				// hash; Go strings cannot hold one, so it is refused.
				r2, ok := rune(0), false
				if r < 0xDC00 && strings.HasPrefix(d.s[i:], `\u`) {
					r2, ok = hex4(d.s, i+2)
				}
				pair := utf16.DecodeRune(r, r2)
				if !ok || pair == utf8.RuneError {
					return "", d.errAt(i-6, "lone UTF-16 surrogate \\u%04x in string", r)
				}
				r = pair
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return "", d.errAt(i, "invalid escape \\%c in string", esc)
		}
		i += 2
	}
	return "", d.errAt(start-1, "unterminated string")
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

// readNumber reads a number token. Its lexical form decides its kind, as in
// Python: digits alone make an integer; a fraction or exponent makes a float.
func (d *Decoder) readNumber() (Value, error) {
	s := d.s
	start := d.pos
	i := start
	if s[i] == '-' {
		i++
	}
	digitsStart := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	case i < len(s) && s[i] == 'I':
		return Value{}, d.errAt(start, "NaN and Infinity are not valid JSON numbers")
	default:
		return Value{}, d.errAt(start, "invalid number")
	}
	intEnd := i
	isFloat := false
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return Value{}, d.errAt(start, "invalid number: digits must follow '.'")
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return Value{}, d.errAt(start, "invalid number: digits must follow the exponent")
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && isDigit(s[i]) {
		return Value{}, d.errAt(start, "invalid number: leading zero")
	}
	d.pos = i
	text := s[start:i]
	if !isFloat {
		if intEnd-digitsStart > MaxIntDigits {
			return Value{}, d.errAt(start, "integer has %d digits, more than the %d that Python accepts", intEnd-digitsStart, MaxIntDigits)
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
		return Value{}, d.errAt(start, "number %s is too large for a 64-bit float", abbreviate(text))
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

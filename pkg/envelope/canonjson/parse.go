package canonjson

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
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
	// s is the caller's document, read in place: every string handed out
	// is a copy (see str), never a view of it.
	s        []byte
	pos      int
	depth    int
	maxDepth int
	// maxScalarDepth, when not 0, is the deepest container nesting a scalar
	// may sit in (ReadCanonicalDepth).
	maxScalarDepth int
	// Per open container: whether its first entry is still to come, and
	// where its keys start in keys (objects).
	frames []frame
	// The keys of the open objects, unescaped, for finding duplicates and
	// sorting members: key i is keyBytes[keys[i].start:keys[i].end].
	keys     []span
	keyBytes []byte
	// Scratch stacks reused across containers and, through decoderPool,
	// across documents.
	elems   []Value
	members []Member
	segs    []segment
	buf     []byte
	tmp     []byte
	// strs holds the text of the strings handed out (see str).
	strs strings.Builder
	// Arenas the finished containers of ReadValue are carved from: a
	// document costs a few chunk allocations instead of one per container.
	// Chunks are never reused, since the returned Values point into them.
	valueArena     []Value
	memberArena    []Member
	containerArena []container
}

type frame struct {
	first   bool
	keyBase int                 // this object's first key in keys
	seen    map[string]struct{} // keys of an object too large for a linear scan
	names   *Names              // see isDuplicate
	known   uint64              // the keys of names seen, by position
	// A one-word Bloom filter of the keys in the list (bit keyHash(key)):
	// only a key whose bit is set already needs comparing with the others.
	bloom uint64
}

// span is a range of bytes.
type span struct{ start, end int }

// segment is one member of an object being written in canonical form.
type segment struct {
	key        int // index in keys
	start, end int // the member's bytes in the output
}

var decoderPool = sync.Pool{New: func() any { return new(Decoder) }}

// NewDecoder starts reading data, which must be valid UTF-8. The Decoder
// reads data in place, so data must not change until the Decoder is
// released; the strings and Values it returns are copies and stay valid
// after that.
func (o Options) NewDecoder(data []byte) (*Decoder, error) {
	d := decoderPool.Get().(*Decoder)
	d.maxDepth = o.MaxDepth
	if d.maxDepth <= 0 {
		d.maxDepth = DefaultMaxDepth
	}
	d.s, d.pos, d.depth, d.maxScalarDepth = data, 0, 0, 0
	if !utf8.Valid(d.s) {
		err := d.errAt(firstInvalidUTF8(d.s), "invalid UTF-8")
		d.Release()
		return nil, err
	}
	if bytes.HasPrefix(d.s, []byte("\uFEFF")) {
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
	d.elems, d.members, d.keys, d.segs, d.frames = d.elems[:0], d.members[:0], d.keys[:0], d.segs[:0], d.frames[:0]
	clear(d.frames[:cap(d.frames)])
	d.s, d.valueArena, d.memberArena, d.containerArena = nil, nil, nil, nil
	d.strs = strings.Builder{} // its bytes belong to the strings handed out
	for _, b := range []*[]byte{&d.buf, &d.tmp, &d.keyBytes} {
		if cap(*b) > 1<<16 {
			*b = nil
		}
	}
	decoderPool.Put(d)
}

// The buffers str copies a document's strings into: the first one holds
// about a third of the document (envelopes keep about that much of theirs
// as strings), each further one twice the one before, all between
// minStrChunk and maxStrChunk bytes.
const (
	minStrChunk = 256
	maxStrChunk = 1 << 15
)

// str returns a copy of b. The copies are packed into a strings.Builder,
// which only ever appends and hands out views of what it has written, so a
// document's strings cost a few buffer allocations instead of one each.
// When a buffer is full a new one is started; the old one lives on as long
// as strings point into it.
func (d *Decoder) str(b []byte) string {
	if n := d.strs.Len(); d.strs.Cap()-n >= len(b) {
		d.strs.Write(b)
		return d.strs.String()[n:]
	}
	return d.strNewChunk(b)
}

// strNewChunk is str when the buffer is full (or not there yet).
func (d *Decoder) strNewChunk(b []byte) string {
	size := 2 * d.strs.Cap()
	if size == 0 {
		size = len(d.s)/3 + 64
	}
	size = min(max(size, minStrChunk), maxStrChunk)
	d.strs = strings.Builder{}
	d.strs.Grow(max(size, len(b)))
	d.strs.Write(b)
	return d.strs.String()
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
	_, k, more, err := d.nextKey(nil, 0)
	if !more {
		if err == nil {
			d.endObject()
		}
		return "", false, err
	}
	return d.str(k), true, nil
}

// Names is a list of at most 64 object keys that NextKeyIndex recognises,
// such as the fields of a struct. It is not modified once built, so one
// Names can serve every Decoder.
type Names struct {
	names []string
	// member[i], for a name that JSON can spell only one way (no character
	// that must or may be escaped), is the pattern of `"name":`, which
	// starts a member with that key in the usual layout.
	member []pattern
}

// NewNames returns the Names of the given keys. It panics on more than 64.
func NewNames(names ...string) *Names {
	if len(names) > 64 {
		panic("canonjson: NewNames of more than 64 names")
	}
	n := &Names{names: slices.Clone(names), member: make([]pattern, len(names))}
	for i, name := range names {
		if utf8.ValidString(name) && scanPlain(name, 0) == len(name) {
			n.member[i] = newPattern([]byte(`"` + name + `":`))
		}
	}
	return n
}

// pattern is a text of up to 24 bytes, compared with the document three
// masked words at a time: NextKeyIndex compares the key it expects next
// (with its quotes and colon) this way.
type pattern struct {
	w, m [3]uint64 // the text in little-endian words, and masks of its bytes
	n    int       // its length; 0 for no pattern (match is then false)
}

const patternMax = 24

// newPattern returns the pattern of text, or no pattern if text is empty
// or longer than patternMax.
func newPattern(text []byte) pattern {
	var p pattern
	if len(text) == 0 || len(text) > patternMax {
		return p
	}
	p.n = len(text)
	for i, c := range text {
		p.w[i/8] |= uint64(c) << (8 * (i % 8))
		p.m[i/8] |= 0xff << (8 * (i % 8))
	}
	return p
}

// Index returns the position of key in the list, or -1; hint is the
// position to try first.
func (n *Names) Index(key string, hint int) int { return n.index([]byte(key), hint) }

func (n *Names) index(key []byte, hint int) int {
	if hint >= 0 && hint < len(n.names) && n.names[hint] == string(key) {
		return hint
	}
	for i, name := range n.names {
		if len(name) == len(key) && name == string(key) {
			return i
		}
	}
	return -1
}

// NextKeyIndex is NextKey for an object whose usual keys are known in
// advance: it also returns the position of the key in names (Names.Index
// with hint), or -1 for a key not in the list. Duplicate keys are refused
// exactly as NextKey refuses them, but a key in the list is checked with a
// bitmask rather than compared with every key before it, and comes back as
// the list's own string.
func (d *Decoder) NextKeyIndex(names *Names, hint int) (index int, key string, more bool, err error) {
	if d.expectedKey(names, hint) {
		return hint, names.names[hint], true, nil
	}
	index, k, more, err := d.nextKey(names, hint)
	switch {
	case !more:
		if err == nil {
			d.endObject()
		}
		return -1, "", false, err
	case index >= 0:
		return index, names.names[index], true, nil
	}
	return -1, d.str(k), true, nil
}

// expectedKey is NextKeyIndex's fast path for the common case: the next key
// is names[hint], written without escapes, and not seen before in this
// object whose keys all came through NextKeyIndex(names). It reads it and
// reports true, having done exactly what nextKey would; in any other case
// it consumes nothing and reports false.
func (d *Decoder) expectedKey(names *Names, hint int) bool {
	i := d.expectedKeyEnd(names, hint)
	if i < 0 {
		return false
	}
	d.recordExpectedKey(names, hint)
	d.pos = i
	return true
}

// ExpectKey reads the next key and the ':' after it if they are what
// NextKeyIndex(names, i) would find as names[i] on its fast path (the key
// expected next, written without escapes, not seen before) and reports
// true; otherwise it consumes nothing and reports false, and NextKeyIndex
// then reads whatever comes.
func (d *Decoder) ExpectKey(names *Names, i int) bool { return d.expectedKey(names, i) }

// EndObject consumes the '}' that ends the current object, if it comes
// next, and reports whether it did; then the object is done with, as when
// NextKey or NextKeyIndex return more=false.
func (d *Decoder) EndObject() bool {
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != '}' {
		return false
	}
	d.pos++
	d.endObject()
	return true
}

// expectedKeyEnd returns where the member value starts if the next key is
// the one expectedKey takes, or -1. It changes nothing.
func (d *Decoder) expectedKeyEnd(names *Names, hint int) int {
	f := &d.frames[len(d.frames)-1]
	if uint(hint) >= uint(len(names.member)) || f.known&(1<<(hint&63)) != 0 || !f.first && f.names != names {
		return -1
	}
	s, i := d.s, d.pos
	switch {
	case f.first:
		if i < len(s) && s[i] <= ' ' {
			i = skipWS(s, i)
		}
	default:
		if i < len(s) && s[i] <= ' ' {
			i = skipWS(s, i)
		}
		if i >= len(s) || s[i] != ',' {
			return -1
		}
		// The usual newline and indentation, inline.
		if i++; i < len(s) && s[i] == '\n' {
			i++
		}
		for i+8 <= len(s) {
			if x := load8(s, i) ^ spaces8; x != 0 {
				i += bits.TrailingZeros64(x) >> 3
				break
			}
			i += 8
		}
		if i < len(s) && s[i] <= ' ' {
			i = skipWS(s, i)
		}
	}
	m := &names.member[hint]
	if m.n == 0 || i+patternMax > len(s) ||
		(load8(s, i)^m.w[0])&m.m[0]|(load8(s, i+8)^m.w[1])&m.m[1]|(load8(s, i+16)^m.w[2])&m.m[2] != 0 {
		return -1
	}
	if i += m.n; i < len(s) && s[i] == ' ' { // as the reference writes it
		i++
	}
	return i
}

// recordExpectedKey does isDuplicate's bookkeeping for a key expectedKeyEnd
// found.
func (d *Decoder) recordExpectedKey(names *Names, hint int) {
	f := &d.frames[len(d.frames)-1]
	if f.first {
		f.first, f.names = false, names
	}
	f.known |= 1 << hint
}

// NextStringMember reads the next member if NextKeyIndex(names, hint) would
// find names[hint] and ReadString a string without escapes after it, and
// returns that string with ok true; otherwise it consumes nothing and
// returns ok false. It is the fast path for the string fields of a struct
// whose members come in declaration order, as the reference writes them.
func (d *Decoder) NextStringMember(names *Names, hint int) (value string, ok bool) {
	// What expectedKeyEnd and recordExpectedKey do, inline, for the layout
	// the reference writes (one space between the colon and the value;
	// anything else takes the general path), then the string, scanned
	// inline: this is the path of most members of an envelope.
	f := &d.frames[len(d.frames)-1]
	if uint(hint) >= uint(len(names.member)) {
		return "", false
	}
	bit := uint64(1) << (hint & 63)
	if f.known&bit != 0 || !f.first && f.names != names {
		return "", false
	}
	s, i := d.s, d.pos
	if !f.first {
		if i >= len(s) || s[i] != ',' {
			return "", false
		}
		i++
	}
	if i < len(s) && s[i] <= ' ' {
		i = skipWS(s, i)
	}
	m := &names.member[hint]
	if m.n == 0 || i+patternMax > len(s) ||
		(load8(s, i)^m.w[0])&m.m[0]|(load8(s, i+8)^m.w[1])&m.m[1]|(load8(s, i+16)^m.w[2])&m.m[2] != 0 {
		return "", false
	}
	if i += m.n; i+1 >= len(s) || s[i] != ' ' || s[i+1] != '"' {
		return "", false
	}
	start := i + 2
	end := start
	for { // scanPlain, inline
		if end+8 > len(s) {
			end = scanPlain(s, end)
			break
		}
		if m := stopPlain(load8(s, end)); m != 0 {
			end += firstMarked(m)
			break
		}
		end += 8
	}
	if end >= len(s) || s[end] != '"' {
		return "", false // escapes, a control character or the end of the input
	}
	if f.first {
		f.first, f.names = false, names
	}
	f.known |= bit
	d.pos = end + 1
	return d.str(s[start:end]), true
}

// nextKey reads a key as NextKeyIndex does. The key comes back as bytes that
// are valid until the next call; a key not in names is also recorded in
// keys (see isDuplicate). At the end of the object it consumes the '}' but
// leaves the frame and its keys to the caller's endObject.
func (d *Decoder) nextKey(names *Names, hint int) (index int, key []byte, more bool, err error) {
	f := &d.frames[len(d.frames)-1]
	d.skipSpace()
	if d.pos >= len(d.s) {
		return -1, nil, false, d.errAt(d.pos, "unexpected end of input in object")
	}
	c := d.s[d.pos]
	if c == '}' {
		d.pos++
		return -1, nil, false, nil
	}
	if f.first {
		// The list the first key is read with decides how this object's
		// duplicates are found (see isDuplicate); NextKey has none.
		f.first = false
		if names != nil {
			f.names = names
		}
	} else {
		if c != ',' {
			return -1, nil, false, d.errAt(d.pos, "expected ',' or '}' in object, found %q", c)
		}
		d.pos++
		d.skipSpace()
		if d.pos >= len(d.s) {
			return -1, nil, false, d.errAt(d.pos, "unexpected end of input in object")
		}
		c = d.s[d.pos]
	}
	if c != '"' {
		return -1, nil, false, d.errAt(d.pos, "expected a string key in object, found %q", c)
	}
	keyPos := d.pos
	key, err = d.readString()
	if err != nil {
		return -1, nil, false, err
	}
	index = -1
	if names != nil {
		index = names.index(key, hint)
	}
	if d.isDuplicate(f, key, names, index) {
		return -1, nil, false, d.errAt(keyPos, "duplicate key %q", key)
	}
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != ':' {
		return -1, nil, false, d.errAt(d.pos, "expected ':' after object key %q", key)
	}
	if d.pos++; d.pos < len(d.s) && d.s[d.pos] == ' ' { // the usual space, so the value needs no skipWS
		d.pos++
	}
	return index, key, true, nil
}

// keyHash returns a number from 0 to 63 made from the length, the first
// and the last bytes of key: a cheap hash for frame.bloom.
func keyHash(key []byte) uint64 {
	n := len(key)
	var w uint64
	switch {
	case n >= 8:
		w = load8(key, 0) ^ bits.RotateLeft64(load8(key, n-8), 29)
	case n >= 4:
		w = load4(key, 0) | load4(key, n-4)<<32
	case n > 0:
		w = uint64(key[0]) | uint64(key[n/2])<<8 | uint64(key[n-1])<<16
	}
	return (w ^ uint64(n)) * 0x9E3779B97F4A7C15 >> 58
}

// dupScanLimit is the object size up to which duplicate keys are found by a
// linear scan; larger objects use a map.
const dupScanLimit = 32

// isDuplicate records key in the object of frame f and reports whether it
// was there already. An object whose first key came through NextKeyIndex
// keeps the keys of that list in a bitmask (index is key's position in
// names, -1 if absent); every other key goes to keys, so each key is in
// exactly one of the two whichever method read it.
func (d *Decoder) isDuplicate(f *frame, key []byte, names *Names, index int) bool {
	if f.names != nil {
		if names != f.names {
			index = f.names.index(key, index)
		}
		if index >= 0 {
			bit := uint64(1) << index
			dup := f.known&bit != 0
			f.known |= bit
			return dup
		}
	}
	if f.seen == nil {
		keys := d.keys[f.keyBase:]
		if len(keys) < dupScanLimit {
			bit := uint64(1) << keyHash(key)
			if f.bloom&bit != 0 {
				for _, k := range keys {
					if string(d.keyBytes[k.start:k.end]) == string(key) {
						return true
					}
				}
			}
			f.bloom |= bit
		} else {
			f.seen = make(map[string]struct{}, 2*len(keys))
			for _, k := range keys {
				f.seen[string(d.keyBytes[k.start:k.end])] = struct{}{}
			}
		}
	}
	if f.seen != nil {
		if _, dup := f.seen[string(key)]; dup {
			return true
		}
		f.seen[string(key)] = struct{}{}
	}
	start := len(d.keyBytes)
	d.keyBytes = append(d.keyBytes, key...)
	d.keys = append(d.keys, span{start, len(d.keyBytes)})
	return false
}

// endObject forgets the object just read, and its keys.
func (d *Decoder) endObject() {
	f := &d.frames[len(d.frames)-1]
	if f.keyBase < len(d.keys) {
		d.keyBytes = d.keyBytes[:d.keys[f.keyBase].start]
		d.keys = d.keys[:f.keyBase]
	}
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

// ReadString reads the next value if it is a string, and returns its text
// with ok true. If the next value is of another kind, or the input ends, it
// consumes nothing and returns ok false: ReadValue or ReadCanonical then
// read it, or report what is wrong. It is the fast path for string fields.
func (d *Decoder) ReadString() (s string, ok bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.s) || d.s[d.pos] != '"' {
		return "", false, nil
	}
	b, err := d.readString()
	if err != nil {
		return "", false, err
	}
	return d.str(b), true, nil
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
		return Value{kind: String, str: d.str(s)}, err
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
		return Value{kind: k, str: d.str(out)}, nil
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
		return appendString(dst, str), nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := d.scanNumber()
		if err != nil {
			return dst, err
		}
		if !n.isFloat || n.repr {
			return append(dst, n.text...), nil
		}
		return AppendFloat(dst, n.f), nil
	case c == '{':
		if err := d.BeginObject(); err != nil {
			return dst, err
		}
		dst = append(dst, '{')
		base := len(d.segs)
		for {
			_, key, more, err := d.nextKey(nil, 0)
			if err != nil {
				return dst, err
			}
			if !more {
				break
			}
			keyIndex := len(d.keys) - 1 // where isDuplicate recorded it
			if len(d.segs) > base {
				dst = append(dst, ',')
			}
			start := len(dst)
			dst = appendString(dst, key)
			dst = append(dst, ':')
			if dst, err = d.appendCanonical(dst); err != nil {
				return dst, err
			}
			d.segs = append(d.segs, segment{key: keyIndex, start: start, end: len(dst)})
		}
		dst = d.sortMembers(dst, base)
		d.endObject()
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
// array just opened (CPU lists in NUMA topologies are hundreds of them, one
// per indented line) in one tight loop. It stops, leaving the array to the
// general code, at anything else, including the first element it cannot
// handle, and consumes a separating comma only when an integer follows it.
//
// The separator between elements (a comma, a newline and the indentation)
// is the same all down the list: it is compared, not scanned (see below).
func (d *Decoder) appendIntRun(dst []byte) []byte {
	if d.maxScalarDepth > 0 && d.depth > d.maxScalarDepth {
		return dst // too deep for scalars: the general path reports it
	}
	s, i := d.s, d.pos
	f := &d.frames[len(d.frames)-1]
	first := f.first
	for {
		j := i
		if !first {
			if j < len(s) && s[j] <= ' ' {
				j = skipWS(s, j)
			}
			if j >= len(s) || s[j] != ',' {
				break
			}
			j++
		}
		if j < len(s) && s[j] <= ' ' {
			j = skipWS(s, j)
		}
		if j+8 > len(s) {
			break
		}
		x := load8(s, j)
		n := smallInt(x)
		if n == 0 {
			break
		}
		if first {
			dst = appendWordPrefix(dst, x, n)
		} else {
			dst = appendWordPrefix(dst, commaWord(x), n+1)
			// The separator just read, s[i:j], is likely to separate all
			// the elements that follow: go on with the loop that compares
			// them with it.
			dst, i = appendSeparatedInts(dst, s, j+n, i, j-i)
			continue
		}
		first = false
		i = j + n
	}
	f.first = first
	d.pos = i
	return dst
}

// smallInt returns the length (1 to 7) of the non-negative integer written
// at the start of the word x, if the number ends within the word (no
// fraction or exponent follows) and has no leading zero; 0 otherwise.
func smallInt(x uint64) int {
	// n is 8 when all are digits; the byte after them is lowered, so that
	// 'E' and 'e' alike are caught.
	n := uint(bits.TrailingZeros64(hasLess(x, '0')|hasMore(x, '9'))) >> 3
	switch byte(x>>(8*n)) | 0x20 {
	case '.', 'e':
		return 0
	}
	if n-1 >= 7 || byte(x) == '0' && n > 1 {
		return 0
	}
	return int(n)
}

// appendWordPrefix appends the first n bytes (n <= 8) of the word x. It
// writes the whole word and keeps n bytes of it: the bytes past them lie
// beyond len(dst), which the next append overwrites anyway. Unlike
// append(dst, s[j:j+n]...), this calls no memmove, so loops around it keep
// their variables in registers.
func appendWordPrefix(dst []byte, x uint64, n int) []byte {
	if cap(dst)-len(dst) < 8 {
		dst = slices.Grow(dst, 8)
	}
	at := len(dst)
	binary.LittleEndian.PutUint64(dst[at:at+8], x)
	return dst[:at+n]
}

// commaWord returns the word holding a comma then the first 7 bytes of x.
func commaWord(x uint64) uint64 { return x<<8 | ',' }

// appendSeparatedInts goes on with appendIntRun from s[i:] for as long as
// each element is a small integer separated from the one before by the
// same bytes as s[sepAt:sepAt+sepLen] (the comma, newline and indentation
// of an indented list; shorter than 8 or longer than 16 bytes, it is not
// looked for). Comparing two words with it replaces scanning the white
// space.
func appendSeparatedInts(dst, s []byte, i, sepAt, sepLen int) ([]byte, int) {
	if sepLen < 8 || sepLen > 16 || sepAt+16 > len(s) || i > len(s) {
		return dst, i
	}
	mask1 := byteMask(sepLen - 8)
	sep0, sep1 := load8(s, sepAt), load8(s, sepAt+8)&mask1
	rest := s[i:] // sliced as it is consumed, which spares most bounds checks
	// Each element writes a comma and at most 7 digits, no more than the
	// separator and digits it consumes, and stores a whole word: room for
	// all of rest and a word is room for everything.
	dst = slices.Grow(dst, len(rest)+8)
	out := dst[len(dst):cap(dst)]
	k := 0
	for len(rest) >= 24 { // the separator and a word after it
		if binary.LittleEndian.Uint64(rest) != sep0 || (binary.LittleEndian.Uint64(rest[8:])^sep1)&mask1 != 0 {
			break
		}
		x := binary.LittleEndian.Uint64(rest[sepLen:])
		n := smallInt(x)
		if n == 0 {
			break
		}
		binary.LittleEndian.PutUint64(out[k:], commaWord(x)) // see appendWordPrefix
		k += n + 1
		rest = rest[sepLen+n:]
	}
	return dst[:len(dst)+k], len(s) - len(rest)
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
	defer func() { d.segs = d.segs[:base] }()
	less := func(a, b segment) bool {
		ka, kb := d.keys[a.key], d.keys[b.key]
		return string(d.keyBytes[ka.start:ka.end]) < string(d.keyBytes[kb.start:kb.end])
	}
	sorted := true
	for i := 1; i < len(segs); i++ {
		if less(segs[i], segs[i-1]) {
			sorted = false
			break
		}
	}
	if sorted {
		return dst
	}
	start := segs[0].start
	for i := 1; i < len(segs); i++ {
		for j := i; j > 0 && less(segs[j], segs[j-1]); j-- {
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
		return Value{kind: String, str: d.str(s)}, err
	case Int, Float:
		return d.readNumber()
	case Bool:
		if bytes.HasPrefix(d.s[d.pos:], []byte("true")) {
			d.pos += 4
			return Value{kind: Bool, boolean: true}, nil
		}
		if bytes.HasPrefix(d.s[d.pos:], []byte("false")) {
			d.pos += 5
			return Value{kind: Bool}, nil
		}
	case Null:
		if bytes.HasPrefix(d.s[d.pos:], []byte("null")) {
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

func firstInvalidUTF8(s []byte) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(s)
}

func (d *Decoder) skipSpace() {
	if d.pos >= len(d.s) || d.s[d.pos] <= ' ' { // small enough to inline: many calls find none
		d.skipSpaceSlow()
	}
}

// skipSpaceSlow is kept out of line so that skipSpace stays small enough to
// inline.
//
//go:noinline
func (d *Decoder) skipSpaceSlow() { d.pos = skipWS(d.s, d.pos) }

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

// readString reads a string token starting at its opening quote and
// returns its text, which is valid until the next call: a view of the
// document, or of d.buf when the string has escapes.
func (d *Decoder) readString() ([]byte, error) {
	s := d.s
	start := d.pos + 1
	i := start
	// scanPlain, inline: most strings end within a word or two.
	for ; i+8 <= len(s); i += 8 {
		if m := stopPlain(load8(s, i)); m != 0 {
			i += firstMarked(m)
			break
		}
	}
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	if i < len(s) {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return s[start:i], nil
		case c == '\\':
			return d.escapedString(start, i)
		default:
			return nil, d.errAt(i, "control character %#02x in string (must be escaped)", c)
		}
	}
	return nil, d.errAt(d.pos, "unterminated string")
}

func (d *Decoder) escapedString(start, i int) ([]byte, error) {
	buf := append(d.buf[:0], d.s[start:i]...)
	defer func() { d.buf = buf }()
	for i < len(d.s) {
		c := d.s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return buf, nil
		case c < 0x20:
			return nil, d.errAt(i, "control character %#02x in string (must be escaped)", c)
		case c != '\\':
			// A run of plain bytes up to the next quote, backslash or
			// control character, copied at once.
			j := scanPlain(d.s, i+1)
			buf = append(buf, d.s[i:j]...)
			i = j
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
				return nil, d.errAt(i, "invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Python would accept a lone surrogate and carry it into the
				// hash; Go strings cannot hold one, so it is refused.
				r2, ok := rune(0), false
				if r < 0xDC00 && bytes.HasPrefix(d.s[i:], []byte(`\u`)) {
					r2, ok = hex4(d.s, i+2)
				}
				pair := utf16.DecodeRune(r, r2)
				if !ok || pair == utf8.RuneError {
					return nil, d.errAt(i-6, "lone UTF-16 surrogate \\u%04x in string", r)
				}
				r = pair
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
			continue
		default:
			return nil, d.errAt(i, "invalid escape \\%c in string", esc)
		}
		i += 2
	}
	return nil, d.errAt(start-1, "unterminated string")
}

func hex4(s []byte, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[at : at+4] {
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
	n, err := d.scanNumber()
	switch {
	case err != nil:
		return Value{}, err
	case !n.isFloat:
		return Value{kind: Int, str: d.str(n.text)}, nil
	case n.repr:
		return Value{kind: Float, float: n.f, str: d.str(n.text)}, nil
	}
	return Value{kind: Float, float: n.f}, nil
}

// number is a number token read by scanNumber.
type number struct {
	text    []byte  // for an integer, its canonical digits
	isFloat bool    // a fraction or an exponent makes it a float
	f       float64 // its value, for a float
	repr    bool    // text is what AppendFloat writes for f (see isReprLiteral)
}

// scanNumber reads a number token.
func (d *Decoder) scanNumber() (number, error) {
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
		i += digitRun(s, i)
	case i < len(s) && s[i] == 'I':
		return number{}, d.errAt(start, "NaN and Infinity are not valid JSON numbers")
	default:
		return number{}, d.errAt(start, "invalid number")
	}
	intEnd := i
	var n number
	fracEnd := 0 // the end of the fraction, when there is one and no exponent
	if i < len(s) && s[i] == '.' {
		n.isFloat = true
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return number{}, d.errAt(start, "invalid number: digits must follow '.'")
		}
		i += digitRun(s, i)
		fracEnd = i
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		fracEnd = 0
		n.isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return number{}, d.errAt(start, "invalid number: digits must follow the exponent")
		}
		i += digitRun(s, i)
	}
	if i < len(s) && isDigit(s[i]) {
		return number{}, d.errAt(start, "invalid number: leading zero")
	}
	d.pos = i
	n.text = s[start:i]
	if !n.isFloat {
		if intEnd-digitsStart > MaxIntDigits {
			return number{}, d.errAt(start, "integer has %d digits, more than the %d that Python accepts", intEnd-digitsStart, MaxIntDigits)
		}
		if string(n.text) == "-0" {
			n.text = n.text[1:] // Python reads -0 as the integer 0
		}
		return n, nil
	}
	if fracEnd > 0 {
		intPart, frac := s[digitsStart:intEnd], s[intEnd+1:fracEnd]
		n.repr = reprDecimal(intPart, frac)
		if f, ok := exactDecimal(intPart, frac); ok {
			if s[start] == '-' {
				f = -f
			}
			n.f = f
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(string(n.text), 64)
	if err != nil {
		// Only overflow reaches here: the grammar was checked above, and
		// underflow rounds to zero without an error, as in Python.
		return number{}, d.errAt(start, "number %s is too large for a 64-bit float", abbreviate(n.text))
	}
	n.f = f
	return n, nil
}

// float64pow10 holds the powers of ten that float64 represents exactly.
var float64pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactDecimal returns the value of the decimal intPart.fracPart (digits
// only), when it can be computed exactly the quick way: all its digits
// together make an integer m below 2^53 and the fraction has at most 22
// digits, so m and 10^len(fracPart) are exact float64s and their quotient,
// rounded once by the division, is the correctly rounded value that
// strconv.ParseFloat would return (Clinger's fast path, which strconv also
// takes, after parsing the text again). TestExactDecimal compares the two.
func exactDecimal(intPart, fracPart []byte) (float64, bool) {
	if len(intPart)+len(fracPart) > 19 || len(fracPart) >= len(float64pow10) {
		return 0, false
	}
	var m uint64
	for _, c := range intPart {
		m = m*10 + uint64(c-'0')
	}
	for _, c := range fracPart {
		m = m*10 + uint64(c-'0')
	}
	if m >= 1<<53 {
		return 0, false
	}
	return float64(m) / float64pow10[len(fracPart)], true
}

// isReprLiteral reports whether the float literal text is exactly what
// AppendFloat writes for its value, so that it can be copied instead of
// formatted again: a literal in fixed notation, with its sign, whose digits
// reprDecimal accepts.
func isReprLiteral(text []byte) bool {
	i := 0
	if i < len(text) && text[i] == '-' {
		i++
	}
	intEnd := i + digitRun(text, i)
	if intEnd == i || intEnd == len(text) || text[intEnd] != '.' {
		return false
	}
	frac := text[intEnd+1:]
	return len(frac) > 0 && digitRun(frac, 0) == len(frac) && reprDecimal(text[i:intEnd], frac)
}

// reprDecimal reports whether the decimal intPart.frac (digits only, intPart
// without leading zeros) is written the way repr writes its value: fixed
// notation (the layout repr uses for decimal exponents -4 to 15) with at
// most 15 significant digits and no superfluous zeros. Such a decimal is
// the repr of its value: any decimal of 15 or fewer significant digits
// survives the round trip through the nearest float64 (10^15 < 2^52), so no
// other decimal that short, shorter or equally long, rounds to the same
// float. TestReprLiteralsMatchPython checks the claim against python3.
func reprDecimal(intPart, frac []byte) bool {
	if len(intPart) > 16 {
		return false
	}
	if intPart[0] == '0' { // |x| < 1: 0.000ddd at most, ddd ending in a non-zero digit
		zeros := 0
		for zeros < len(frac) && frac[zeros] == '0' {
			zeros++
		}
		if zeros == len(frac) {
			return len(frac) == 1 // 0.0 and -0.0
		}
		return zeros <= 3 && frac[len(frac)-1] != '0' && len(frac)-zeros <= 15
	}
	if len(frac) == 1 && frac[0] == '0' { // integral: ddd000.0
		sig := len(intPart)
		for sig > 1 && intPart[sig-1] == '0' {
			sig--
		}
		return sig <= 15
	}
	return frac[len(frac)-1] != '0' && len(intPart)+len(frac) <= 15
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func abbreviate(s []byte) string {
	if len(s) > 40 {
		return string(s[:37]) + "..."
	}
	return string(s)
}

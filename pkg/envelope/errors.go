package envelope

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// ErrInvalid is matched (errors.Is) by every error that means "this is not a
// valid v1 envelope": bad JSON, a schema violation, a fingerprint mismatch, an
// unsupported envelope_version, an oversized input.
var ErrInvalid = errors.New("invalid envelope")

// FieldError is one schema violation, located by its field path, such as
// hardware_fingerprint.gpus[2].serial.
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ValidationError lists every schema violation found in one envelope.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return e.Errors[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d schema violations: ", len(e.Errors))
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for validation errors.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// invalidError wraps a non-schema reason (bad JSON, oversized input) so that
// it also matches ErrInvalid.
type invalidError struct{ err error }

func (e *invalidError) Error() string        { return e.err.Error() }
func (e *invalidError) Unwrap() error        { return e.err }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// decodeState is what decoding carries along: the decoder, the path of the
// value being read (a stack, so that building it costs nothing unless an
// error is reported) and the violations found so far.
type decodeState struct {
	d    *canonjson.Decoder
	errs fieldErrors
	// The path: its first segments in an array, which is all a valid
	// envelope needs, and the rest in a slice. Segments hold no pointers
	// (field names are numbered, see fieldID), so pushing one is a plain
	// store, with no write barrier while the collector runs.
	path   [8]pathSeg
	deeper []pathSeg
	depth  int      // segments in the path
	keys   []string // the map keys that segments refer to
}

// pathSeg is one step of a field path: a struct field (its fieldID), a map
// key (its index in decodeState.keys) or an array index.
type pathSeg struct {
	kind segKind
	n    int
}

type segKind uint8

const (
	segField segKind = iota
	segKey
	segIndex
)

func (st *decodeState) push(seg pathSeg) {
	if st.depth < len(st.path) {
		st.path[st.depth] = seg
	} else {
		st.deeper = append(st.deeper, seg)
	}
	st.depth++
}

func (st *decodeState) pushField(f *field) { st.push(pathSeg{segField, f.id}) }
func (st *decodeState) pushIndex(i int)    { st.push(pathSeg{segIndex, i}) }
func (st *decodeState) pushKey(k string) {
	st.keys = append(st.keys, k)
	st.push(pathSeg{segKey, len(st.keys) - 1})
}

func (st *decodeState) pop() {
	if st.depth--; st.depth >= len(st.path) {
		st.deeper = st.deeper[:len(st.deeper)-1]
	}
}

// segments returns the path, outermost first.
func (st *decodeState) segments() []pathSeg {
	if st.depth <= len(st.path) {
		return st.path[:st.depth]
	}
	return append(st.path[:], st.deeper...)
}

// failField records a violation at field f of the struct at the current
// path.
func (st *decodeState) failField(f *field, msg string) {
	st.pushField(f)
	st.fail("%s", msg)
	st.pop()
}

// failKey records a violation at the member key of the map at the current
// path (the key goes on the path only when there is something to report).
func (st *decodeState) failKey(key, format string, args ...any) {
	st.pushKey(key)
	st.fail(format, args...)
	st.pop()
}

// fail records a violation at the current path.
func (st *decodeState) fail(format string, args ...any) {
	var b strings.Builder
	for _, seg := range st.segments() {
		switch seg.kind {
		case segIndex:
			b.WriteString("[" + strconv.Itoa(seg.n) + "]")
		case segKey:
			b.WriteString("[" + strconv.Quote(st.keys[seg.n]) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(fieldName(seg.n))
		}
	}
	st.errs = append(st.errs, FieldError{Path: b.String(), Msg: fmt.Sprintf(format, args...)})
}

type fieldErrors []FieldError

func (e fieldErrors) err() error {
	if len(e) == 0 {
		return nil
	}
	return &ValidationError{Errors: e}
}

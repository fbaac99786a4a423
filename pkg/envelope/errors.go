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
	path []pathSeg
	errs fieldErrors
}

type pathSeg struct {
	name   string
	index  int // >= 0 for array elements
	quoted bool
}

func (st *decodeState) pushField(name string) {
	st.path = append(st.path, pathSeg{name: name, index: -1})
}
func (st *decodeState) pushIndex(i int) { st.path = append(st.path, pathSeg{index: i}) }
func (st *decodeState) pushKey(k string) {
	st.path = append(st.path, pathSeg{name: k, index: -1, quoted: true})
}
func (st *decodeState) pop() { st.path = st.path[:len(st.path)-1] }

// fail records a violation at the current path.
func (st *decodeState) fail(format string, args ...any) {
	var b strings.Builder
	for _, seg := range st.path {
		switch {
		case seg.index >= 0:
			b.WriteString("[" + strconv.Itoa(seg.index) + "]")
		case seg.quoted:
			b.WriteString("[" + strconv.Quote(seg.name) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg.name)
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

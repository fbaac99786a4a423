package envelope

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// pathElem is a field path built on the stack while decoding; it is only
// turned into a string when an error is reported.
type pathElem struct {
	parent *pathElem
	name   string
	index  int // >= 0 for array elements
	quoted bool
}

func (p *pathElem) field(name string) *pathElem { return &pathElem{parent: p, name: name, index: -1} }
func (p *pathElem) elem(i int) *pathElem        { return &pathElem{parent: p, index: i} }
func (p *pathElem) key(k string) *pathElem {
	return &pathElem{parent: p, name: k, index: -1, quoted: true}
}

func (p *pathElem) String() string {
	if p == nil {
		return ""
	}
	parent := p.parent.String()
	switch {
	case p.index >= 0:
		return parent + "[" + strconv.Itoa(p.index) + "]"
	case p.quoted:
		return parent + "[" + strconv.Quote(p.name) + "]"
	case parent == "":
		return p.name
	default:
		return parent + "." + p.name
	}
}

type fieldErrors []FieldError

func (e *fieldErrors) add(path *pathElem, format string, args ...any) {
	*e = append(*e, FieldError{Path: path.String(), Msg: fmt.Sprintf(format, args...)})
}

func (e fieldErrors) err() error {
	if len(e) == 0 {
		return nil
	}
	return &ValidationError{Errors: e}
}

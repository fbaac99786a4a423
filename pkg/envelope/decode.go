package envelope

import (
	"fmt"
	"io"
	"os"

	"github.com/inferencebench/bench/pkg/envelope/canonjson"
)

// DefaultMaxSize is the largest envelope Read and ReadFile accept. Real
// envelopes are a few KiB; NATS refuses messages over 1 MiB by default, so
// nothing larger could travel through the pipeline anyway.
const DefaultMaxSize = 1 << 20

// Parse reads one envelope from JSON: strict JSON (canonjson.Parse), then
// Decode. It does not migrate: an envelope is verified at the version it was
// signed at (see Migrate).
func Parse(data []byte) (*Envelope, error) {
	if len(data) > DefaultMaxSize {
		return nil, &invalidError{fmt.Errorf("envelope is %d bytes, more than the %d-byte limit", len(data), DefaultMaxSize)}
	}
	d, err := canonjson.NewDecoder(data)
	if err != nil {
		return nil, &invalidError{err}
	}
	defer d.Release()
	var e Envelope
	st := decodeState{d: d}
	if err := decodeStruct(&st, &e, envelopePlan); err != nil {
		return nil, &invalidError{err}
	}
	if err := d.End(); err != nil {
		return nil, &invalidError{err}
	}
	if len(st.errs) > 0 {
		return nil, st.errs.err()
	}
	if want := FingerprintHash(&e.HardwareFingerprint); e.HardwareFingerprint.FingerprintSHA256 != want {
		return nil, &ValidationError{Errors: []FieldError{{
			Path: "hardware_fingerprint.fingerprint_sha256",
			Msg:  fmt.Sprintf("does not match the fingerprint fields: stored %s, computed %s", e.HardwareFingerprint.FingerprintSHA256, want),
		}}}
	}
	return &e, nil
}

// Read reads one envelope from r, refusing more than DefaultMaxSize bytes
// without reading further.
func Read(r io.Reader) (*Envelope, error) {
	data, err := io.ReadAll(io.LimitReader(r, DefaultMaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > DefaultMaxSize {
		return nil, &invalidError{fmt.Errorf("envelope is larger than the %d-byte limit", DefaultMaxSize)}
	}
	return Parse(data)
}

// ReadFile reads one envelope from a file. Errors opening or reading the file
// are returned as they are (os.ErrNotExist and friends); everything else
// matches ErrInvalid.
func ReadFile(path string) (*Envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > DefaultMaxSize {
		return nil, &invalidError{fmt.Errorf("envelope file is %d bytes, more than the %d-byte limit", st.Size(), DefaultMaxSize)}
	}
	return Read(f)
}

// Decode validates and normalises a parsed envelope the way the reference's
// pydantic model does, and checks the hardware fingerprint hash. The error
// lists every violation with its field path.
func Decode(v canonjson.Value) (*Envelope, error) {
	return Parse(canonjson.AppendCompact(nil, v))
}

// Validate re-runs Decode's checks on e (for envelopes built in Go) by
// encoding it and decoding the result.
func (e *Envelope) Validate() error {
	_, err := Decode(e.Value())
	return err
}

// Value returns the normalised envelope, signature included, as a JSON value
// with members in the reference's order.
func (e *Envelope) Value() canonjson.Value {
	v, err := canonjson.Parse(e.appendJSON(nil, false, ""))
	if err != nil {
		panic("envelope: encoder wrote invalid JSON: " + err.Error())
	}
	return v
}

func (e *Envelope) appendJSON(dst []byte, sorted bool, skip string) []byte {
	if sorted && skip == "signature" && useGenerated {
		if g, ok := any(e).(canonicalBodyWriter); ok {
			return g.appendCanonicalBody(dst)
		}
	}
	return appendStruct(dst, e, envelopePlan, sorted, skip)
}

// canonicalBodyWriter is implemented in codec_gen.go: appendCanonicalBody
// writes what appendStruct(dst, e, envelopePlan, true, "signature") writes,
// the body the content hash is computed over, in straight-line code
// generated from the plans (TestGeneratedCanonicalMatchesPlans).
type canonicalBodyWriter interface {
	appendCanonicalBody(dst []byte) []byte
}

// MarshalIndent writes the envelope as the reference writes envelope files:
// two-space indentation, fields in model order, and a final newline.
func (e *Envelope) MarshalIndent() []byte {
	out := canonjson.AppendIndent(nil, e.Value(), 2)
	return append(out, '\n')
}

// MarshalJSON implements json.Marshaler: compact, fields in model order.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	return e.appendJSON(nil, false, ""), nil
}

// UnmarshalJSON implements json.Unmarshaler with Parse.
func (e *Envelope) UnmarshalJSON(data []byte) error {
	parsed, err := Parse(data)
	if err != nil {
		return err
	}
	*e = *parsed
	return nil
}

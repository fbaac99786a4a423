package envelope_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// FuzzDecode feeds arbitrary bytes to Parse. Whatever it accepts must be
// stable: written out (file layout or Value) and read back, it normalises to
// the same canonical body, and it passes Validate. Whatever it rejects must
// be rejected with ErrInvalid, never a panic.
func FuzzDecode(f *testing.F) {
	for _, fx := range envelopetest.All(f) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := envelope.Parse(data)
		generic, gerr := envelope.ParseWithoutGeneratedCode(data)
		if fmt.Sprint(err) != fmt.Sprint(gerr) || err == nil && !bytes.Equal(env.MarshalIndent(), generic.MarshalIndent()) {
			t.Fatalf("the generated decoder and the plans disagree: %v / %v", err, gerr)
		}
		if err != nil {
			if !errors.Is(err, envelope.ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		body := env.CanonicalBody()
		if byPlan := envelope.CanonicalBodyByPlan(env); !bytes.Equal(body, byPlan) {
			t.Fatalf("generated canonical body differs from the plan's:\n%s\n%s", body, byPlan)
		}
		again, err := envelope.Parse(env.MarshalIndent())
		if err != nil {
			t.Fatalf("MarshalIndent output does not parse: %v", err)
		}
		if !bytes.Equal(again.CanonicalBody(), body) {
			t.Fatalf("normalisation is not idempotent:\n%s\n%s", body, again.CanonicalBody())
		}
		fromValue, err := envelope.Decode(env.Value())
		if err != nil || fromValue.ContentHash() != env.ContentHash() {
			t.Fatalf("Decode(Value()) differs: %v", err)
		}
		if err := env.Validate(); err != nil {
			t.Fatalf("accepted envelope fails Validate: %v", err)
		}
	})
}

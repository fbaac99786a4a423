package canonjson

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

func addFixtureSeeds(f *testing.F) {
	for _, fx := range envelopetest.All(f) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{`{"a":[1,2.0,-0,-0.0,1e400]}`, `"\ud83d\ude00\u00e9\/"`, `[1e-400,5e-324,1E+2]`, `{"b":1,"a":{"d":null,"c":true}}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
}

// FuzzCanonical checks, for any input, that the tree parser and the
// streaming canonicaliser agree, that canonical form is a fixed point, and
// that nothing Parse accepts is invalid JSON.
func FuzzCanonical(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		d, derr := NewDecoder(data)
		var rc Value
		if derr == nil {
			rc, derr = d.ReadCanonical()
			if derr == nil {
				derr = d.End()
			}
			d.Release()
		}
		if (err == nil) != (derr == nil) {
			t.Fatalf("Parse error %v but ReadCanonical error %v", err, derr)
		}
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		c := Canonical(v)
		if got := Canonical(rc); !bytes.Equal(got, c) {
			t.Fatalf("ReadCanonical %q != Canonical %q", got, c)
		}
		back, err := Parse(c)
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", c, err)
		}
		if !Equal(back, v) || !bytes.Equal(Canonical(back), c) {
			t.Fatalf("canonical form is not a fixed point: %q", c)
		}
		indented, err := Parse(AppendIndent(nil, v, 2))
		if err != nil || !Equal(indented, v) {
			t.Fatalf("indented form differs: %v", err)
		}
		compact, err := Parse(AppendCompact(nil, v))
		if err != nil || !Equal(compact, v) {
			t.Fatalf("compact form differs: %v", err)
		}
	})
}

// FuzzAppendFloat checks that every finite float is written in Python's
// repr grammar and reads back to the same bits.
func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, 1, 1e16, 9999999999999998, 1e-5, 0.0001, 5e-324, math.MaxFloat64} {
		f.Add(math.Float64bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		s := AppendFloat(nil, x)
		y, err := strconv.ParseFloat(string(s), 64)
		if err != nil || math.Float64bits(y) != bits {
			t.Fatalf("%v written as %s reads back as %v (%v)", x, s, y, err)
		}
		v, err := Parse(s)
		if err != nil || v.Kind() != Float {
			t.Fatalf("%s does not parse as a float: %v", s, err)
		}
		exp := math.Floor(math.Log10(math.Abs(x)))
		hasE := bytes.ContainsAny(s, "e")
		if x != 0 && !math.IsInf(exp, 0) && (exp >= 16 || exp < -4) != hasE && math.Abs(exp-15.5) > 1 && math.Abs(exp+4.5) > 1 {
			t.Fatalf("%s: exponent notation %v for decimal exponent %v", s, hasE, exp)
		}
		if !hasE && !bytes.Contains(s, []byte(".")) {
			t.Fatalf("%s: fixed notation without a fraction", s)
		}
	})
}

package canonjson

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestAppendFloatMatchesPythonRepr(t *testing.T) {
	tenth := 0.1 // a variable, so that 0.1+0.2 is computed in float64
	// Expected strings are Python's repr() of the same float.
	cases := []struct {
		f    float64
		want string
	}{
		{1e-05, "1e-05"},
		{0.0001, "0.0001"},
		{100.0, "100.0"},
		{1e16, "1e+16"},
		{9999999999999998.0, "9999999999999998.0"},
		{1.2345678901234568e+17, "1.2345678901234568e+17"},
		{5e-324, "5e-324"},
		{math.Copysign(0, -1), "-0.0"},
		{0, "0.0"},
		{tenth + 2*tenth, "0.30000000000000004"},
		{1.698732790695847e-05, "1.698732790695847e-05"},
		{58850.93851668657, "58850.93851668657"},
		{-1.5, "-1.5"},
		{1e22, "1e+22"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{123456789012345.6, "123456789012345.6"},
		{0.00012, "0.00012"},
		{1e100, "1e+100"},
		{-1e-100, "-1e-100"},
	}
	for _, c := range cases {
		if got := string(AppendFloat(nil, c.f)); got != c.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestAppendStringEscapesLikePython(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`quote" back\slash`, `"quote\" back\\slash"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f\u007f"`},
		{"</script>&", `"</script>&"`},
		{"é", `"\u00e9"`},
		{"\u2028\uffff", `"\u2028\uffff"`},
		{"😀", `"\ud83d\ude00"`},
		{"\U0010FFFF", `"\udbff\udfff"`},
	}
	for _, c := range cases {
		if got := string(AppendString(nil, c.in)); got != c.want {
			t.Errorf("AppendString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseKeepsNumberClass(t *testing.T) {
	v, err := Parse([]byte(`{"i":612,"f":20.0,"e":1e2,"big":123456789012345678901234567890,"neg0":-0,"negf":-0.0}`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(Canonical(v))
	want := `{"big":123456789012345678901234567890,"e":100.0,"f":20.0,"i":612,"neg0":0,"negf":-0.0}`
	if got != want {
		t.Fatalf("canonical = %s\nwant        %s", got, want)
	}
}

func TestCanonicalSortsByCodePoint(t *testing.T) {
	// UTF-16 order would put the emoji (a surrogate pair) before U+FF5A;
	// Python and UTF-8 byte order put it after.
	v, err := Parse([]byte(`{"ｚ":1,"😀":2,"B":3,"a":4,"é":5,"":6}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"":6,"B":3,"a":4,"\u00e9":5,"\uff5a":1,"\ud83d\ude00":2}`
	if got := string(Canonical(v)); got != want {
		t.Fatalf("canonical = %s, want %s", got, want)
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"nan", `{"a":NaN}`, "NaN and Infinity"},
		{"infinity", `[Infinity]`, "NaN and Infinity"},
		{"neg infinity", `[-Infinity]`, "NaN and Infinity"},
		{"duplicate key", `{"a":1,"b":2,"a":3}`, `duplicate key "a"`},
		{"duplicate escaped key", `{"a":1,"\u0061":2}`, `duplicate key "a"`},
		{"trailing data", `{} {}`, "unexpected data after"},
		{"truncated", `{"a":[1,2`, "unexpected end of input"},
		{"leading zero", `[01]`, "leading zero"},
		{"plus sign", `[+1]`, "unexpected character"},
		{"bare dot", `[1.]`, "digits must follow '.'"},
		{"float overflow", `[1e400]`, "too large"},
		{"control char", "[\"a\x01b\"]", "control character"},
		{"bad escape", `["\x"]`, `invalid escape`},
		{"lone high surrogate", `["\ud800"]`, "lone UTF-16 surrogate"},
		{"lone low surrogate", `["\udc00x"]`, "lone UTF-16 surrogate"},
		{"reversed pair", `["\udc00\ud800"]`, "lone UTF-16 surrogate"},
		{"invalid utf8", "[\"\xff\"]", "invalid UTF-8"},
		{"bom", "\uFEFF{}", "byte order mark"},
		{"single quotes", `{'a':1}`, "expected a string key"},
		{"trailing comma", `[1,]`, "unexpected character"},
		{"huge integer", "[" + strings.Repeat("9", MaxIntDigits+1) + "]", "more than the 4300"},
		{"deep nesting", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "nesting deeper than 512"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%.40q) error = %v, want a SyntaxError", c.in, err)
			}
			if !strings.Contains(se.Msg, c.msg) {
				t.Fatalf("Parse(%.40q) error = %q, want it to mention %q", c.in, se.Msg, c.msg)
			}
		})
	}
	if _, err := Parse([]byte(" \n\t")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("Parse(whitespace) = %v, want ErrEmpty", err)
	}
}

func TestParseAcceptsEdgeValues(t *testing.T) {
	cases := map[string]string{
		`["\u00e9\/\ud83d\ude00"]`:            `["\u00e9/\ud83d\ude00"]`,
		"[\"\x7f\"]":                          `["\u007f"]`,
		`[1e-400, -1e-400, 4.9e-324]`:         `[0.0,-0.0,5e-324]`,
		`[1E+2, 1e-0, 0.5e1]`:                 `[100.0,1.0,5.0]`,
		strings.Repeat("9", MaxIntDigits):     strings.Repeat("9", MaxIntDigits),
		`{"a":{"b":{"c":[true,false,null]}}}`: `{"a":{"b":{"c":[true,false,null]}}}`,
	}
	for in, want := range cases {
		v, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("Parse(%.40q): %v", in, err)
		}
		if got := string(Canonical(v)); got != want {
			t.Errorf("Canonical(Parse(%.40q)) = %.60s, want %.60s", in, got, want)
		}
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	_, err := Parse([]byte("{\n  \"a\": 1,\n  \"a\": 2\n}"))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	if se.Line != 3 || se.Column != 3 {
		t.Fatalf("position = line %d col %d, want line 3 col 3", se.Line, se.Column)
	}
}

func TestAppendIndentMatchesPythonLayout(t *testing.T) {
	v, err := Parse([]byte(`{"b":[1,{"x":[]}],"a":{},"c":"é"}`))
	if err != nil {
		t.Fatal(err)
	}
	// python3 -c 'import json;print(json.dumps({"b":[1,{"x":[]}],"a":{},"c":"é"},indent=2))'
	want := "{\n  \"b\": [\n    1,\n    {\n      \"x\": []\n    }\n  ],\n  \"a\": {},\n  \"c\": \"\\u00e9\"\n}"
	if got := string(AppendIndent(nil, v, 2)); got != want {
		t.Fatalf("AppendIndent =\n%s\nwant\n%s", got, want)
	}
}

func TestEqualIgnoresMemberOrder(t *testing.T) {
	a, _ := Parse([]byte(`{"a":1,"b":[1.0,"x"]}`))
	b, _ := Parse([]byte(`{"b":[1.0,"x"],"a":1}`))
	c, _ := Parse([]byte(`{"b":[1,"x"],"a":1}`))
	if !Equal(a, b) {
		t.Error("objects differing only in member order are not Equal")
	}
	if Equal(a, c) {
		t.Error("1.0 and 1 compare Equal; their classes differ")
	}
}

func TestReadCanonicalMatchesTheTree(t *testing.T) {
	g := randomValues{rand.New(rand.NewPCG(7, 7))}
	for i := range 3000 {
		v := g.value(0)
		text := AppendIndent(nil, v, 1) // document order, with whitespace
		d, err := NewDecoder(text)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := d.ReadCanonical()
		if err == nil {
			err = d.End()
		}
		d.Release()
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		want := Canonical(v)
		if got := Canonical(rc); string(got) != string(want) {
			t.Fatalf("value %d: ReadCanonical gives\n%s\nwant\n%s", i, got, want)
		}
		if !Equal(rc, v) || !Equal(v, rc) || rc.Len() != v.Len() {
			t.Fatalf("value %d: canonical-text Value not Equal to the tree", i)
		}
	}
}

func TestDuplicateKeysInLargeNestedObjects(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 40 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	// A large inner object with its own k1, then a duplicate of the outer k3.
	b.WriteString(`"inner":{`)
	for i := range 40 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	b.WriteString(`"z":0},"k3":1}`)
	_, err := Parse([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), `duplicate key "k3"`) {
		t.Fatalf("error %v, want duplicate key k3", err)
	}
	d, _ := NewDecoder([]byte(b.String()))
	defer d.Release()
	if _, err := d.ReadCanonical(); err == nil || !strings.Contains(err.Error(), `duplicate key "k3"`) {
		t.Fatalf("ReadCanonical error %v, want duplicate key k3", err)
	}
}

// TestIntArraysMatchTheTree pins the fast path for arrays of small integers
// (appendIntRun): element forms it must copy, forms it must hand back to the
// general code (signs, fractions, exponents, leading zeros, long numbers),
// separators and white space of every kind, and documents cut short.
func TestIntArraysMatchTheTree(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	elems := []string{"0", "7", "12", "123", "4095", "65535", "1234567", "12345678", "123456789012345678",
		"1234567890123456789012", "-1", "-0", "00", "01", "1.5", "1e3", "2E1", "0.0", `"x"`, "true", "null", "[1,2]", "{}"}
	seps := []string{",", ", ", ",\n  ", ",\n" + strings.Repeat(" ", 12), ",\n" + strings.Repeat(" ", 17), " ,", "\t,\r\n ", ",,", ""}
	for n := range 20000 {
		var b strings.Builder
		b.WriteString("[")
		if r.IntN(2) == 0 {
			b.WriteString("\n" + strings.Repeat(" ", r.IntN(20)))
		}
		for i := range r.IntN(12) {
			if i > 0 {
				if r.IntN(20) == 0 {
					b.WriteString(seps[r.IntN(len(seps))])
				} else {
					b.WriteString(seps[r.IntN(4)+1])
				}
			}
			if r.IntN(8) == 0 {
				b.WriteString(elems[r.IntN(len(elems))])
			} else {
				b.WriteString(elems[r.IntN(6)])
			}
		}
		b.WriteString("\n" + strings.Repeat(" ", r.IntN(10)) + "]")
		doc := b.String()
		if n%3 == 0 {
			doc = doc[:r.IntN(len(doc)+1)] // cut short
		}
		v, err := Parse([]byte(doc))
		d, derr := NewDecoder([]byte(doc))
		var rc Value
		if derr == nil {
			rc, derr = d.ReadCanonical()
			if derr == nil {
				derr = d.End()
			}
			d.Release()
		}
		if (err == nil) != (derr == nil) {
			t.Fatalf("%q: Parse error %v, ReadCanonical error %v", doc, err, derr)
		}
		if err == nil && string(Canonical(rc)) != string(Canonical(v)) {
			t.Fatalf("%q: ReadCanonical gives %s, want %s", doc, Canonical(rc), Canonical(v))
		}
	}
}

// TestExactDecimal pins the fast path of scanNumber against
// strconv.ParseFloat, bit for bit, on decimals of every length around the
// limits it checks (2^53, 19 digits, 22 fraction digits).
func TestExactDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 1))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
			if r.IntN(4) == 0 {
				b[i] = '9'
			}
		}
		return string(b)
	}
	fast := 0
	for n := range 1000000 {
		ip := digits(1 + r.IntN(18))
		if ip[0] == '0' || n%5 == 0 {
			ip = "0"
		}
		fp := digits(1 + r.IntN(24))
		lit := ip + "." + fp
		if n%3 == 0 {
			lit = "-" + lit
		}
		d, err := NewDecoder([]byte(lit))
		if err != nil {
			t.Fatal(err)
		}
		n, err := d.scanNumber()
		got := n.f
		d.Release()
		want, _ := strconv.ParseFloat(lit, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: scanNumber gives %v (%v), ParseFloat %v", lit, got, err, want)
		}
		if _, ok := exactDecimal([]byte(ip), []byte(fp)); ok {
			fast++
		}
	}
	if fast < 100000 {
		t.Fatalf("only %d literals took the fast path", fast)
	}
}

package canonjson

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// pythonOracle rebuilds each value natively in Python from a transport form
// that carries no JSON text of ours (floats as IEEE bits, strings as UTF-8
// hex), then prints json.dumps(v, sort_keys=True, separators=(",", ":")).
const pythonOracle = `
import json, struct, sys
def build(t):
    tag = t[0]
    if tag == "n": return None
    if tag == "t": return True
    if tag == "f": return False
    if tag == "i": return int(t[1])
    if tag == "d": return struct.unpack(">d", bytes.fromhex(t[1]))[0]
    if tag == "s": return bytes.fromhex(t[1]).decode("utf-8")
    if tag == "a": return [build(x) for x in t[1]]
    if tag == "o":
        d = {}
        for k, v in t[1]:
            d[bytes.fromhex(k).decode("utf-8")] = build(v)
        return d
    raise ValueError(tag)
out = sys.stdout
for line in sys.stdin:
    out.write(json.dumps(build(json.loads(line)), sort_keys=True, separators=(",", ":")))
    out.write("\n")
`

// transport encodes v in the oracle's input form using only encoding/json on
// ASCII strings, so nothing of this package's encoder leaks into the oracle.
func transport(v Value) any {
	switch v.Kind() {
	case Null:
		return []any{"n"}
	case Bool:
		if v.Bool() {
			return []any{"t"}
		}
		return []any{"f"}
	case Int:
		return []any{"i", v.IntText()}
	case Float:
		return []any{"d", fmt.Sprintf("%016x", math.Float64bits(v.Float()))}
	case String:
		return []any{"s", hex.EncodeToString([]byte(v.Str()))}
	case Array:
		elems := make([]any, 0, v.Len())
		for _, e := range v.Elems() {
			elems = append(elems, transport(e))
		}
		return []any{"a", elems}
	default:
		members := make([]any, 0, v.Len())
		for _, m := range v.Members() {
			members = append(members, []any{hex.EncodeToString([]byte(m.Key)), transport(m.Value)})
		}
		return []any{"o", members}
	}
}

// randomValues generates values that exercise every canonicalisation rule.
type randomValues struct{ r *rand.Rand }

var specialFloats = []float64{
	0, math.Copysign(0, -1), 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
	1e-05, 0.0001, 0.00012345, 1e16, 9999999999999998.0, 1e15, 123456789012345.67,
	1.2345678901234568e+17, math.MaxFloat64, -math.MaxFloat64, 0.1, 0.30000000000000004,
	1, -1, 100, 1e22, 1e23, 1.5, 2.5e-7, 4.35, 1e-4 * 3, 9007199254740993, 1 << 53,
}

func (g randomValues) float() float64 {
	switch g.r.IntN(6) {
	case 0:
		return specialFloats[g.r.IntN(len(specialFloats))]
	case 1: // subnormal
		return math.Float64frombits(g.r.Uint64N(1<<52-1)+1) * float64(1-2*g.r.IntN(2))
	case 2: // a short decimal: the values benchmarks actually produce
		return float64(g.r.IntN(2_000_000)-1_000_000) / math.Pow10(g.r.IntN(9))
	case 3: // around the fixed/exponent boundaries
		return (1 + g.r.Float64()) * math.Pow10(g.r.IntN(8)+12) * []float64{1, 1e-20}[g.r.IntN(2)]
	default: // any finite bit pattern: the whole exponent range
		for {
			f := math.Float64frombits(g.r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	}
}

func (g randomValues) integer() Value {
	switch g.r.IntN(4) {
	case 0:
		return IntValue(int64(g.r.IntN(2001) - 1000))
	case 1:
		return IntValue(int64(g.r.Uint64()))
	default: // beyond 64 bits
		buf := make([]byte, 8+g.r.IntN(40))
		for i := range buf {
			buf[i] = byte(g.r.Uint32())
		}
		n := new(big.Int).SetBytes(buf)
		if g.r.IntN(2) == 0 {
			n.Neg(n)
		}
		return BigIntValue(n)
	}
}

var runeClasses = [][2]rune{
	{0x00, 0x1f},        // control characters
	{0x7f, 0x7f},        // DEL
	{0x20, 0x7e},        // printable ASCII, including " \ / < > &
	{0x80, 0x7ff},       // two-byte UTF-8
	{0x2028, 0x2029},    // line and paragraph separators
	{0xe000, 0xffff},    // above the surrogate block: sorts differently in UTF-16
	{0x10000, 0x10ffff}, // non-BMP: surrogate pairs
	{0x4e00, 0x9fff},    // CJK
}

func (g randomValues) str(maxLen int) string {
	var b strings.Builder
	n := g.r.IntN(maxLen + 1)
	for range n {
		c := runeClasses[g.r.IntN(len(runeClasses))]
		r := c[0] + rune(g.r.IntN(int(c[1]-c[0]+1)))
		if !utf8.ValidRune(r) {
			r = 'x'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (g randomValues) value(depth int) Value {
	k := g.r.IntN(10)
	if depth >= 5 && k >= 7 {
		k = g.r.IntN(7)
	}
	switch k {
	case 0:
		return NullValue()
	case 1:
		return BoolValue(g.r.IntN(2) == 0)
	case 2, 3:
		return g.integer()
	case 4, 5:
		return FloatValue(g.float())
	case 6:
		return StringValue(g.str(12))
	case 7:
		elems := make([]Value, g.r.IntN(6))
		for i := range elems {
			elems[i] = g.value(depth + 1)
		}
		return ArrayValue(elems)
	default:
		n := g.r.IntN(7)
		members := make([]Member, 0, n)
		seen := map[string]bool{}
		for range n {
			key := g.str(4)
			if seen[key] {
				continue
			}
			seen[key] = true
			members = append(members, Member{Key: key, Value: g.value(depth + 1)})
		}
		return ObjectValue(members)
	}
}

// TestCanonicalMatchesPythonJSON is the cross-implementation property test:
// for random values, Canonical must equal Python's json.dumps(sort_keys=True,
// separators=(",", ":")) byte for byte, and Parse must read Python's output
// back to the same value.
func TestCanonicalMatchesPythonJSON(t *testing.T) {
	const n = 12000
	python := envelopetest.Python(t)
	g := randomValues{rand.New(rand.NewPCG(2026, 11))}
	values := make([]Value, n)
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for i := range values {
		// Mostly containers, so that sorting and nesting are exercised.
		values[i] = g.value(0)
		if i%3 != 0 {
			k1, k2 := g.str(3), "k"+g.str(2)
			if k1 == k2 {
				k2 += "\u00e9"
			}
			values[i] = ObjectValue([]Member{{Key: k1, Value: g.value(1)}, {Key: k2, Value: g.value(1)}})
		}
		if err := enc.Encode(transport(values[i])); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(python, "-c", pythonOracle)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 oracle failed: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	i, mismatches := 0, 0
	kinds := map[Kind]int{}
	for sc.Scan() {
		if i >= n {
			t.Fatal("python3 printed more lines than values sent")
		}
		want := sc.Text()
		got := string(Canonical(values[i]))
		kinds[values[i].Kind()]++
		if got != want {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("value %d:\n  go:     %.300s\n  python: %.300s", i, got, want)
			}
		}
		back, err := Parse([]byte(want))
		if err != nil {
			t.Errorf("value %d: Parse(python output) failed: %v", i, err)
		} else if !Equal(back, values[i]) {
			t.Errorf("value %d: Parse(python output) differs from the original value", i)
		}
		i++
	}
	if i != n {
		t.Fatalf("python3 printed %d lines for %d values", i, n)
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d values differ from Python", mismatches, n)
	}
	t.Logf("%d random values identical to python3 json.dumps (top-level kinds: %s)", n, fmt.Sprint(kinds))
}

// randomFloatLiteral returns a JSON float literal of the shapes envelopes
// hold (and their near misses): fixed notation with 1 to 17 integer digits
// and up to 20 fraction digits, runs of leading and trailing zeros, and
// sometimes an exponent.
func randomFloatLiteral(r *rand.Rand) string {
	digits := func(n int, zeros bool) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
			if zeros && r.IntN(3) == 0 {
				b[i] = '0'
			}
		}
		return string(b)
	}
	var b strings.Builder
	if r.IntN(4) == 0 {
		b.WriteByte('-')
	}
	if r.IntN(3) == 0 {
		b.WriteString("0")
	} else {
		b.WriteString(string(rune('1' + r.IntN(9))))
		b.WriteString(digits(r.IntN(17), true))
	}
	b.WriteByte('.')
	switch r.IntN(4) {
	case 0:
		b.WriteString("0")
	case 1:
		b.WriteString(strings.Repeat("0", r.IntN(6)) + digits(1+r.IntN(16), false))
	default:
		b.WriteString(digits(1+r.IntN(20), true))
	}
	if r.IntN(10) == 0 {
		fmt.Fprintf(&b, "e%d", r.IntN(40)-20)
	}
	return b.String()
}

// TestReprLiteralsAreAppendFloat pins isReprLiteral: whenever it keeps a
// literal, the literal is exactly what AppendFloat writes for its value.
func TestReprLiteralsAreAppendFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	kept := 0
	for range 500000 {
		lit := randomFloatLiteral(r)
		if !isReprLiteral([]byte(lit)) {
			continue
		}
		kept++
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(AppendFloat(nil, f)); got != lit {
			t.Fatalf("isReprLiteral(%q), but AppendFloat writes %s", lit, got)
		}
	}
	if kept < 50000 {
		t.Fatalf("only %d literals kept: the test no longer exercises isReprLiteral", kept)
	}
}

// TestReprLiteralsMatchPython reads random float literals, many of which
// Parse keeps as they are (isReprLiteral), and compares their canonical form
// with python3's json.dumps(json.loads(literal)).
func TestReprLiteralsMatchPython(t *testing.T) {
	python := envelopetest.Python(t)
	r := rand.New(rand.NewPCG(9, 9))
	lits := make([]string, 20000)
	for i := range lits {
		lits[i] = randomFloatLiteral(r)
	}
	cmd := exec.Command(python, "-c", "import json, sys\nfor line in sys.stdin: print(json.dumps(json.loads(line)))")
	cmd.Stdin = strings.NewReader(strings.Join(lits, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(want) != len(lits) {
		t.Fatalf("python3 printed %d lines for %d literals", len(want), len(lits))
	}
	kept := 0
	for i, lit := range lits {
		if isReprLiteral([]byte(lit)) {
			kept++
		}
		v, err := Parse([]byte(lit))
		if err != nil {
			t.Fatalf("%s: %v", lit, err)
		}
		if got := string(Canonical(v)); got != want[i] {
			t.Errorf("%s: canonical %s, python3 %s", lit, got, want[i])
		}
		d, _ := NewDecoder([]byte("[" + lit + "]"))
		rc, err := d.ReadCanonical()
		d.Release()
		if err != nil || string(Canonical(rc)) != "["+want[i]+"]" {
			t.Errorf("%s: ReadCanonical %s (%v), python3 %s", lit, Canonical(rc), err, want[i])
		}
	}
	t.Logf("%d literals, %d kept as written", len(lits), kept)
}

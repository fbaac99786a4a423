package envelope

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// TestIsHex64MatchesByteLoop pins the word-at-a-time test in isLowerHex8
// against the obvious loop, on strings that are one byte away from valid
// (every byte value at every position) and on random ones.
func TestIsHex64MatchesByteLoop(t *testing.T) {
	ref := func(s string) bool {
		if len(s) != 64 {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
		return true
	}
	valid := strings.Repeat("0123456789abcdef", 4)
	for pos := range 64 {
		for c := range 256 {
			b := []byte(valid)
			b[pos] = byte(c)
			if s := string(b); isHex64(s) != ref(s) {
				t.Fatalf("isHex64(%q) = %t", s, !ref(s))
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789abcdef/:`gAF\x00\x7f\x80\xff"
	for range 100000 {
		b := make([]byte, 60+r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
			if r.IntN(3) > 0 {
				b[i] = valid[r.IntN(16)]
			}
		}
		if s := string(b); isHex64(s) != ref(s) {
			t.Fatalf("isHex64(%q) = %t", s, !ref(s))
		}
	}
}

// TestTimestampFastPath compares appendRFC3339's direct writing of UTC
// timestamps with the time.AppendFormat layout it replaces, on random
// times in and out of its range and in other zones.
func TestTimestampFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	zones := []*time.Location{time.UTC, time.FixedZone("", 0), time.FixedZone("", 5*3600+30*60), time.FixedZone("", -7*3600)}
	for n := range 200000 {
		sec := r.Int64N(400000*365*86400) - 100000*365*86400 // years about -98000 to 300000
		if n%2 == 0 {
			sec = r.Int64N(10000*365*86400) - 62135596800 // years 1 to about 9999
		}
		ts := time.Unix(sec, r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))]).Truncate(time.Microsecond)
		got := string(appendRFC3339(nil, ts))
		want := string(appendRFC3339Layout(nil, ts))
		if got != want {
			t.Fatalf("%v: appendRFC3339 %s, layout %s", ts, got, want)
		}
	}
}

// TestSortedByName pins the prefix-keyed insertion sort of map keys against
// sort.Strings, on names that share long prefixes, are shorter than a word,
// hold zero bytes or non-ASCII characters, and on maps larger than its
// stack arrays.
func TestSortedByName(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	parts := []string{"", "a", "b", "ttft_p", "ttft_p99_ms", "\x00", "\u00e9", "\U0001F600", "zz", "0"}
	for range 20000 {
		names := map[string]bool{}
		n := r.IntN(40)
		for range n {
			var b strings.Builder
			for range r.IntN(4) {
				b.WriteString(parts[r.IntN(len(parts))])
			}
			names[b.String()] = true
		}
		var list []string
		for name := range names {
			list = append(list, name)
		}
		order := sortedByName(nil, len(list), func(i int) string { return list[i] })
		want := slices.Clone(list)
		slices.Sort(want)
		for i, idx := range order {
			if list[idx] != want[i] {
				t.Fatalf("sortedByName(%q) puts %q at %d, want %q", list, list[idx], i, want[i])
			}
		}
	}
}

// TestParseKeepsNothingOfTheInput overwrites the input after Parse and
// requires the envelope to be unchanged: every string it holds is a copy,
// never a view of the caller's bytes.
func TestParseKeepsNothingOfTheInput(t *testing.T) {
	for _, fx := range envelopetest.All(t) {
		data, err := os.ReadFile(fx.Path)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		before := e.MarshalIndent()
		for i := range data {
			data[i] = 'x'
		}
		if after := e.MarshalIndent(); !bytes.Equal(before, after) || e.ContentHash() != fx.ContentHash {
			t.Fatalf("%s: the envelope changed with the input it was parsed from", fx.Rel)
		}
	}
}

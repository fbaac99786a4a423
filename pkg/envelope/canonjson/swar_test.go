package canonjson

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSWARScannersMatchByteLoops(t *testing.T) {
	ref := func(s string, i int, ok func(byte) bool) int {
		for i < len(s) && ok(s[i]) {
			i++
		}
		return i
	}
	isWS := func(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }
	r := rand.New(rand.NewPCG(3, 4))
	// Alphabets weighted towards the bytes each scanner stops at.
	alphabets := []string{"      \n\t\rx", "abc\"\\\x00\x1f\x7f\x80\xff ", "aaaaaaaaaaaaaaaa\x01", "0123456789/:\xb0\xb9 ,", string([]byte{0x7e, 0x7f, 0x80, 0x20, 0x1f, 0x22, 0x5c, 0x5b, 0x5d, 0x21, 0x23})}
	for n := 0; n < 200000; n++ {
		a := alphabets[n%len(alphabets)]
		b := make([]byte, r.IntN(40))
		if n%7 == 0 { // long runs of ASCII before the interesting bytes
			b = append([]byte(strings.Repeat("ascii text ", r.IntN(12))), b...)
		}
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = a[r.IntN(len(a))]
			}
		}
		s := string(b)
		start := 0
		if len(s) > 0 {
			start = r.IntN(len(s) + 1)
		}
		if got, want := skipWS(s, start), ref(s, start, isWS); got != want {
			t.Fatalf("skipWS(%q, %d) = %d, want %d", s, start, got, want)
		}
		if got, want := scanPlain(s, start), ref(s, start, func(c byte) bool { return plainStringByte[c] }); got != want {
			t.Fatalf("scanPlain(%q, %d) = %d, want %d", s, start, got, want)
		}
		if got, want := scanCanonical(s, start), ref(s, start, func(c byte) bool { return canonicalASCII[c] }); got != want {
			t.Fatalf("scanCanonical(%q, %d) = %d, want %d", s, start, got, want)
		}
		if got, want := start+digitRun(s, start), ref(s, start, isDigit); got != want {
			t.Fatalf("digitRun(%q, %d) = %d, want %d", s, start, got-start, want-start)
		}
		if got, want := isCanonical(s[start:]), ref(s, start, func(c byte) bool { return canonicalASCII[c] }) == len(s); got != want {
			t.Fatalf("isCanonical(%q) = %t, want %t", s[start:], got, want)
		}
	}
}

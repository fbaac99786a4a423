package canonjson

import "math/bits"

// Word-at-a-time ("SWAR") scanning of the two things an envelope is mostly
// made of: indentation and plain string bytes. Each helper looks at eight
// bytes per step and falls back to a byte loop at the first byte of interest.

const (
	ones8   = 0x0101010101010101
	highs8  = 0x8080808080808080
	spaces8 = 0x2020202020202020
	quotes8 = 0x2222222222222222 // '"'
	slash8  = 0x5c5c5c5c5c5c5c5c // '\\'
	del8    = 0x7f7f7f7f7f7f7f7f
)

// text is what the scanners read: the document being parsed ([]byte) or a
// string being written.
type text interface{ ~string | ~[]byte }

// load8 reads s[i:i+8] as a little-endian word; the caller checks bounds.
func load8[T text](s T, i int) uint64 {
	w := s[i : i+8] // constant indexes into an 8-byte string: one 64-bit load
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// load4 reads s[i:i+4] as a little-endian word; the caller checks bounds.
func load4[T text](s T, i int) uint64 {
	w := s[i : i+4]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24
}

// hasZero is non-zero when some byte of x is zero.
//
// Like hasLess it sets the high bit of the bytes it finds, and its lowest
// set bit is always exact: a borrow can only run upwards from a byte that
// matched, so the bytes above the first match may be marked spuriously but
// never the bytes below it. firstMarked relies on this.
func hasZero(x uint64) uint64 { return (x - ones8) & ^x & highs8 }

// hasLess is non-zero when some byte of x is below n (n <= 128).
func hasLess(x uint64, n uint64) uint64 { return (x - ones8*n) & ^x & highs8 }

// hasMore is non-zero when some byte of x is above n (n <= 127). Clearing
// the high bits before the addition keeps carries out of the other bytes,
// so every byte is marked exactly.
func hasMore(x uint64, n uint64) uint64 { return ((x &^ highs8) + ones8*(127-n) | x) & highs8 }

// byteMask returns a mask of the low n bytes of a word (0 <= n <= 8).
func byteMask(n int) uint64 { return ^uint64(0) >> (64 - 8*n) } // Go shifts by 64 to 0

// firstMarked returns the index (0 to 7) of the lowest byte marked in a
// non-zero result of the helpers above.
func firstMarked(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

// stopPlain marks the bytes of x that end or escape a JSON string: '"',
// '\\' and control characters.
func stopPlain(x uint64) uint64 { return hasZero(x^quotes8) | hasZero(x^slash8) | hasLess(x, 0x20) }

// stopCanonical marks, in addition, the bytes AppendString escapes: DEL and
// every byte of a non-ASCII character.
func stopCanonical(x uint64) uint64 { return stopPlain(x) | hasZero(x^del8) | x&highs8 }

// skipWS returns the index of the first byte at or after i that is not JSON
// white space. Indented documents put a newline and a run of spaces before
// most tokens: that case is straight-line code, the spaces skipped eight at
// a time; anything else goes byte by byte.
func skipWS[T text](s T, i int) int {
	if i < len(s) && s[i] == '\n' {
		i++
	}
	for i+8 <= len(s) {
		if x := load8(s, i) ^ spaces8; x != 0 {
			i += bits.TrailingZeros64(x) >> 3
			if s[i] > ' ' {
				return i
			}
			break
		}
		i += 8
	}
	for i < len(s) && isSpace[s[i]] {
		i++
	}
	return i
}

// scanPlain returns the index of the first byte at or after i that ends or
// escapes a JSON string: '"', '\\' or a control character.
func scanPlain[T text](s T, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := stopPlain(load8(s, i)); m != 0 {
			return i + firstMarked(m)
		}
	}
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	return i
}

// digitRun returns the number of ASCII digits at s[i:].
func digitRun[T text](s T, i int) int {
	start := i
	for ; i+8 <= len(s); i += 8 {
		if m := hasLess(load8(s, i), '0') | hasMore(load8(s, i), '9'); m != 0 {
			return i + firstMarked(m) - start
		}
	}
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i - start
}

// scanCanonical returns the index of the first byte at or after i that
// AppendString does not write as it is.
func scanCanonical[T text](s T, i int) int {
	for ; i+8 <= len(s); i += 8 {
		if m := stopCanonical(load8(s, i)); m != 0 {
			return i + firstMarked(m)
		}
	}
	for i < len(s) && canonicalASCII[s[i]] {
		i++
	}
	return i
}

// anyNonCanonical is non-zero when some byte of x is one stopCanonical
// marks. It only answers yes or no (a byte >= 0x80 may make the addition
// carry into the next byte, but that byte's own high bit already answers),
// which lets it test DEL and the high bytes together as "x >= 0x7f".
func anyNonCanonical(x uint64) uint64 {
	return (x|(x+ones8)|(x-ones8*0x20)&^x)&highs8 | hasZero(x^quotes8) | hasZero(x^slash8)
}

// isCanonical reports whether AppendString writes s unchanged, that is
// whether scanCanonical(s, 0) == len(s). It reads whole words, the last one
// overlapping the one before, and strings shorter than a word as one word
// of overlapping pieces (bytes read twice do not change the answer; the
// padding byte 'a' is canonical), so that it has no byte loop.
func isCanonical[T text](s T) bool {
	n := len(s)
	switch {
	case n >= 8:
		for i := 0; i+8 < n; i += 8 {
			if anyNonCanonical(load8(s, i)) != 0 {
				return false
			}
		}
		return anyNonCanonical(load8(s, n-8)) == 0
	case n >= 4:
		return anyNonCanonical(load4(s, 0)|load4(s, n-4)<<32) == 0
	case n > 0:
		const pad = 0x6161616161 << 24 // 'a' in the five unused bytes
		return anyNonCanonical(uint64(s[0])|uint64(s[n/2])<<8|uint64(s[n-1])<<16|pad) == 0
	}
	return true
}

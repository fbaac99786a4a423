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

// load8 reads s[i:i+8] as a little-endian word; the caller checks bounds.
func load8(s string, i int) uint64 {
	w := s[i : i+8] // constant indexes into an 8-byte string: one 64-bit load
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// hasZero is non-zero when some byte of x is zero.
func hasZero(x uint64) uint64 { return (x - ones8) & ^x & highs8 }

// hasLess is non-zero when some byte of x is below n (n <= 128).
func hasLess(x uint64, n uint64) uint64 { return (x - ones8*n) & ^x & highs8 }

// skipWS returns the index of the first byte at or after i that is not JSON
// white space.
func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ':
			if i+8 > len(s) {
				i++
			} else if x := load8(s, i) ^ spaces8; x == 0 {
				i += 8
			} else {
				i += bits.TrailingZeros64(x) >> 3
			}
		case '\n', '\t', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanPlain returns the index of the first byte at or after i that ends or
// escapes a JSON string: '"', '\\' or a control character.
func scanPlain(s string, i int) int {
	for i+8 <= len(s) {
		x := load8(s, i)
		if hasZero(x^quotes8)|hasZero(x^slash8)|hasLess(x, 0x20) != 0 {
			break
		}
		i += 8
	}
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	return i
}

// scanCanonical returns the index of the first byte at or after i that
// AppendString does not write as it is.
func scanCanonical(s string, i int) int {
	for i+8 <= len(s) {
		x := load8(s, i)
		if hasZero(x^quotes8)|hasZero(x^slash8)|hasLess(x, 0x20)|hasZero(x^del8)|(x&highs8) != 0 {
			break
		}
		i += 8
	}
	for i < len(s) && canonicalASCII[s[i]] {
		i++
	}
	return i
}

package envelope

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// FormatTimestamp writes t as the reference serialises a datetime:
// YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM). The fraction has six digits when
// there are microseconds and is left out when there are none; nanoseconds are
// truncated; a zero offset is written Z.
func FormatTimestamp(t time.Time) string {
	return string(appendRFC3339(nil, t))
}

func appendRFC3339(dst []byte, t time.Time) []byte {
	t = t.Truncate(time.Microsecond)
	if _, offset := t.Zone(); offset == 0 {
		// The usual case, a UTC timestamp, written directly: AppendFormat
		// interprets its layout each time. TestTimestampFastPath compares
		// the two.
		if year, month, day := t.Date(); year >= 1 && year <= 9999 {
			hour, minute, second := t.Clock()
			dst = appendDigits(dst, year, 4)
			dst = appendDigits(append(dst, '-'), int(month), 2)
			dst = appendDigits(append(dst, '-'), day, 2)
			dst = appendDigits(append(dst, 'T'), hour, 2)
			dst = appendDigits(append(dst, ':'), minute, 2)
			dst = appendDigits(append(dst, ':'), second, 2)
			if us := t.Nanosecond() / 1000; us != 0 {
				dst = appendDigits(append(dst, '.'), us, 6)
			}
			return append(dst, 'Z')
		}
	}
	return appendRFC3339Layout(dst, t)
}

// appendDigits appends n (>= 0) in decimal with at least width digits.
func appendDigits(dst []byte, n, width int) []byte {
	var buf [8]byte
	i := len(buf)
	for ; n > 0 || width > 0; width-- {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, buf[i:]...)
}

// appendRFC3339Layout is appendRFC3339 for any t (already truncated to
// microseconds), through time.AppendFormat.
func appendRFC3339Layout(dst []byte, t time.Time) []byte {
	layout := "2006-01-02T15:04:05"
	if t.Nanosecond() != 0 {
		layout = "2006-01-02T15:04:05.000000"
	}
	if _, offset := t.Zone(); offset == 0 {
		return append(t.AppendFormat(dst, layout), 'Z')
	}
	return t.AppendFormat(dst, layout+"-07:00")
}

// appendTimestamp appends t as a JSON string.
func appendTimestamp(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	return append(appendRFC3339(dst, t), '"')
}

var errNoZone = errors.New("timestamp has no time zone: add Z or an offset such as +00:00")

// ParseTimestamp reads an RFC 3339 timestamp as the reference does: 'T', 't'
// or a space between date and time, seconds optional, any number of fraction
// digits (truncated to microseconds), and a zone that is required: Z, z,
// ±HH:MM or ±HHMM. Surrounding white space is an error. The result keeps the offset, so that FormatTimestamp
// writes it back.
func ParseTimestamp(s string) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("invalid timestamp %q: %s", abbreviate(s), why)
	}
	s2 := s // not stripped: pydantic strips str fields, and a datetime is not one
	// date
	if len(s2) < 16 || s2[4] != '-' || s2[7] != '-' || (s2[10] != 'T' && s2[10] != 't' && s2[10] != ' ') || s2[13] != ':' {
		return bad("want YYYY-MM-DDTHH:MM:SS with a zone")
	}
	year, ok1 := digits(s2[0:4])
	month, ok2 := digits(s2[5:7])
	day, ok3 := digits(s2[8:10])
	hour, ok4 := digits(s2[11:13])
	minute, ok5 := digits(s2[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return bad("want YYYY-MM-DDTHH:MM:SS with a zone")
	}
	rest := s2[16:]
	second, nanos := 0, 0
	if len(rest) > 0 && rest[0] == ':' {
		if len(rest) < 3 {
			return bad("incomplete seconds")
		}
		var ok bool
		if second, ok = digits(rest[1:3]); !ok {
			return bad("invalid seconds")
		}
		rest = rest[3:]
		if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
			i := 1
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				if i <= 9 {
					nanos = nanos*10 + int(rest[i]-'0')
				}
				i++
			}
			if i == 1 {
				return bad("empty fraction of a second")
			}
			for j := i; j <= 9; j++ {
				nanos *= 10
			}
			rest = rest[i:]
		}
	}
	var loc *time.Location
	switch {
	case rest == "":
		return time.Time{}, fmt.Errorf("invalid timestamp %q: %w", abbreviate(s), errNoZone)
	case rest == "Z" || rest == "z":
		loc = time.UTC
	case (rest[0] == '+' || rest[0] == '-') && (len(rest) == 6 && rest[3] == ':' || len(rest) == 5):
		oh, okh := digits(rest[1:3])
		om, okm := digits(rest[len(rest)-2:])
		if !okh || !okm || oh > 23 || om > 59 {
			return bad("invalid zone offset " + rest)
		}
		offset := (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
		if offset == 0 {
			loc = time.UTC
		} else {
			loc = time.FixedZone("", offset)
		}
	default:
		return bad("invalid zone " + strconv.Quote(rest))
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 || year < 1 {
		return bad("date or time out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, loc)
	if t.Day() != day { // time.Date normalises 2026-02-30 to March
		return bad("day out of range for the month")
	}
	return t.Truncate(time.Microsecond), nil
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

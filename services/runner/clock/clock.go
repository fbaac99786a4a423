// Package clock gives the runner one time base: Unix nanoseconds that come
// from the monotonic clock, so that intervals between them are immune to
// wall-clock steps (NTP) while the values still line up with other
// processes' Unix times (the simulated engine's ground-truth timestamps).
package clock

import "time"

var base = time.Now()

// Now returns the current time in Unix nanoseconds, monotonic within the
// process.
func Now() int64 { return base.UnixNano() + int64(time.Since(base)) }

// At returns the time.Time of a Now value.
func At(ns int64) time.Time { return time.Unix(0, ns) }

// Until returns the duration from now until the Now value ns.
func Until(ns int64) time.Duration { return time.Duration(ns - Now()) }

// Package metrics turns the per-request records of a run into the summary
// numbers of an envelope. It is the one place where each number is defined;
// docs/metrics.md states the same definitions for people, and a test
// recomputes every number from the Parquet trace file.
//
// The existing tools disagree on definitions, so each number here says
// which one it uses: TTFT to the first chunk of any kind (the reference's
// ttft_p50_ms) and to the first generated token; TPOT per request as (last
// token - first token) / (output tokens - 1), requests with fewer than two
// tokens excluded (vLLM, MLPerf); ITL as the gaps between content-bearing
// chunks pooled over requests; end-to-end latency from send to the last
// token; and latency from the scheduled time, which a saturated client or a
// concurrency cap cannot hide. Percentiles use linear interpolation between
// order statistics (numpy's default).
package metrics

import (
	"math"
	"slices"

	"github.com/inferencebench/bench/services/runner/trace"
)

// Percentile returns the p-th percentile (0..100) of sorted values by linear
// interpolation between closest ranks, as numpy.percentile does by default.
// It returns NaN for no values.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	if lo == hi {
		return sorted[lo]
	}
	return sorted[lo] + (sorted[hi]-sorted[lo])*(rank-float64(lo))
}

const nsPerMS = 1e6

// Request holds one request's derived latencies in milliseconds. A latency
// that does not apply is NaN (TPOT of a one-token answer, anything of a
// failed request).
type Request struct {
	OK bool
	// TTFTMS is send to the first chunk of any kind, role-only chunks
	// included: the reference implementation's definition.
	TTFTMS float64
	// TTFTTokenMS is send to the first chunk carrying generated content.
	TTFTTokenMS float64
	// TotalMS is send to the last generated token (end-to-end latency; not
	// to the trailing usage chunk or [DONE]).
	TotalMS float64
	// TPOTMS is (last token - first token) / (output tokens - 1).
	TPOTMS float64
	// TTFTFromScheduleMS and E2EFromScheduleMS start at the scheduled time.
	TTFTFromScheduleMS float64
	E2EFromScheduleMS  float64
	// SendDelayMS is how late the request left: sent - scheduled.
	SendDelayMS  float64
	OutputTokens int64
	InputTokens  int64
}

// Derive computes a record's latencies.
func Derive(r *trace.Record) Request {
	nan := math.NaN()
	q := Request{OK: r.OK(), TTFTMS: nan, TTFTTokenMS: nan, TotalMS: nan, TPOTMS: nan,
		TTFTFromScheduleMS: nan, E2EFromScheduleMS: nan, SendDelayMS: nan}
	if r.SentNS != 0 && r.ScheduledNS != 0 {
		q.SendDelayMS = float64(r.SentNS-r.ScheduledNS) / nsPerMS
	}
	if !q.OK {
		return q
	}
	q.OutputTokens, q.InputTokens = r.CompletionTokens, r.PromptTokens
	q.TTFTMS = float64(r.FirstChunkNS-r.SentNS) / nsPerMS
	q.TTFTTokenMS = float64(r.FirstTokenNS-r.SentNS) / nsPerMS
	q.TotalMS = float64(r.LastTokenNS-r.SentNS) / nsPerMS
	// Tokens that all came in one chunk took no measurable time apiece:
	// TPOT is undefined for them, not 0 (see docs/metrics.md).
	if r.CompletionTokens >= 2 && r.LastTokenNS > r.FirstTokenNS {
		q.TPOTMS = float64(r.LastTokenNS-r.FirstTokenNS) / nsPerMS / float64(r.CompletionTokens-1)
	}
	q.TTFTFromScheduleMS = float64(r.FirstTokenNS-r.ScheduledNS) / nsPerMS
	q.E2EFromScheduleMS = float64(r.LastTokenNS-r.ScheduledNS) / nsPerMS
	return q
}

// Field returns the value of a named per-request field, for SLOs.
func (q *Request) Field(name string) (float64, bool) {
	switch name {
	case "ttft_ms":
		return q.TTFTMS, true
	case "ttft_token_ms":
		return q.TTFTTokenMS, true
	case "tpot_ms":
		return q.TPOTMS, true
	case "total_ms", "e2e_ms":
		return q.TotalMS, true
	case "ttft_from_schedule_ms":
		return q.TTFTFromScheduleMS, true
	case "e2e_from_schedule_ms":
		return q.E2EFromScheduleMS, true
	}
	return math.NaN(), false
}

// Fields lists the per-request fields an SLO may name.
var Fields = []string{"ttft_ms", "ttft_token_ms", "tpot_ms", "total_ms", "e2e_ms", "ttft_from_schedule_ms", "e2e_from_schedule_ms"}

// dist collects values and summarises them.
type dist []float64

func (d *dist) add(v float64) {
	if !math.IsNaN(v) {
		*d = append(*d, v)
	}
}

func (d dist) sorted() dist {
	slices.Sort(d)
	return d
}

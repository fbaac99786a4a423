package metrics

import (
	"math"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner/trace"
)

// Energy is what the GPUs drew during the run. Energy and power are
// measured separately (an energy counter reset spoils one, not the other);
// what was not measured is left out of the metrics, never written as 0.
type Energy struct {
	EnergyMeasured bool
	Joules         float64 // energy counter delta, summed over all GPUs, for the whole run
	PowerMeasured  bool
	AvgW           float64 // mean of the sampled total power
	PeakW          float64 // highest sampled total power
}

// Options says how to judge a run.
type Options struct {
	// SLO holds the predicates every request is judged against, already
	// scaled to the hardware class. Empty: every successful request passes.
	SLO []Predicate
	// HardwareClass and Resolved are reported as slo_hardware_class and
	// slo_template_resolved when SLO came from a template.
	HardwareClass string
	Resolved      string
	// Energy, when not nil, adds the power and energy metrics.
	Energy *Energy
}

// Summary is a run's numbers. Latencies are in milliseconds, rates per
// second of the measurement window; NaN means "no data" and becomes null in
// the envelope.
type Summary struct {
	Requests, OK, Errors, Passing, Good int
	ErrorsByClass                       map[trace.ErrorClass]int
	DurationS                           float64 // first scheduled to last end, measured requests only; NaN without any
	OutputTokens, InputTokens           int64   // of successful measured requests
	TokenCountSource                    string  // usage, chunks, mixed or none
	// ChunkCountedOK and UncountedOK count the successful requests whose
	// output tokens are content chunks (a stream without usage figures), or
	// unknown (a response without usage and no chunks to count instead,
	// left out of OutputTokens).
	ChunkCountedOK, UncountedOK int

	TTFT, TTFTToken, TPOT, ITL, Total, TTFTFromSchedule, E2EFromSchedule, SendDelay Percentiles

	ReqPerSAll, ReqPerSPassing, GoodputAtSLO  float64
	ComplianceRate, OKRate                    float64
	ThroughputTokPerS, InputThroughputTokPerS float64

	Energy *Energy
	// JoulesPerToken divides the run's energy by every token generated in
	// the run (warm-up and cool-down included, since the energy counter
	// covers them too).
	JoulesPerToken float64

	HardwareClass, Resolved string
}

// Percentiles of one latency, in milliseconds.
type Percentiles struct {
	N             int
	P50, P90, P99 float64
	Mean          float64
}

func summarise(d dist) Percentiles {
	s := d.sorted()
	p := Percentiles{N: len(s), P50: Percentile(s, 50), P90: Percentile(s, 90), P99: Percentile(s, 99), Mean: math.NaN()}
	if len(s) > 0 {
		var sum float64
		for _, v := range s {
			sum += v
		}
		p.Mean = sum / float64(len(s))
	}
	return p
}

// Summarize computes a run's numbers from its records. Only measure-phase
// records count, except for JoulesPerToken (see Summary).
func Summarize(records []trace.Record, opts Options) Summary {
	s := Summary{ErrorsByClass: map[trace.ErrorClass]int{}, HardwareClass: opts.HardwareClass, Resolved: opts.Resolved, Energy: opts.Energy}
	var ttft, ttftTok, tpot, itl, total, ttftSched, e2eSched, delay dist
	var first, last int64
	var allTokens int64
	sources := map[trace.TokenSource]bool{}
	for i := range records {
		r := &records[i]
		if r.OK() {
			allTokens += r.CompletionTokens
		}
		if r.Phase != trace.PhaseMeasure {
			continue
		}
		s.Requests++
		if first == 0 || (r.ScheduledNS != 0 && r.ScheduledNS < first) {
			first = r.ScheduledNS
		}
		last = max(last, r.EndNS)
		q := Derive(r)
		delay.add(q.SendDelayMS)
		if !q.OK {
			s.Errors++
			s.ErrorsByClass[r.ErrorClass]++
			continue
		}
		s.OK++
		sources[r.TokenSource] = true
		switch r.TokenSource {
		case trace.TokensChunks:
			s.ChunkCountedOK++
		case trace.TokensNone:
			s.UncountedOK++
		}
		s.OutputTokens += r.CompletionTokens
		s.InputTokens += r.PromptTokens
		ttft.add(q.TTFTMS)
		ttftTok.add(q.TTFTTokenMS)
		tpot.add(q.TPOTMS)
		total.add(q.TotalMS)
		ttftSched.add(q.TTFTFromScheduleMS)
		e2eSched.add(q.E2EFromScheduleMS)
		for _, gap := range r.ITLNS {
			itl.add(float64(gap) / nsPerMS)
		}
		if meets(&q, opts.SLO, false) {
			s.Passing++
		}
		if meets(&q, opts.SLO, true) {
			s.Good++
		}
	}
	s.TTFT, s.TTFTToken, s.TPOT, s.ITL = summarise(ttft), summarise(ttftTok), summarise(tpot), summarise(itl)
	s.Total, s.TTFTFromSchedule, s.E2EFromSchedule, s.SendDelay = summarise(total), summarise(ttftSched), summarise(e2eSched), summarise(delay)

	switch {
	case len(sources) == 0:
		s.TokenCountSource = string(trace.TokensNone)
	case len(sources) == 1:
		for src := range sources {
			s.TokenCountSource = string(src)
		}
	default:
		s.TokenCountSource = "mixed"
	}

	nan := math.NaN()
	s.ReqPerSAll, s.ReqPerSPassing, s.GoodputAtSLO, s.ThroughputTokPerS, s.InputThroughputTokPerS = nan, nan, nan, nan, nan
	s.ComplianceRate, s.OKRate, s.JoulesPerToken, s.DurationS = nan, nan, nan, nan
	if last > first && first != 0 {
		s.DurationS = float64(last-first) / 1e9
		s.ReqPerSAll = float64(s.Requests) / s.DurationS
		s.ReqPerSPassing = float64(s.Passing) / s.DurationS
		s.GoodputAtSLO = float64(s.Good) / s.DurationS
		if s.UncountedOK < s.OK { // not 0 tokens/s when no token was counted at all
			s.ThroughputTokPerS = float64(s.OutputTokens) / s.DurationS
		}
		s.InputThroughputTokPerS = float64(s.InputTokens) / s.DurationS
	}
	if s.Requests > 0 {
		s.ComplianceRate = float64(s.Passing) / float64(s.Requests)
		s.OKRate = float64(s.OK) / float64(s.Requests)
	}
	if opts.Energy != nil && opts.Energy.EnergyMeasured && allTokens > 0 {
		s.JoulesPerToken = opts.Energy.Joules / float64(allTokens)
	}
	return s
}

// Metrics returns the envelope's metrics map: the reference's keys first, in
// its order, then this implementation's. Counts are integers, everything
// else a float or null.
func (s *Summary) Metrics() envelope.Metrics {
	var m envelope.Metrics
	f := m.SetFloat
	f("ttft_p50_ms", s.TTFT.P50)
	f("ttft_p99_ms", s.TTFT.P99)
	f("tpot_p50_ms", s.TPOT.P50)
	f("tpot_p99_ms", s.TPOT.P99)
	f("total_p50_ms", s.Total.P50)
	f("total_p99_ms", s.Total.P99)
	f("req_per_s_passing", s.ReqPerSPassing)
	f("req_per_s_all", s.ReqPerSAll)
	f("compliance_rate", s.ComplianceRate)
	f("ok_rate", s.OKRate)
	f("throughput_tok_per_s", s.ThroughputTokPerS)
	if e := s.Energy; e != nil {
		if e.PowerMeasured {
			f("power_avg_w", e.AvgW)
			f("power_peak_w", e.PeakW)
		}
		if e.EnergyMeasured {
			f("energy_joules_total", e.Joules)
			f("joules_per_token", s.JoulesPerToken)
		}
	}
	if s.HardwareClass != "" {
		m.SetString("slo_hardware_class", s.HardwareClass)
	}
	if s.Resolved != "" {
		m.SetString("slo_template_resolved", s.Resolved)
	}
	f("goodput_at_slo", s.GoodputAtSLO)
	f("ttft_p90_ms", s.TTFT.P90)
	f("ttft_token_p50_ms", s.TTFTToken.P50)
	f("ttft_token_p90_ms", s.TTFTToken.P90)
	f("ttft_token_p99_ms", s.TTFTToken.P99)
	f("tpot_p90_ms", s.TPOT.P90)
	f("itl_p50_ms", s.ITL.P50)
	f("itl_p90_ms", s.ITL.P90)
	f("itl_p99_ms", s.ITL.P99)
	f("total_p90_ms", s.Total.P90)
	f("ttft_from_schedule_p50_ms", s.TTFTFromSchedule.P50)
	f("ttft_from_schedule_p99_ms", s.TTFTFromSchedule.P99)
	f("e2e_from_schedule_p50_ms", s.E2EFromSchedule.P50)
	f("e2e_from_schedule_p99_ms", s.E2EFromSchedule.P99)
	f("send_delay_p50_ms", s.SendDelay.P50)
	f("send_delay_p99_ms", s.SendDelay.P99)
	f("input_throughput_tok_per_s", s.InputThroughputTokPerS)
	f("duration_s", s.DurationS)
	m.SetInt("requests_total", int64(s.Requests))
	m.SetInt("requests_ok", int64(s.OK))
	m.SetInt("requests_failed", int64(s.Errors))
	m.SetInt("output_tokens_total", s.OutputTokens)
	m.SetString("token_count_source", s.TokenCountSource)
	for _, class := range errorClasses {
		if n := s.ErrorsByClass[class]; n > 0 {
			m.SetInt("errors_"+string(class), int64(n))
		}
	}
	return m
}

// errorClasses are the failure classes counted as errors_<class>, in the
// order they are written.
var errorClasses = []trace.ErrorClass{trace.ErrConnect, trace.ErrHTTPStatus, trace.ErrErrorPayload, trace.ErrTruncated,
	trace.ErrTimeout, trace.ErrMalformed, trace.ErrNoTokens, trace.ErrCanceled}

// Package load describes how requests are offered to an engine: open loop
// (arrivals on a seeded schedule, whatever the engine's state: Poisson,
// gamma with a burstiness factor, or constant rate) or closed loop (N
// streams, each sending its next request when the previous ends), bounded by
// a request count and/or a duration.
//
// Open-loop schedules are a true renewal process: unlike vLLM's benchmark,
// the gaps are not rescaled so that the last arrival lands at N/rate.
package load

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Arrival is the distribution of gaps between open-loop arrivals.
type Arrival string

const (
	Poisson  Arrival = "poisson"  // exponential gaps
	Gamma    Arrival = "gamma"    // gamma gaps with shape Burstiness: < 1 burstier than Poisson, > 1 smoother
	Constant Arrival = "constant" // equal gaps
)

// Spec is one load point.
type Spec struct {
	// Rate in requests per second makes the load open loop.
	Rate       float64
	Arrival    Arrival // default Poisson
	Burstiness float64 // gamma shape; default 1 (which is Poisson)
	// Concurrency alone makes the load closed loop with that many streams;
	// with Rate it caps the requests in flight (arrivals wait for a slot,
	// and the wait shows in latency from the schedule).
	Concurrency int
	// Requests and Duration bound the run; at least one is needed.
	Requests int
	Duration time.Duration
	Seed     uint64
}

// OpenLoop reports whether arrivals follow a schedule.
func (s *Spec) OpenLoop() bool { return s.Rate > 0 }

// Validate reports a spec that cannot run, naming the problem.
func (s *Spec) Validate() error {
	switch {
	case s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		return fmt.Errorf("rate %v: must be a positive number of requests per second", s.Rate)
	case s.Rate == 0 && s.Concurrency <= 0:
		return errors.New("give a request rate (open loop) or a concurrency (closed loop)")
	case s.Concurrency < 0:
		return fmt.Errorf("concurrency %d: must be positive", s.Concurrency)
	case s.Requests < 0 || s.Duration < 0:
		return errors.New("requests and duration must not be negative")
	case s.Requests == 0 && s.Duration == 0:
		return errors.New("give a bound: a number of requests, a duration, or both")
	}
	if s.OpenLoop() {
		switch s.ArrivalOrDefault() {
		case Poisson, Constant:
		case Gamma:
			if s.Burstiness < 0 || math.IsNaN(s.Burstiness) {
				return fmt.Errorf("burstiness %v: must be positive", s.Burstiness)
			}
		default:
			return fmt.Errorf("arrival %q: want poisson, gamma or constant", s.Arrival)
		}
	}
	return nil
}

// ArrivalOrDefault returns the open-loop arrival distribution, Poisson when
// Arrival is unset.
func (s *Spec) ArrivalOrDefault() Arrival {
	if s.Arrival == "" {
		return Poisson
	}
	return s.Arrival
}

// maxArrivals bounds a duration-only open-loop schedule.
const maxArrivals = 50_000_000

// Arrivals returns the open-loop arrival times as offsets from the start:
// Requests of them, or as many as fall within Duration, whichever is fewer.
// The same seed gives the same schedule.
func (s *Spec) Arrivals() ([]time.Duration, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if !s.OpenLoop() {
		return nil, errors.New("a closed-loop spec has no arrival schedule")
	}
	n := s.Requests
	if n == 0 {
		n = maxArrivals
	}
	expect := n
	if s.Duration > 0 {
		expect = min(n, int(s.Duration.Seconds()*s.Rate*1.1)+16)
	}
	r := rand.New(rand.NewPCG(s.Seed, 0xa11))
	gap := s.gapFunc(r)
	out := make([]time.Duration, 0, expect)
	t := 0.0 // seconds
	for range n {
		if s.Duration > 0 && t > s.Duration.Seconds() {
			break
		}
		out = append(out, time.Duration(t*1e9))
		t += gap()
	}
	if s.Duration > 0 && len(out) == maxArrivals {
		return nil, fmt.Errorf("a %v schedule at %v requests/s has more than %d arrivals", s.Duration, s.Rate, maxArrivals)
	}
	return out, nil
}

// gapFunc draws gaps in seconds with mean 1/Rate.
func (s *Spec) gapFunc(r *rand.Rand) func() float64 {
	mean := 1 / s.Rate
	switch s.ArrivalOrDefault() {
	case Constant:
		return func() float64 { return mean }
	case Gamma:
		k := s.Burstiness
		if k == 0 {
			k = 1
		}
		return func() float64 { return gammaSample(r, k) * mean / k }
	default:
		return func() float64 { return r.ExpFloat64() * mean }
	}
}

// gammaSample draws from Gamma(shape k, scale 1) by Marsaglia and Tsang's
// method, with the usual boost for k < 1.
func gammaSample(r *rand.Rand, k float64) float64 {
	if k < 1 {
		u := r.Float64()
		for u == 0 {
			u = r.Float64()
		}
		return gammaSample(r, k+1) * math.Pow(u, 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

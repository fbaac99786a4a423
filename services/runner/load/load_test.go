package load

import (
	"math"
	"strings"
	"testing"
	"time"
)

func stats(offsets []time.Duration) (mean, cv float64) {
	var gaps []float64
	for i := 1; i < len(offsets); i++ {
		gaps = append(gaps, (offsets[i] - offsets[i-1]).Seconds())
	}
	for _, g := range gaps {
		mean += g
	}
	mean /= float64(len(gaps))
	var v float64
	for _, g := range gaps {
		v += (g - mean) * (g - mean)
	}
	return mean, math.Sqrt(v/float64(len(gaps))) / mean
}

func TestArrivalDistributions(t *testing.T) {
	cases := []struct {
		spec   Spec
		wantCV float64
	}{
		{Spec{Rate: 100, Requests: 200000, Seed: 1}, 1},                                   // Poisson: CV 1
		{Spec{Rate: 100, Arrival: Gamma, Burstiness: 0.25, Requests: 200000, Seed: 1}, 2}, // CV = 1/sqrt(k)
		{Spec{Rate: 100, Arrival: Gamma, Burstiness: 4, Requests: 200000, Seed: 1}, 0.5},
		{Spec{Rate: 100, Arrival: Constant, Requests: 1000, Seed: 1}, 0},
	}
	for _, c := range cases {
		offs, err := c.spec.Arrivals()
		if err != nil {
			t.Fatal(err)
		}
		mean, cv := stats(offs)
		if math.Abs(mean-0.01)/0.01 > 0.02 || math.Abs(cv-c.wantCV) > 0.03 {
			t.Errorf("%s k=%v: mean gap %.5f s (want 0.01), CV %.3f (want %v)", c.spec.Arrival, c.spec.Burstiness, mean, cv, c.wantCV)
		}
	}
}

func TestSeededAndBounded(t *testing.T) {
	a, _ := (&Spec{Rate: 20, Requests: 200, Seed: 42}).Arrivals()
	b, _ := (&Spec{Rate: 20, Requests: 200, Seed: 42}).Arrivals()
	c, _ := (&Spec{Rate: 20, Requests: 200, Seed: 43}).Arrivals()
	if len(a) != 200 || a[0] != 0 || a[199] != b[199] || a[199] == c[199] {
		t.Fatalf("seeding: %v %v %v", a[199], b[199], c[199])
	}
	d, _ := (&Spec{Rate: 50, Duration: 10 * time.Second, Seed: 1}).Arrivals()
	if last := d[len(d)-1]; last > 10*time.Second || len(d) < 400 || len(d) > 600 {
		t.Fatalf("duration bound: %d arrivals, last at %v", len(d), last)
	}
	both, _ := (&Spec{Rate: 50, Duration: 10 * time.Second, Requests: 30, Seed: 1}).Arrivals()
	if len(both) != 30 {
		t.Fatalf("both bounds: %d", len(both))
	}
}

func TestValidate(t *testing.T) {
	for want, s := range map[string]Spec{
		"give a request rate":  {Requests: 10},
		"give a bound":         {Rate: 5},
		"want poisson":         {Rate: 5, Requests: 1, Arrival: "weibull"},
		"must be positive":     {Rate: 5, Requests: 1, Arrival: Gamma, Burstiness: -1},
		"must not be negative": {Concurrency: 2, Requests: -1},
	} {
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", s, err, want)
		}
	}
	if err := (&Spec{Concurrency: 8, Duration: time.Second}).Validate(); err != nil {
		t.Fatal(err)
	}
}

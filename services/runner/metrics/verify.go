package metrics

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner/trace"
)

// ParseResolved reads back what FormatResolved wrote
// ("ttft<200ms, tpot<50ms, total<3000ms"): the SLO an envelope was judged
// against, so that a verifier can judge its trace the same way.
func ParseResolved(s string) ([]Predicate, error) {
	var out []Predicate
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.IndexAny(part, "<>=")
		if i <= 0 {
			return nil, fmt.Errorf("SLO %q: want NAME OP VALUE", part)
		}
		name, rest := part[:i], part[i:]
		op := rest[:1]
		if len(rest) > 1 && rest[1] == '=' {
			op = rest[:2]
		}
		num := strings.TrimSuffix(rest[len(op):], "ms")
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return nil, fmt.Errorf("SLO %q: threshold: %w", part, err)
		}
		out = append(out, Predicate{Name: name, Field: name + "_ms", Op: op, Value: v})
	}
	return out, nil
}

// energyMetrics are measured by NVML, not derivable from a trace; Verify
// takes them as the envelope states them (joules_per_token, which divides
// them by the trace's tokens, is checked).
var energyMetrics = map[string]bool{"power_avg_w": true, "power_peak_w": true, "energy_joules_total": true}

// Verify recomputes every metric that a trace determines and compares it
// with what the envelope states. Metrics the runner does not produce are
// ignored; a produced metric missing from the envelope, or different, is
// an error naming it.
func Verify(m envelope.Metrics, records []trace.Record) error {
	var opts Options
	if v, ok := m.Get("slo_template_resolved"); ok && v.Str() != "" {
		preds, err := ParseResolved(v.Str())
		if err != nil {
			return fmt.Errorf("slo_template_resolved: %w", err)
		}
		opts.SLO, opts.Resolved = preds, v.Str()
	}
	if v, ok := m.Get("slo_hardware_class"); ok {
		opts.HardwareClass = v.Str()
	}
	if j, ok := m.Float("energy_joules_total"); ok {
		opts.Energy = &Energy{EnergyMeasured: true, Joules: j}
	}
	if a, ok := m.Float("power_avg_w"); ok {
		if opts.Energy == nil {
			opts.Energy = &Energy{}
		}
		opts.Energy.PowerMeasured, opts.Energy.AvgW = true, a
		opts.Energy.PeakW, _ = m.Float("power_peak_w")
	}
	sum := Summarize(records, opts)
	for _, want := range sum.Metrics() {
		if energyMetrics[want.Name] {
			continue
		}
		got, ok := m.Get(want.Name)
		if !ok {
			return fmt.Errorf("metric %s: missing from the envelope, the trace gives %s", want.Name, show(want.Value.Float(), want.Value.IsNull()))
		}
		switch {
		case want.Value.Kind() != got.Kind() && !(want.Value.IsNull() || got.IsNull()) &&
			!(isNumber(want.Value.Kind().String()) && isNumber(got.Kind().String())):
			return fmt.Errorf("metric %s: the envelope has %v, the trace gives %v", want.Name, got.Kind(), want.Value.Kind())
		case want.Value.Kind().String() == "string":
			if got.Str() != want.Value.Str() {
				return fmt.Errorf("metric %s: the envelope says %q, the trace gives %q", want.Name, got.Str(), want.Value.Str())
			}
		case want.Value.IsNull() || got.IsNull():
			if want.Value.IsNull() != got.IsNull() {
				return fmt.Errorf("metric %s: the envelope says %s, the trace gives %s", want.Name, show(got.Float(), got.IsNull()), show(want.Value.Float(), want.Value.IsNull()))
			}
		default:
			w, g := want.Value.Float(), got.Float()
			if math.Abs(w-g) > 1e-9*math.Max(1, math.Abs(w)) {
				return fmt.Errorf("metric %s: the envelope says %v, the trace gives %v", want.Name, g, w)
			}
		}
	}
	return nil
}

func isNumber(kind string) bool { return kind == "integer" || kind == "number" }

func show(v float64, null bool) string {
	if null {
		return "null"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

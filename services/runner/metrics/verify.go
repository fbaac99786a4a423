package metrics

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
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
// with what the envelope states; a produced metric missing from the
// envelope, or different, is an error naming it. So is a metric of the
// runner's that the trace does not produce (an errors_<class> count of
// failures that did not happen, joules_per_token with no energy figure),
// and an SLO that is not the one the envelope's template and hardware
// fingerprint give. Metrics the runner never writes are not checked.
func Verify(env *envelope.Envelope, records []trace.Record) error {
	m := env.Metrics
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
	if err := checkSLO(env, opts); err != nil {
		return err
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
	produced := sum.Metrics()
	for _, got := range m {
		if _, ok := produced.Get(got.Name); !ok && runnerMetrics[got.Name] {
			return fmt.Errorf("metric %s: the envelope states %s, the trace gives none", got.Name, show(got.Value.Float(), got.Value.IsNull()))
		}
	}
	for _, want := range produced {
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

// runnerMetrics are the names Summary.Metrics can write.
var runnerMetrics = func() map[string]bool {
	s := Summary{ErrorsByClass: map[trace.ErrorClass]int{}, HardwareClass: "-", Resolved: "-",
		Energy: &Energy{PowerMeasured: true, EnergyMeasured: true}}
	for _, c := range errorClasses {
		s.ErrorsByClass[c] = 1
	}
	names := map[string]bool{}
	for _, m := range s.Metrics() {
		names[m.Name] = true
	}
	return names
}()

// checkSLO holds the SLO an envelope states (opts, read from its metrics)
// to the one its slo_template gives on its hardware: thresholds that a
// runner may scale are not taken on its word. A "custom" SLO (--slo) has
// no template to compare with; its hardware class is still checked.
func checkSLO(env *envelope.Envelope, opts Options) error {
	gpu := ""
	if hw := env.HardwareFingerprint; len(hw.GPUs) > 0 {
		gpu = hw.GPUs[0].Model
	}
	class := Classify(gpu, env.HardwareFingerprint.CPU.Model)
	switch name := env.SLOTemplate; {
	case name == "":
		if opts.Resolved != "" || opts.HardwareClass != "" {
			return errors.New("slo_template_resolved: the envelope states an SLO but names no slo_template")
		}
		return nil
	case name != "custom" && Templates[name] == nil:
		return fmt.Errorf("slo_template %q: not a template this verifier knows (%s, or custom)", name, strings.Join(slices.Sorted(maps.Keys(Templates)), ", "))
	case opts.Resolved == "":
		return fmt.Errorf("slo_template_resolved: missing; slo_template is %q", name)
	case opts.HardwareClass != class.Key:
		return fmt.Errorf("slo_hardware_class: the envelope says %q, its hardware fingerprint gives %q", opts.HardwareClass, class.Key)
	case name == "custom":
		return nil
	}
	want := Scale(Templates[env.SLOTemplate], class)
	same := len(want) == len(opts.SLO)
	for i := 0; same && i < len(want); i++ {
		same = want[i].Name == opts.SLO[i].Name && want[i].Op == opts.SLO[i].Op && want[i].Value == opts.SLO[i].Value
	}
	if !same {
		return fmt.Errorf("slo_template_resolved: the envelope says %q, template %s on %s hardware gives %q",
			opts.Resolved, env.SLOTemplate, class.Key, FormatResolved(want))
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

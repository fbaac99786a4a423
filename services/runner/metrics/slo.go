package metrics

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Predicate is one SLO threshold on a per-request field, such as
// "ttft_ms < 200".
type Predicate struct {
	Name  string  // ttft, tpot, total, ...: what hardware-class scaling keys on
	Field string  // a name in Fields
	Op    string  // "<", "<=", ">", ">=", "=="
	Value float64 // milliseconds for the latency fields
}

// Holds reports whether v meets the predicate. NaN never does.
func (p Predicate) Holds(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch p.Op {
	case "<":
		return v < p.Value
	case "<=":
		return v <= p.Value
	case ">":
		return v > p.Value
	case ">=":
		return v >= p.Value
	default:
		return v == p.Value
	}
}

// inclusive returns the predicate with "<" relaxed to "<=" and ">" to ">=":
// goodput (vLLM's --goodput, DistServe) counts a request that meets a
// threshold exactly, the reference's req_per_s_passing does not.
func (p Predicate) inclusive() Predicate {
	switch p.Op {
	case "<":
		p.Op = "<="
	case ">":
		p.Op = ">="
	}
	return p
}

// Templates are the reference implementation's SLO templates, anchored to an
// H100 and scaled by HardwareClass.
var Templates = map[string][]Predicate{
	"llm.standard": {
		{Name: "ttft", Field: "ttft_ms", Op: "<", Value: 200},
		{Name: "tpot", Field: "tpot_ms", Op: "<", Value: 50},
		{Name: "total", Field: "total_ms", Op: "<", Value: 3000},
	},
	"llm.relaxed": {
		{Name: "ttft", Field: "ttft_ms", Op: "<", Value: 1000},
		{Name: "total", Field: "total_ms", Op: "<", Value: 10000},
	},
}

// HardwareClass scales SLO thresholds: an H100 is 1.0, lighter hardware
// gets more lenient thresholds.
type HardwareClass struct {
	Key    string
	Factor float64
	gpu    []string // case-insensitive substrings of the first GPU's model
}

// hardwareClasses are the reference's classes, in its matching order: first
// match on the first GPU's model wins; no GPU match falls back to the CPU.
var hardwareClasses = []HardwareClass{
	{"h200", 0.6, []string{"h200"}},
	{"h100", 1.0, []string{"h100"}},
	{"a100", 1.5, []string{"a100"}},
	{"l4", 2.5, []string{"l4"}},
	{"rtx-5090", 1.2, []string{"rtx 5090", "rtx-5090", "rtx5090"}},
	{"rtx-4090", 1.8, []string{"rtx 4090", "rtx-4090", "rtx4090"}},
	{"rtx-4080", 2.2, []string{"rtx 4080", "rtx-4080", "rtx4080"}},
	{"rtx-4070", 2.8, []string{"rtx 4070", "rtx-4070", "rtx4070"}},
	{"rtx-3090", 3.0, []string{"rtx 3090", "rtx-3090", "rtx3090"}},
	{"rtx-ada-laptop", 5.0, []string{"ada generation laptop", "ada laptop"}},
	{"rtx-ada-workstation", 2.0, []string{"rtx 5000 ada", "rtx 6000 ada", "rtx 4500 ada", "rtx 4000 ada", "ada generation"}},
	{"mi300x", 1.2, []string{"mi300x"}},
	{"m-series", 5.0, nil},
	{"cpu", 20.0, nil},
}

// Classify picks the hardware class from the first GPU's model name (""
// when there is no GPU) and the CPU model, as the reference does.
func Classify(firstGPUModel, cpuModel string) HardwareClass {
	if m := strings.ToLower(strings.TrimSpace(firstGPUModel)); m != "" {
		for _, c := range hardwareClasses {
			for _, needle := range c.gpu {
				if strings.Contains(m, needle) {
					return c
				}
			}
		}
	}
	if strings.Contains(strings.ToLower(cpuModel), "apple m") {
		return classByKey("m-series")
	}
	return classByKey("cpu")
}

func classByKey(key string) HardwareClass {
	for _, c := range hardwareClasses {
		if c.Key == key {
			return c
		}
	}
	panic("metrics: no hardware class " + key)
}

// Scale multiplies the thresholds of the ttft, tpot and total predicates by
// the class's factor; others are kept as they are.
func Scale(preds []Predicate, class HardwareClass) []Predicate {
	out := slices.Clone(preds)
	for i := range out {
		switch out[i].Name {
		case "ttft", "tpot", "total":
			out[i].Value *= class.Factor
		}
	}
	return out
}

// FormatResolved writes predicates as the reference's slo_template_resolved:
// "ttft<200ms, tpot<50ms, total<3000ms", whole numbers without ".0".
func FormatResolved(preds []Predicate) string {
	parts := make([]string, len(preds))
	for i, p := range preds {
		num := strconv.FormatFloat(p.Value, 'g', -1, 64)
		if p.Value == math.Trunc(p.Value) && math.Abs(p.Value) < 1e15 {
			num = strconv.FormatInt(int64(p.Value), 10)
		}
		unit := ""
		if strings.HasSuffix(p.Field, "_ms") {
			unit = "ms"
		}
		parts[i] = p.Name + p.Op + num + unit
	}
	return strings.Join(parts, ", ")
}

// ParseSLO reads user-defined predicates: comma-separated FIELD OP VALUE,
// such as "ttft_ms<=300,tpot_ms<40". The predicate's name is the field
// without "_ms" (ttft_ms -> ttft), so hardware-class scaling applies to
// ttft_ms, tpot_ms and total_ms.
func ParseSLO(spec string) ([]Predicate, error) {
	var out []Predicate
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.IndexAny(part, "<>=")
		if i <= 0 {
			return nil, fmt.Errorf("SLO %q: want FIELD OP VALUE, e.g. ttft_ms<=200", part)
		}
		field := strings.TrimSpace(part[:i])
		rest := part[i:]
		op := rest[:1]
		if len(rest) > 1 && rest[1] == '=' {
			op = rest[:2]
		}
		if op == "=" {
			return nil, fmt.Errorf("SLO %q: use == for equality", part)
		}
		if !slices.Contains(Fields, field) {
			return nil, fmt.Errorf("SLO %q: unknown field %q (one of %s)", part, field, strings.Join(Fields, ", "))
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[len(op):]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("SLO %q: the threshold is not a number", part)
		}
		name := strings.TrimSuffix(field, "_ms")
		if field == "e2e_ms" {
			name = "total"
		}
		out = append(out, Predicate{Name: name, Field: field, Op: op, Value: v})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("SLO %q: no predicates", spec)
	}
	return out, nil
}

// meets reports whether a successful request meets every predicate. A
// field that does not apply to the request (TPOT of a one-token answer) is
// not a violation: there is nothing to violate.
func meets(q *Request, preds []Predicate, inclusive bool) bool {
	if !q.OK {
		return false
	}
	for _, p := range preds {
		v, _ := q.Field(p.Field)
		if math.IsNaN(v) && p.Field == "tpot_ms" {
			continue
		}
		if inclusive {
			p = p.inclusive()
		}
		if !p.Holds(v) {
			return false
		}
	}
	return true
}

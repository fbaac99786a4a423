package metrics

import (
	"math"
	"strings"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/services/runner/trace"
)

func TestPercentileIsNumpyLinear(t *testing.T) {
	// Expected values are numpy.percentile(x, p) (method="linear").
	cases := []struct {
		x    []float64
		p    float64
		want float64
	}{
		{[]float64{1, 2, 3, 4}, 50, 2.5},
		{[]float64{1, 2, 3, 4}, 99, 3.97},
		{[]float64{15, 20, 35, 40, 50}, 90, 46},
		{[]float64{15, 20, 35, 40, 50}, 40, 29},
		{[]float64{7}, 99, 7},
		{[]float64{1, 10}, 0, 1},
		{[]float64{1, 10}, 100, 10},
	}
	for _, c := range cases {
		if got := Percentile(c.x, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.x, c.p, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("no values must give NaN")
	}
}

const ms = int64(1e6)

func okRecord(sched, sent, firstChunk, firstTok, lastTok int64, tokens int64) trace.Record {
	return trace.Record{Phase: trace.PhaseMeasure, Status: trace.StatusOK, ScheduledNS: sched, SentNS: sent,
		FirstChunkNS: firstChunk, FirstTokenNS: firstTok, LastTokenNS: lastTok, EndNS: lastTok + ms,
		CompletionTokens: tokens, PromptTokens: 10, TokenSource: trace.TokensUsage}
}

func TestDerive(t *testing.T) {
	base := int64(1_700_000_000) * 1e9
	r := okRecord(base, base+2*ms, base+40*ms, base+52*ms, base+52*ms+90*ms, 10)
	q := Derive(&r)
	want := map[string]float64{
		"ttft_ms": 38, "ttft_token_ms": 50, "total_ms": 140, "tpot_ms": 10,
		"ttft_from_schedule_ms": 52, "e2e_from_schedule_ms": 142,
	}
	for field, w := range want {
		if got, _ := q.Field(field); math.Abs(got-w) > 1e-9 {
			t.Errorf("%s = %v, want %v", field, got, w)
		}
	}
	if q.SendDelayMS != 2 {
		t.Errorf("send delay %v", q.SendDelayMS)
	}
	one := okRecord(base, base, base+ms, base+ms, base+ms, 1)
	if q := Derive(&one); !math.IsNaN(q.TPOTMS) {
		t.Errorf("TPOT of a one-token answer = %v, want NaN (excluded)", q.TPOTMS)
	}
	failed := trace.Record{Status: trace.StatusError, ScheduledNS: base, SentNS: base + ms}
	if q := Derive(&failed); q.OK || !math.IsNaN(q.TTFTMS) || q.SendDelayMS != 1 {
		t.Errorf("failed request: %+v", q)
	}
}

func TestHardwareClassesAndTemplates(t *testing.T) {
	cases := []struct {
		gpu, cpu, template, key, resolved string
	}{
		// The reference fixture dot-bench/baseline.json: no matching GPU class
		// on a laptop... its GPU is an RTX 4000 Ada Laptop, but it ran with
		// the CPU class; the CPU fallback is what it records.
		{"", "13th Gen Intel(R) Core(TM) i9-13950HX", "llm.relaxed", "cpu", "ttft<20000ms, total<200000ms"},
		// The reference's own test: an RTX 4090 under llm.standard.
		{"NVIDIA GeForce RTX 4090", "", "llm.standard", "rtx-4090", "ttft<360ms, tpot<90ms, total<5400ms"},
		{"NVIDIA H100 80GB HBM3", "", "llm.standard", "h100", "ttft<200ms, tpot<50ms, total<3000ms"},
		{"NVIDIA H200", "", "llm.standard", "h200", "ttft<120ms, tpot<30ms, total<1800ms"},
		{"NVIDIA RTX 4000 Ada Generation Laptop GPU", "", "llm.relaxed", "rtx-ada-laptop", "ttft<5000ms, total<50000ms"},
		{"", "Apple M2 Pro", "llm.relaxed", "m-series", "ttft<5000ms, total<50000ms"},
		{"NVIDIA L40S", "", "llm.relaxed", "l4", "ttft<2500ms, total<25000ms"},
	}
	for _, c := range cases {
		class := Classify(c.gpu, c.cpu)
		got := FormatResolved(Scale(Templates[c.template], class))
		if class.Key != c.key || got != c.resolved {
			t.Errorf("%q/%q %s: class %s %q, want %s %q", c.gpu, c.cpu, c.template, class.Key, got, c.key, c.resolved)
		}
	}
	// Scaling never touches the template itself.
	if Templates["llm.standard"][0].Value != 200 {
		t.Fatal("Scale modified the template")
	}
}

func TestParseSLO(t *testing.T) {
	preds, err := ParseSLO("ttft_ms<=300, tpot_ms<40,e2e_ms < 5000.5")
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 3 || preds[0] != (Predicate{"ttft", "ttft_ms", "<=", 300}) || preds[2].Name != "total" || preds[2].Value != 5000.5 {
		t.Fatalf("%+v", preds)
	}
	for spec, want := range map[string]string{
		"ttft<200":       "unknown field",
		"ttft_ms=200":    "use ==",
		"ttft_ms<abc":    "not a number",
		"":               "no predicates",
		"<200":           "want FIELD OP VALUE",
		"ttft_ms<NaN":    "not a number",
		"ttft_ms<200,x>": "unknown field",
	} {
		if _, err := ParseSLO(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSLO(%q) = %v, want an error mentioning %q", spec, err, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	base := int64(1_700_000_000) * 1e9
	var recs []trace.Record
	// Warm-up: excluded.
	w := okRecord(base-ms*500, base-ms*500, base-ms*400, base-ms*400, base-ms*300, 5)
	w.Phase = trace.PhaseWarmup
	recs = append(recs, w)
	// Ten good requests, 100 ms apart: TTFT 50 ms, 11 tokens 10 ms apart.
	for i := range int64(10) {
		s := base + i*100*ms
		r := okRecord(s, s, s+45*ms, s+50*ms, s+150*ms, 11)
		for range 10 {
			r.ITLNS = append(r.ITLNS, 10*ms)
		}
		recs = append(recs, r)
	}
	// One exactly at the TTFT threshold (200 ms): goodput counts it, the
	// reference's strict "<" does not.
	s := base + 1000*ms
	recs = append(recs, okRecord(s, s, s+200*ms, s+200*ms, s+300*ms, 11))
	// One failure.
	recs = append(recs, trace.Record{Phase: trace.PhaseMeasure, Status: trace.StatusError, ErrorClass: trace.ErrTimeout,
		ScheduledNS: base + 1100*ms, SentNS: base + 1100*ms, EndNS: base + 1200*ms})

	sum := Summarize(recs, Options{SLO: Templates["llm.standard"], HardwareClass: "h100", Resolved: "x",
		Energy: &Energy{EnergyMeasured: true, Joules: 100, PowerMeasured: true, AvgW: 300, PeakW: 350}})
	if sum.Requests != 12 || sum.OK != 11 || sum.Errors != 1 || sum.ErrorsByClass[trace.ErrTimeout] != 1 {
		t.Fatalf("counts %+v", sum)
	}
	if sum.Passing != 10 || sum.Good != 11 {
		t.Fatalf("passing %d good %d", sum.Passing, sum.Good)
	}
	if sum.TPOT.P50 != 10 || sum.ITL.P50 != 10 || sum.ITL.N != 100 {
		t.Fatalf("tpot %+v itl %+v", sum.TPOT, sum.ITL)
	}
	// First scheduled (base) to the last end (the threshold request: 1000 +
	// 300 ms to its last token, ended 1 ms later).
	if d := sum.DurationS; math.Abs(d-1.301) > 1e-9 {
		t.Fatalf("duration %v", d)
	}
	if math.Abs(sum.ReqPerSAll-12/1.301) > 1e-9 || math.Abs(sum.GoodputAtSLO-11/1.301) > 1e-9 || math.Abs(sum.ComplianceRate-10.0/12) > 1e-12 {
		t.Fatalf("rates %+v", sum)
	}
	// 10*11 + 11 measured tokens, plus 5 from warm-up for energy per token.
	if sum.OutputTokens != 121 || math.Abs(sum.JoulesPerToken-100.0/126) > 1e-12 {
		t.Fatalf("tokens %d j/tok %v", sum.OutputTokens, sum.JoulesPerToken)
	}
	m := sum.Metrics()
	if v, _ := m.Get("errors_timeout"); v.IntText() != "1" {
		t.Fatalf("errors_timeout %v", v)
	}
	if v, _ := m.Get("token_count_source"); v.Str() != "usage" {
		t.Fatalf("token source %v", v)
	}
	if m[0].Name != "ttft_p50_ms" {
		t.Fatalf("metrics must start with the reference's keys, got %s", m[0].Name)
	}

	// No successful request: percentiles are null, not zero.
	empty := Summarize(recs[len(recs)-1:], Options{})
	if v, _ := empty.Metrics().Get("ttft_p50_ms"); !v.IsNull() {
		t.Fatalf("ttft_p50_ms with no successful request = %v, want null", v)
	}
}

func TestParseResolvedInvertsFormatResolved(t *testing.T) {
	for _, tmpl := range []string{"llm.standard", "llm.relaxed"} {
		for _, class := range []HardwareClass{Classify("NVIDIA H200", ""), Classify("", "cpu"), Classify("NVIDIA A100-SXM4-80GB", "")} {
			preds := Scale(Templates[tmpl], class)
			back, err := ParseResolved(FormatResolved(preds))
			if err != nil {
				t.Fatal(err)
			}
			if FormatResolved(back) != FormatResolved(preds) || len(back) != len(preds) {
				t.Fatalf("%v -> %v", preds, back)
			}
			for i := range back {
				if back[i].Field != preds[i].Field || back[i].Value != preds[i].Value || back[i].Op != preds[i].Op {
					t.Fatalf("%+v != %+v", back[i], preds[i])
				}
			}
		}
	}
}

func TestVerifyCatchesEveryChangedMetric(t *testing.T) {
	base := int64(1_700_000_000) * 1e9
	var recs []trace.Record
	for i := range int64(20) {
		s := base + i*50*ms
		r := okRecord(s, s+ms, s+30*ms, s+31*ms, s+31*ms+int64(i+1)*10*ms, i+2)
		r.ITLNS = []int64{10 * ms, 11 * ms}
		recs = append(recs, r)
	}
	sum := Summarize(recs, Options{SLO: Scale(Templates["llm.standard"], Classify("", "")), HardwareClass: "cpu",
		Resolved: FormatResolved(Scale(Templates["llm.standard"], Classify("", ""))), Energy: &Energy{EnergyMeasured: true, Joules: 42}})
	m := sum.Metrics()
	if err := Verify(&envelope.Envelope{SLOTemplate: "llm.standard", Metrics: m}, recs); err != nil {
		t.Fatalf("honest metrics rejected: %v", err)
	}
	for i := range m {
		if m[i].Name == "energy_joules_total" {
			continue // taken as stated: NVML measured it
		}
		tampered := append(envelope.Metrics(nil), m...)
		switch v := m[i].Value; {
		case v.IsNull():
			tampered[i].Value = canonjson.FloatValue(1)
		case v.Kind() == canonjson.String:
			tampered[i].Value = canonjson.StringValue(v.Str() + "x")
		case v.Kind() == canonjson.Int:
			tampered[i].Value = canonjson.IntValue(1 + int64(v.Float()))
		default:
			tampered[i].Value = canonjson.FloatValue(v.Float()*1.001 + 0.001)
		}
		err := Verify(&envelope.Envelope{SLOTemplate: "llm.standard", Metrics: tampered}, recs)
		if err == nil || !strings.Contains(err.Error(), m[i].Name) {
			t.Errorf("changing %s was not caught: %v", m[i].Name, err)
		}
	}
	if err := Verify(&envelope.Envelope{SLOTemplate: "llm.standard", Metrics: m[1:]}, recs); err == nil || !strings.Contains(err.Error(), m[0].Name) {
		t.Errorf("a missing metric was not caught: %v", err)
	}
}

// The SLO, and the runner's metrics the trace does not produce, are not
// taken on the envelope's word: thresholds scaled for other hardware than
// the fingerprint's, a template that does not give them, or counts of
// failures that never happened are each refused with the metric named.
func TestVerifyRefusesStatedSLOAndPhantomMetrics(t *testing.T) {
	base := int64(1_700_000_000) * 1e9
	var recs []trace.Record
	for i := range int64(10) {
		s := base + i*50*ms
		recs = append(recs, okRecord(s, s+ms, s+500*ms, s+501*ms, s+2500*ms, 8))
	}
	h100 := envelope.HardwareFingerprint{GPUs: []envelope.GPU{{Model: "NVIDIA H100 80GB HBM3"}}}
	summarize := func(tmpl string, class HardwareClass, energy *Energy) envelope.Metrics {
		preds := Scale(Templates[tmpl], class)
		sum := Summarize(recs, Options{SLO: preds, HardwareClass: class.Key, Resolved: FormatResolved(preds), Energy: energy})
		return sum.Metrics()
	}
	honest := &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100, Metrics: summarize("llm.standard", Classify("NVIDIA H100", ""), nil)}
	if err := Verify(honest, recs); err != nil {
		t.Fatalf("honest envelope refused: %v", err)
	}
	if c, _ := honest.Metrics.Float("compliance_rate"); c != 0 {
		t.Fatalf("compliance_rate %v on an H100 with TTFT 500 ms, want 0", c)
	}
	with := func(m envelope.Metrics, name string, v canonjson.Value) envelope.Metrics {
		m = append(envelope.Metrics(nil), m...)
		m.Set(name, v)
		return m
	}
	for _, c := range []struct {
		name string
		env  *envelope.Envelope
		want string
	}{
		{"CPU thresholds on an H100 (compliance 1)", &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100,
			Metrics: with(summarize("llm.standard", Classify("", ""), nil), "slo_hardware_class", canonjson.StringValue("h100"))}, "slo_template_resolved"},
		{"hardware class of other hardware", &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100,
			Metrics: summarize("llm.standard", Classify("", ""), nil)}, "slo_hardware_class"},
		{"relaxed thresholds under the standard template", &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100,
			Metrics: summarize("llm.relaxed", Classify("NVIDIA H100", ""), nil)}, "slo_template_resolved"},
		{"an SLO without a template", &envelope.Envelope{HardwareFingerprint: h100, Metrics: honest.Metrics}, "slo_template"},
		{"a template this verifier does not know", &envelope.Envelope{SLOTemplate: "llm.lenient", HardwareFingerprint: h100, Metrics: honest.Metrics}, "llm.lenient"},
		{"custom SLO labelled with other hardware", &envelope.Envelope{SLOTemplate: "custom", HardwareFingerprint: h100,
			Metrics: with(honest.Metrics, "slo_hardware_class", canonjson.StringValue("cpu"))}, "slo_hardware_class"},
		{"timeouts that did not happen", &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100,
			Metrics: with(honest.Metrics, "errors_timeout", canonjson.IntValue(7))}, "errors_timeout"},
		{"joules per token without an energy figure", &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100,
			Metrics: with(honest.Metrics, "joules_per_token", canonjson.FloatValue(0.001))}, "joules_per_token"},
	} {
		err := Verify(c.env, recs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %s", c.name, err, c.want)
		}
	}
	// A custom SLO has no template to check its thresholds against; with
	// the fingerprint's class it passes, and so does an envelope with no
	// SLO at all, and one with its energy stated.
	custom := &envelope.Envelope{SLOTemplate: "custom", HardwareFingerprint: h100, Metrics: summarize("llm.relaxed", Classify("NVIDIA H100", ""), nil)}
	plainSum := Summarize(recs, Options{})
	plain := &envelope.Envelope{HardwareFingerprint: h100, Metrics: plainSum.Metrics()}
	energy := &envelope.Envelope{SLOTemplate: "llm.standard", HardwareFingerprint: h100,
		Metrics: summarize("llm.standard", Classify("NVIDIA H100", ""), &Energy{EnergyMeasured: true, Joules: 40})}
	for name, env := range map[string]*envelope.Envelope{"custom": custom, "no SLO": plain, "energy": energy} {
		if err := Verify(env, recs); err != nil {
			t.Errorf("%s: honest envelope refused: %v", name, err)
		}
	}
}

// Successful requests whose output tokens are unknown (no usage, nothing
// to count) are counted as such, and a run of only those reports no token
// throughput rather than 0 tokens/s.
func TestUnknownTokenCounts(t *testing.T) {
	base := int64(1_700_000_000) * 1e9
	var recs []trace.Record
	for i := range int64(4) {
		s := base + i*50*ms
		r := okRecord(s, s+ms, s+30*ms, s+30*ms, s+30*ms, 0)
		r.TokenSource = trace.TokensNone
		recs = append(recs, r)
	}
	sum := Summarize(recs, Options{})
	if sum.UncountedOK != 4 || sum.OK != 4 || !math.IsNaN(sum.ThroughputTokPerS) {
		t.Fatalf("uncounted %d of %d, throughput %v: want 4 of 4 and no throughput", sum.UncountedOK, sum.OK, sum.ThroughputTokPerS)
	}
	if v, _ := sum.Metrics().Get("throughput_tok_per_s"); !v.IsNull() {
		t.Fatalf("throughput_tok_per_s is %v, want null", v)
	}
	chunked := okRecord(base+300*ms, base+301*ms, base+330*ms, base+330*ms, base+340*ms, 3)
	chunked.TokenSource = trace.TokensChunks
	sum = Summarize(append(recs, chunked), Options{})
	if sum.UncountedOK != 4 || sum.ChunkCountedOK != 1 || sum.OutputTokens != 3 || math.IsNaN(sum.ThroughputTokPerS) {
		t.Fatalf("uncounted %d, chunk-counted %d, tokens %d, throughput %v", sum.UncountedOK, sum.ChunkCountedOK, sum.OutputTokens, sum.ThroughputTokPerS)
	}
}

// With no measured request there is no window: duration_s is null like
// every rate, never 0.
func TestNoWindowIsNull(t *testing.T) {
	sum := Summarize(nil, Options{})
	m := sum.Metrics()
	for _, name := range []string{"duration_s", "req_per_s_all", "throughput_tok_per_s"} {
		if v, ok := m.Get(name); !ok || !v.IsNull() {
			t.Errorf("%s is %v (present %v), want null", name, v, ok)
		}
	}
}

package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/metrics"
	"github.com/inferencebench/bench/services/runner/simengine"
	"github.com/inferencebench/bench/services/runner/simengine/simenginetest"
	"github.com/inferencebench/bench/services/runner/trace"
)

func metric(t *testing.T, env *envelope.Envelope, name string) float64 {
	t.Helper()
	v, ok := env.Metrics.Float(name)
	if !ok {
		t.Fatalf("metric %s missing or not a number", name)
	}
	return v
}

// TestTTFTAndTPOTAccuracy is the acceptance check: against a
// simulated engine with TTFT 50 ms and TPOT 10 ms and no jitter, 200
// requests at 20 req/s report ttft_p50_ms within 1 ms of 50 and
// tpot_p50_ms within 0.2 ms of 10.
func TestTTFTAndTPOTAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of load")
	}
	if raceEnabled {
		// A timing claim about a normal build; make test runs this test
		// again without -race.
		t.Skip("accuracy is measured without the race detector (make test runs it so)")
	}
	url := simenginetest.Start(t, simengine.Options{TTFT: 50 * time.Millisecond, TPOT: 10 * time.Millisecond, RoleChunk: true})
	res, err := Run(context.Background(), Config{
		Endpoint: url, Stream: true, OutDir: t.TempDir(), Seed: 7,
		Points:  []load.Spec{{Rate: 20, Requests: 200}},
		Dataset: DatasetConfig{Output: lengths(32)},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := res[0].Envelope
	ttft, tpot := metric(t, env, "ttft_p50_ms"), metric(t, env, "tpot_p50_ms")
	t.Logf("ttft_p50_ms %.3f, ttft_token_p50_ms %.3f, tpot_p50_ms %.4f", ttft, metric(t, env, "ttft_token_p50_ms"), tpot)
	if math.Abs(ttft-50) > 1 || math.Abs(tpot-10) > 0.2 {
		t.Fatalf("ttft_p50_ms %.3f (want 50 ± 1), tpot_p50_ms %.4f (want 10 ± 0.2)", ttft, tpot)
	}
	if env.Engine.Name != "simulated" || res[0].Summary.Errors != 0 || res[0].Summary.OK != 200 {
		t.Fatalf("engine %q, %d ok, %d errors", env.Engine.Name, res[0].Summary.OK, res[0].Summary.Errors)
	}
}

// TestMetricsRecomputedFromParquet reads a run's trace back and recomputes
// every summary metric of its envelope with code written independently of
// package metrics.
func TestMetricsRecomputedFromParquet(t *testing.T) {
	url := simenginetest.Start(t, simengine.Options{
		TTFT: 3 * time.Millisecond, TPOT: 500 * time.Microsecond, Jitter: 0.5, RoleChunk: true,
		ErrorRate: 0.15, ErrorKinds: []string{"http_500", "error_payload", "truncate"}, Seed: 3,
	})
	out := t.TempDir()
	res, err := Run(context.Background(), Config{
		Endpoint: url, Stream: true, OutDir: out, Seed: 11,
		Points: []load.Spec{{Rate: 100, Arrival: load.Gamma, Burstiness: 0.5, Requests: 150}},
		Warmup: 10, Cooldown: 10,
		Dataset:     DatasetConfig{Kind: "random", Input: lengths(40), Output: lengthsRange(12, 0.5)},
		SLOTemplate: "llm.standard",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	// The envelope on disk is what Run returned, and it binds the trace.
	env, err := envelope.ReadFile(r.EnvelopePath)
	if err != nil {
		t.Fatal(err)
	}
	if env.ContentHash() != r.ContentHash || filepath.Base(r.EnvelopePath) != r.ContentHash[:12]+".json" {
		t.Fatal("envelope file does not match the result")
	}
	name, _ := env.Distributions.Get("traces")
	want, _ := env.Distributions.Get("traces_sha256")
	data, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want {
		t.Fatal("traces_sha256 does not match the trace file")
	}
	_, recs, err := trace.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 150 {
		t.Fatalf("%d rows", len(recs))
	}

	// Independent recomputation.
	pct := func(xs []float64, p float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		pos := p / 100 * float64(len(s)-1)
		i := int(pos)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (s[i+1]-s[i])*(pos-float64(i))
	}
	const nsms = 1e6
	var ttft, ttftTok, tpot, itl, total, ttftSched, e2eSched, delay []float64
	var n, ok, passing, good int
	var outTok, inTok int64
	var first, last int64 = math.MaxInt64, 0
	failed := map[string]int{}
	limits := map[string]float64{"ttft": 200 * 20, "tpot": 50 * 20, "total": 3000 * 20} // cpu class: ×20
	for _, rc := range recs {
		if rc.Phase != trace.PhaseMeasure {
			continue
		}
		n++
		first, last = min(first, rc.ScheduledNS), max(last, rc.EndNS)
		delay = append(delay, float64(rc.SentNS-rc.ScheduledNS)/nsms)
		if rc.Status != trace.StatusOK {
			failed[string(rc.ErrorClass)]++
			continue
		}
		ok++
		outTok += rc.CompletionTokens
		inTok += rc.PromptTokens
		a := float64(rc.FirstChunkNS-rc.SentNS) / nsms
		b := float64(rc.LastTokenNS-rc.SentNS) / nsms
		ttft = append(ttft, a)
		ttftTok = append(ttftTok, float64(rc.FirstTokenNS-rc.SentNS)/nsms)
		total = append(total, b)
		ttftSched = append(ttftSched, float64(rc.FirstTokenNS-rc.ScheduledNS)/nsms)
		e2eSched = append(e2eSched, float64(rc.LastTokenNS-rc.ScheduledNS)/nsms)
		tp := math.NaN()
		if rc.CompletionTokens > 1 {
			tp = float64(rc.LastTokenNS-rc.FirstTokenNS) / nsms / float64(rc.CompletionTokens-1)
			tpot = append(tpot, tp)
		}
		for _, g := range rc.ITLNS {
			itl = append(itl, float64(g)/nsms)
		}
		tpOK := math.IsNaN(tp) || tp < limits["tpot"]
		tpOKi := math.IsNaN(tp) || tp <= limits["tpot"]
		if a < limits["ttft"] && tpOK && b < limits["total"] {
			passing++
		}
		if a <= limits["ttft"] && tpOKi && b <= limits["total"] {
			good++
		}
	}
	window := float64(last-first) / 1e9
	expect := map[string]float64{
		"ttft_p50_ms": pct(ttft, 50), "ttft_p90_ms": pct(ttft, 90), "ttft_p99_ms": pct(ttft, 99),
		"ttft_token_p50_ms": pct(ttftTok, 50), "ttft_token_p90_ms": pct(ttftTok, 90), "ttft_token_p99_ms": pct(ttftTok, 99),
		"tpot_p50_ms": pct(tpot, 50), "tpot_p90_ms": pct(tpot, 90), "tpot_p99_ms": pct(tpot, 99),
		"itl_p50_ms": pct(itl, 50), "itl_p90_ms": pct(itl, 90), "itl_p99_ms": pct(itl, 99),
		"total_p50_ms": pct(total, 50), "total_p90_ms": pct(total, 90), "total_p99_ms": pct(total, 99),
		"ttft_from_schedule_p50_ms": pct(ttftSched, 50), "ttft_from_schedule_p99_ms": pct(ttftSched, 99),
		"e2e_from_schedule_p50_ms": pct(e2eSched, 50), "e2e_from_schedule_p99_ms": pct(e2eSched, 99),
		"send_delay_p50_ms": pct(delay, 50), "send_delay_p99_ms": pct(delay, 99),
		"req_per_s_all": float64(n) / window, "req_per_s_passing": float64(passing) / window,
		"goodput_at_slo": float64(good) / window, "compliance_rate": float64(passing) / float64(n),
		"ok_rate": float64(ok) / float64(n), "throughput_tok_per_s": float64(outTok) / window,
		"input_throughput_tok_per_s": float64(inTok) / window, "duration_s": window,
		"requests_total": float64(n), "requests_ok": float64(ok), "requests_failed": float64(n - ok),
		"output_tokens_total": float64(outTok),
	}
	for class, k := range failed {
		expect["errors_"+class] = float64(k)
	}
	checked := 0
	for _, m := range env.Metrics {
		if m.Value.Kind().String() == "string" {
			continue
		}
		w, ok := expect[m.Name]
		if !ok {
			t.Errorf("metric %s is not recomputed by this test", m.Name)
			continue
		}
		got := m.Value.Float()
		if m.Value.IsNull() {
			got = math.NaN()
		}
		if !(math.IsNaN(w) && math.IsNaN(got)) && math.Abs(got-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s: envelope %v, recomputed from the trace %v", m.Name, got, w)
		}
		checked++
	}
	if len(failed) == 0 || ok == 0 {
		t.Fatalf("the run should have both failures and successes: %d ok, failures %v", ok, failed)
	}
	t.Logf("%d metrics recomputed from %d trace rows (%d measured, %d ok, failures %v)", checked, len(recs), n, ok, failed)
}

func TestSweepClosedLoopAndDeterminism(t *testing.T) {
	url := simenginetest.Start(t, simengine.Options{TTFT: time.Millisecond, TPOT: 200 * time.Microsecond})
	cfg := Config{
		Endpoint: url, Stream: true, Seed: 5,
		Points:  []load.Spec{{Concurrency: 1, Requests: 20}, {Concurrency: 4, Requests: 40}},
		Dataset: DatasetConfig{Output: lengths(8)},
	}
	cfg.OutDir = t.TempDir()
	a, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OutDir = t.TempDir()
	b, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || a[0].EnvelopePath == a[1].EnvelopePath {
		t.Fatalf("a sweep of 2 points gave %d results", len(a))
	}
	for i := range a {
		ea, eb := a[i].Envelope, b[i].Envelope
		if ea.Dataset.Hash != eb.Dataset.Hash || ea.Dataset.ID != eb.Dataset.ID {
			t.Fatal("same seed, different prompts")
		}
		if mode, _ := ea.DriverOptions.Get("mode"); mode.Str() != "closed_loop" {
			t.Fatalf("driver_options %v", ea.DriverOptions)
		}
		if ea.RunID == eb.RunID {
			t.Fatal("run ids repeat")
		}
	}
	if c, _ := a[1].Envelope.DriverOptions.Get("concurrency"); c.IntText() != "4" {
		t.Fatalf("concurrency %v", c)
	}
}

// TestLatencyFromScheduleShowsQueueing: with an open-loop rate above what a
// concurrency cap of 1 can serve, requests wait for the slot; latency from
// the send hides the wait, latency from the schedule shows it.
func TestLatencyFromScheduleShowsQueueing(t *testing.T) {
	url := simenginetest.Start(t, simengine.Options{TTFT: 10 * time.Millisecond, TPOT: time.Millisecond})
	res, err := Run(context.Background(), Config{
		Endpoint: url, Stream: true, OutDir: t.TempDir(),
		Points:  []load.Spec{{Rate: 200, Arrival: load.Constant, Concurrency: 1, Requests: 30}},
		Dataset: DatasetConfig{Output: lengths(4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := res[0].Envelope
	sent, sched, delay := metric(t, env, "total_p99_ms"), metric(t, env, "e2e_from_schedule_p99_ms"), metric(t, env, "send_delay_p99_ms")
	// Each request takes ~13 ms but arrivals come every 5 ms: by the 30th
	// the backlog is ~200 ms.
	if sent > 40 || sched < 150 || delay < 100 {
		t.Fatalf("e2e from send p99 %.1f ms, from schedule %.1f ms, send delay %.1f ms", sent, sched, delay)
	}
}

func TestNoModelAsksTheServerAndGPUlessEnvelopeValidates(t *testing.T) {
	url := simenginetest.Start(t, simengine.Options{Model: "org/some-model-7b"})
	res, err := Run(context.Background(), Config{
		Endpoint: url + "/v1", Stream: true, OutDir: t.TempDir(),
		Points:  []load.Spec{{Concurrency: 2, Requests: 4}},
		Dataset: DatasetConfig{Output: lengths(4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := res[0].Envelope
	if env.Model.ID != "org/some-model-7b" {
		t.Fatalf("model %q", env.Model.ID)
	}
	if err := env.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(env.HardwareFingerprint.GPUs) != 0 {
		t.Skip("this machine has a GPU: the GPU-less case is not exercised here")
	}
	if !strings.Contains(string(env.MarshalIndent()), `"gpus": []`) || !containsWarning(env, "GPU") {
		t.Fatalf("no gpus: [] or no GPU warning: %v", env.Warnings)
	}
}

func containsWarning(env *envelope.Envelope, sub string) bool {
	for _, w := range env.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func lengths(mean int) dataset.Lengths { return dataset.Lengths{Mean: mean} }

func lengthsRange(mean int, r float64) dataset.Lengths { return dataset.Lengths{Mean: mean, Range: r} }

// TestDriverOptionsArrival: an open-loop point records the arrival
// distribution it ran, Poisson when none was given.
func TestDriverOptionsArrival(t *testing.T) {
	cfg := &Config{API: "chat", Dataset: DatasetConfig{Kind: "synthetic"}}
	for _, c := range []struct {
		arrival load.Arrival
		want    string
	}{{"", "poisson"}, {load.Gamma, "gamma"}, {load.Constant, "constant"}} {
		v, ok := driverOptions(cfg, load.Spec{Rate: 5, Arrival: c.arrival, Requests: 10}, 10).Get("arrival")
		if !ok || v.Str() != c.want {
			t.Errorf("arrival %q recorded as %v, want %s", c.arrival, v, c.want)
		}
	}
}

func TestUnclassifiedGPUWarns(t *testing.T) {
	for _, c := range []struct {
		gpu  string
		warn bool
	}{{"Tesla T4", true}, {"NVIDIA A10G", true}, {"NVIDIA H100 80GB HBM3", false}, {"", false}} {
		hw := envelope.HardwareFingerprint{CPU: envelope.CPU{Model: "AMD EPYC"}}
		if c.gpu != "" {
			hw.GPUs = []envelope.GPU{{Model: c.gpu}}
		}
		class := metrics.Classify(c.gpu, hw.CPU.Model).Key
		if w := unclassifiedGPU(&hw, class); (w != "") != c.warn || c.warn && !strings.Contains(w, c.gpu) {
			t.Errorf("GPU %q (class %s): warning %q", c.gpu, class, w)
		}
	}
}

package pipeline

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/simengine"
	"github.com/inferencebench/bench/services/runner/simengine/simenginetest"
)

// testLog is quiet unless BENCH_TEST_LOG is set.
func testLog() zerolog.Logger {
	if os.Getenv("BENCH_TEST_LOG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// fastRetries makes transient failures and dead letters quick to reach.
var fastRetries = bus.Tuning{MaxDeliver: 4, AckWait: 2 * time.Second, RetryFor: 5 * time.Second,
	Backoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}}

func startPipeline(t testing.TB, opts Options) *Pipeline {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Tuning.MaxDeliver == 0 {
		opts.Tuning = fastRetries
	}
	opts.Log = testLog()
	p, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing the pipeline: %v", err)
		}
	})
	return p
}

// startSim serves a fast simulated engine for the test's lifetime.
func startSim(t testing.TB) string {
	return simenginetest.Start(t, simengine.Options{TTFT: time.Millisecond, TPOT: 100 * time.Microsecond})
}

// runnerConfig is a run of n tiny load points against engine.
func runnerConfig(t testing.TB, engine string, n int) runner.Config {
	return runner.Config{
		Endpoint: engine, Stream: true, OutDir: t.TempDir(), Seed: 11, Repeat: n,
		Points:      []load.Spec{{Concurrency: 1, Requests: 2}},
		Dataset:     runner.DatasetConfig{Output: dataset.Lengths{Mean: 4}},
		SLOTemplate: "llm.relaxed",
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoHundredRuns sends 200 runs through runner, signer, verifier and
// indexer: all 200 are in the catalog, verified, once each, and delivered
// once each on the results stream; publishing all 200 again changes
// nothing.
func TestTwoHundredRuns(t *testing.T) {
	var indexed atomic.Int64
	p := startPipeline(t, Options{
		// A short dedupe window, so that the second round below passes it
		// and reaches every stage again.
		Bus: bus.Options{Duplicates: 200 * time.Millisecond},
		OnProcessed: func(r Role, _ *bus.Message, _ error) {
			if r == RoleIndexer {
				indexed.Add(1)
			}
		},
	})
	results := bustest.Collect(t, p.JetStream(), bus.StreamResults)
	rejected := bustest.Collect(t, p.JetStream(), bus.StreamRejected)
	wire := tap(t, p.Conn())

	cfg := runnerConfig(t, startSim(t), 200)
	cfg.PublishTo(p.JetStream(), p.Store(), nil)
	res, err := runner.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 200 {
		t.Fatalf("%d runs, want 200", len(res))
	}
	waitFor(t, 60*time.Second, "200 results", func() bool { return results.Len() >= 200 || rejected.Len() > 0 })
	if n := rejected.Len(); n > 0 {
		m := rejected.All()[0]
		t.Fatalf("%d dead letters; the first: %s", n, m.Headers().Get(bus.HdrReason))
	}

	want := map[string]bool{}
	for _, r := range res {
		want[r.ContentHash] = true
	}
	seen := map[string]bool{}
	for _, m := range results.All() {
		h := m.Headers().Get(bus.HdrContentHash)
		if seen[h] {
			t.Errorf("%s delivered twice on the results stream", h)
		}
		seen[h] = true
		env, err := envelope.Parse(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if !want[env.ContentHash()] || env.ContentHash() != h {
			t.Errorf("result %s: not one of the runs (body hashes to %s)", h, env.ContentHash())
		}
		if _, err := p.Policy().Verify(env); err != nil {
			t.Errorf("result %s does not verify: %v", h, err)
		}
	}
	wire.checkAgainstSchema(t, bus.StreamUnsigned, bus.StreamSigned, bus.StreamVerified, bus.StreamResults)
	ctx := context.Background()
	if n, err := p.Catalog().Count(ctx, catalog.Filter{}); err != nil || n != 200 {
		t.Fatalf("catalog holds %d entries (err %v), want 200", n, err)
	}
	for h := range want {
		e, err := p.Catalog().Get(ctx, h)
		if err != nil {
			t.Fatalf("catalog %s: %v", h, err)
		}
		if e.SignerKeyID == "" || !strings.HasPrefix(e.TracesURI, "s3://") || e.EnvelopeURI == "" {
			t.Errorf("catalog %s: signer %q traces %q envelope %q", h, e.SignerKeyID, e.TracesURI, e.EnvelopeURI)
		}
		if ok, err := p.Store().Exists(ctx, strings.TrimPrefix(e.EnvelopeURI, "s3://"+p.Store().Bucket()+"/")); err != nil || !ok {
			t.Errorf("archived envelope %s: exists %v, %v", e.EnvelopeURI, ok, err)
		}
	}

	// Everything again, as a runner restarted long after it lost every
	// acknowledgement would: past the dedupe window each stage processes
	// the envelopes again, and the catalog's and the results stream's
	// idempotency by content hash keeps them from counting twice.
	time.Sleep(300 * time.Millisecond)
	for _, r := range res {
		r.Envelope.Signature = nil
		data, _ := r.Envelope.MarshalJSON()
		if err := bus.PublishUnsigned(ctx, p.JetStream(), data, r.Envelope.SuiteID, r.Envelope.RunID, r.ContentHash, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "the second round to be indexed", func() bool { return indexed.Load() >= 400 })
	time.Sleep(200 * time.Millisecond)
	if n, _ := p.Catalog().Count(ctx, catalog.Filter{}); n != 200 || results.Len() != 200 || bustest.Count(t, p.JetStream(), bus.StreamResults) != 200 {
		t.Fatalf("after republishing: catalog %d, results delivered %d, results stream %d; want 200 each",
			n, results.Len(), bustest.Count(t, p.JetStream(), bus.StreamResults))
	}
	if rejected.Len() != 0 {
		t.Fatalf("the second round was dead-lettered: %s", rejected.All()[0].Headers().Get(bus.HdrReason))
	}
}

// TestDeadLetters sends the pipeline a tampered envelope, a run whose trace
// object was replaced after upload, an envelope signed by a key the policy
// does not pin, one whose metrics its traces do not support, malformed
// JSON and an oversized message. Each ends in the dead-letter stream,
// verbatim, with a reason that names the problem; a good run sent after
// them all is still cataloged.
func TestDeadLetters(t *testing.T) {
	p := startPipeline(t, Options{})
	js := p.JetStream()
	ctx := context.Background()
	results := bustest.Collect(t, js, bus.StreamResults)
	rejected := bustest.Collect(t, js, bus.StreamRejected)
	wire := tap(t, p.Conn())
	engine := startSim(t)

	// A run measured and signed by the pipeline's own key, but published
	// straight onto the signed stream with its body changed afterwards.
	good := runOne(t, engine, nil)
	if _, err := devkey.Sign(good.Envelope, p.key); err != nil {
		t.Fatal(err)
	}
	tampered, _ := good.Envelope.MarshalJSON()
	tampered = []byte(strings.Replace(string(tampered), `"seed":11`, `"seed":12`, 1))
	publishRaw(t, js, bus.SubjectSigned+".x.tampered", tampered)

	// A run whose trace object is replaced after the runner uploaded it.
	runOne(t, engine, func(cfg *runner.Config) {
		cfg.PublishTo(js, p.Store(), nil)
		upload := cfg.StoreTrace
		cfg.StoreTrace = func(ctx context.Context, path, sha string) (string, error) {
			uri, err := upload(ctx, path, sha)
			if err != nil {
				return "", err
			}
			_, key, _ := objstore.ParseURI(uri)
			if err := p.Store().Put(ctx, key, []byte("PAR1 not the trace the envelope binds"), runner.TraceContentType); err != nil {
				return "", err
			}
			return uri, nil
		}
	})

	// A run signed by a key nobody pinned.
	other, _ := devkey.Generate()
	unpinned := runOne(t, engine, func(cfg *runner.Config) { cfg.PublishTo(js, p.Store(), nil); cfg.Publish = nil })
	if _, err := devkey.Sign(unpinned.Envelope, other); err != nil {
		t.Fatal(err)
	}
	data, _ := unpinned.Envelope.MarshalJSON()
	publishRaw(t, js, bus.SubjectSigned+".x.unpinned", data)

	// A run that reports a better TTFT than its traces show, signed by the
	// pinned key (a runner that lies is caught by the traces, not the signature).
	lying := runOne(t, engine, func(cfg *runner.Config) { cfg.PublishTo(js, p.Store(), nil); cfg.Publish = nil })
	v, _ := lying.Envelope.Metrics.Float("ttft_p50_ms")
	lying.Envelope.Metrics.SetFloat("ttft_p50_ms", v/2)
	if _, err := devkey.Sign(lying.Envelope, p.key); err != nil {
		t.Fatal(err)
	}
	data, _ = lying.Envelope.MarshalJSON()
	publishRaw(t, js, bus.SubjectSigned+".x.lying", data)

	// Malformed JSON and an oversized message, published the way a runner
	// publishes (with its JetStream headers, which a dead letter must not
	// carry over).
	if err := bus.PublishUnsigned(ctx, js, []byte(`{"schema_version": "1.0.0", "metrics": {`), "x", "r1", "malformed", nil); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = ' '
	}
	if err := bus.PublishUnsigned(ctx, js, big, "x", "r2", "oversized", nil); err != nil {
		t.Fatal(err)
	}

	// And a good run after all of them.
	fine := runOne(t, engine, func(cfg *runner.Config) { cfg.PublishTo(js, p.Store(), nil) })

	waitFor(t, 60*time.Second, "6 dead letters and 1 result", func() bool { return rejected.Len() >= 6 && results.Len() >= 1 })
	time.Sleep(200 * time.Millisecond)
	if results.Len() != 1 || results.All()[0].Headers().Get(bus.HdrContentHash) != fine.ContentHash {
		t.Fatalf("%d results; want only the good run", results.Len())
	}
	want := map[string]string{ // subject token -> what the reason must say
		"tampered":  "does not match envelope content_hash",
		"unpinned":  "not pinned",
		"lying":     "ttft_p50_ms",
		"malformed": "not a valid envelope",
		"oversized": "more than the 1048576-byte limit",
	}
	sawTrace := false
	for _, m := range rejected.All() {
		h := m.Headers()
		reason, from := h.Get(bus.HdrReason), h.Get(bus.HdrFromSubject)
		t.Logf("%s from %s: %s", m.Subject(), from, reason)
		if reason == "" || h.Get(bus.HdrStage) == "" || h.Get(bus.HdrRejectedAt) == "" {
			t.Errorf("dead letter from %s lacks its reason, stage or time: %v", from, h)
		}
		parts := strings.Split(from, ".")
		token := parts[len(parts)-1]
		if sub, ok := want[token]; ok {
			if !strings.Contains(reason, sub) {
				t.Errorf("%s: reason %q does not say %q", token, reason, sub)
			}
			delete(want, token)
			continue
		}
		// The replaced trace arrives on a real content-hash subject.
		if strings.Contains(reason, "does not match traces_sha256") {
			sawTrace = true
			continue
		}
		t.Errorf("unexpected dead letter from %s: %s", from, reason)
	}
	if len(want) > 0 || !sawTrace {
		t.Fatalf("missing dead letters: %v (replaced trace seen: %v)", want, sawTrace)
	}
	// The payload is kept verbatim.
	for _, m := range rejected.All() {
		if strings.HasSuffix(m.Headers().Get(bus.HdrFromSubject), ".oversized") && len(m.Data()) != len(big) {
			t.Errorf("the oversized message was dead-lettered with %d bytes, not its %d", len(m.Data()), len(big))
		}
	}
	wire.checkAgainstSchema(t, bus.StreamRejected)
	if n, _ := p.Catalog().Count(ctx, catalog.Filter{}); n != 1 {
		t.Fatalf("catalog holds %d entries, want 1", n)
	}
}

// runOne measures one tiny load point; adjust, when set, changes the
// runner's configuration first.
func runOne(t *testing.T, engine string, adjust func(*runner.Config)) runner.Result {
	t.Helper()
	cfg := runnerConfig(t, engine, 1)
	if adjust != nil {
		adjust(&cfg)
	}
	res, err := runner.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func publishRaw(t *testing.T, js jetstream.JetStream, subject string, data []byte) {
	t.Helper()
	if _, err := js.Publish(context.Background(), subject, data); err != nil {
		t.Fatalf("publishing to %s: %v", subject, err)
	}
}

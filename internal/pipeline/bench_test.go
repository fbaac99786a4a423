package pipeline

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/services/runner"
)

// benchEnvelopes returns a source of distinct unsigned envelopes, each a
// copy of one real run under a new run_id (so a new content hash), all
// pointing at that run's trace in p's object store. The verifier still
// fetches and re-hashes the trace and recomputes every metric for each.
func benchEnvelopes(b testing.TB, p *Pipeline) func() (data []byte, suite, runID, hash string) {
	b.Helper()
	cfg := runnerConfig(b, startSim(b), 1)
	cfg.PublishTo(p.JetStream(), p.Store(), nil)
	cfg.Publish = nil
	res, err := runner.Run(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := res[0].Envelope
	return func() ([]byte, string, string, string) {
		env := *tmpl
		id, err := envelope.NewRunID()
		if err != nil {
			b.Fatal(err)
		}
		env.RunID = id
		data, err := env.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		return data, env.SuiteID, env.RunID, env.ContentHash()
	}
}

// BenchmarkPipelineThroughput is the end-to-end figure: envelopes
// per second through signer, verifier and indexer (every check, the trace
// fetched and its metrics recomputed, the catalog committed, the result
// published) in one process on embedded NATS, S3 and SQLite. Each
// iteration publishes 2,000 envelopes as fast as the bus takes them and
// waits until the indexer has settled all of them. Target: ≥ 2,000/s.
func BenchmarkPipelineThroughput(b *testing.B) {
	var indexed atomic.Int64
	p := startPipeline(b, Options{OnProcessed: func(r Role, _ *bus.Message, rejected error) {
		if r == RoleIndexer {
			indexed.Add(1)
		}
		if rejected != nil {
			b.Errorf("%s rejected a message: %v", r, rejected)
		}
	}})
	next := benchEnvelopes(b, p)
	const n = 2000
	js := p.JetStream()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch := make([][4]string, n)
		for i := range batch {
			data, suite, run, hash := next()
			batch[i] = [4]string{string(data), suite, run, hash}
		}
		start0 := indexed.Load()
		b.StartTimer()
		start := time.Now()
		var futures []jetstream.PubAckFuture
		for _, e := range batch {
			f, err := js.PublishMsgAsync(unsignedMsg(e), jetstream.WithMsgID(bus.MsgID(bus.StageRunner, e[3])))
			if err != nil {
				b.Fatal(err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
		for indexed.Load()-start0 < n {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "envelopes/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPipelineLatency publishes 100 envelopes per second for 10 s and
// measures, for each, the time from the runner's publish to its arrival on
// the results stream (which happens after the catalog commit, so it bounds
// catalog visibility from above). Target: p99 < 50 ms.
func BenchmarkPipelineLatency(b *testing.B) {
	p := startPipeline(b, Options{})
	next := benchEnvelopes(b, p)
	js := p.JetStream()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	cons, err := js.OrderedConsumer(context.Background(), bus.StreamResults, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		mu.Lock()
		if t, ok := sent[m.Headers().Get(bus.HdrContentHash)]; ok {
			lat = append(lat, now.Sub(t))
		}
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()

	const rate, seconds = 100, 10
	b.ResetTimer()
	for range b.N {
		tick := time.NewTicker(time.Second / rate)
		for range rate * seconds {
			<-tick.C
			data, suite, run, hash := next()
			mu.Lock()
			sent[hash] = time.Now()
			mu.Unlock()
			if err := bus.PublishUnsigned(context.Background(), js, data, suite, run, hash, nil); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
	}
	want := rate * seconds * b.N
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < want {
		b.Fatalf("%d of %d envelopes arrived", len(lat), want)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(0, "ns/op")
	if testing.Verbose() {
		fmt.Printf("publish -> results: %d envelopes at %d/s, p50 %.2f ms, p99 %.2f ms\n", len(lat), rate, q(0.5), q(0.99))
	}
}

func unsignedMsg(e [4]string) *nats.Msg {
	h := bus.ForwardHeaders(nil, bus.StageRunner, e[2], e[3])
	return &nats.Msg{Subject: bus.EnvelopeSubject(bus.SubjectUnsigned, e[1], e[3]), Header: h, Data: []byte(e[0])}
}

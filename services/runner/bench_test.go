package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferencebench/bench/services/runner/clock"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/openai"
	"github.com/inferencebench/bench/services/runner/simengine"
	"github.com/inferencebench/bench/services/runner/trace"
)

// simChildEnv, when set, turns the test binary into a simulated engine: the
// benchmarks run the engine in its own process so that its memory and
// allocations are not counted as the client's.
const simChildEnv = "BENCH_SIM_CHILD_OPTIONS"

func TestMain(m *testing.M) {
	if opts := os.Getenv(simChildEnv); opts != "" {
		serveSimChild(opts)
		return
	}
	os.Exit(m.Run())
}

func serveSimChild(optsJSON string) {
	var o struct {
		TTFTUS, TPOTUS int64
		OutputTokens   int
		GroundTruth    bool
	}
	if err := json.Unmarshal([]byte(optsJSON), &o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	eng, err := simengine.New(simengine.Options{TTFT: time.Duration(o.TTFTUS) * time.Microsecond,
		TPOT: time.Duration(o.TPOTUS) * time.Microsecond, OutputTokens: o.OutputTokens, GroundTruth: o.GroundTruth})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { bufio.NewReader(os.Stdin).ReadString('\n'); cancel() }() // exits when the parent closes stdin
	eng.Serve(ctx, ln)
}

// startSimChild runs a simulated engine in a child process and returns its URL.
func startSimChild(b *testing.B, ttft, tpot time.Duration, outputTokens int, groundTruth bool) string {
	b.Helper()
	opts, _ := json.Marshal(map[string]any{"TTFTUS": ttft.Microseconds(), "TPOTUS": tpot.Microseconds(), "OutputTokens": outputTokens, "GroundTruth": groundTruth})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), simChildEnv+"="+string(opts))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal("simulated engine did not start: ", err)
	}
	return "http://" + strings.TrimSpace(addr)
}

func percentileNS(xs []int64, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	pos := p / 100 * float64(len(xs)-1)
	i := int(pos)
	if i+1 >= len(xs) {
		return time.Duration(xs[len(xs)-1])
	}
	return time.Duration(float64(xs[i]) + (float64(xs[i+1]-xs[i]))*(pos-float64(i)))
}

// BenchmarkTTFTFidelity measures how far the client's TTFT is from the
// simulated engine's own (first token written minus request received, on
// the same clock), at 1, 100 and 1,000 concurrent streams: the client's
// overhead and error on top of what the engine did. Target: p99 < 0.2 ms.
// TTFT is 500 ms so that 1,000 streams are ~2,000 requests/s, a load these
// 2-core machines serve; the measurement is of the client, not of overload.
func BenchmarkTTFTFidelity(b *testing.B) {
	url := startSimChild(b, 500*time.Millisecond, 5*time.Millisecond, 2, true)
	for _, streams := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			client, err := openai.New(url, openai.Options{MaxConns: streams})
			if err != nil {
				b.Fatal(err)
			}
			req := func(int) *openai.Request {
				return &openai.Request{API: openai.Chat, Prompt: "hello world", MaxTokens: 2, Stream: true}
			}
			requests := max(20, 3*streams)
			var diffs []int64
			for b.Loop() {
				recs := closedLoop(context.Background(), client, load.Spec{Concurrency: streams, Requests: requests}, req, func(*trace.Record) {})
				for _, r := range recs {
					if r.OK() && r.ServerFirstTokenNS != 0 {
						measured := r.FirstTokenNS - r.SentNS
						truth := r.ServerFirstTokenNS - r.ServerReceivedNS
						diffs = append(diffs, measured-truth)
					}
				}
			}
			if len(diffs) == 0 {
				b.Fatal("no ground truth in the responses")
			}
			b.ReportMetric(float64(percentileNS(diffs, 50).Microseconds()), "p50_us")
			b.ReportMetric(float64(percentileNS(diffs, 99).Microseconds()), "p99_us")
		})
	}
}

// BenchmarkClientOverhead finds the highest open-loop rate the client
// sustains against a zero-latency engine (16 tokens per response) with the
// dispatch lag (sent - scheduled) p99 under 1 ms and every request
// succeeding, trying rates in increasing steps of 2.5 s each. As in a run
// with --warmup-duration, the first 0.5 s of each step is excluded (that is
// where the connection pool grows), and one client serves every step, as
// one client serves every point of a sweep. Target: at least 10,000
// requests/s.
func BenchmarkClientOverhead(b *testing.B) {
	url := startSimChild(b, 0, 0, 16, false)
	rates := []float64{1000, 2500, 5000, 7500, 10000, 12500, 15000, 20000}
	const seconds, warmup = 2.5, 0.5
	for b.Loop() {
		best := 0.0
		client, err := openai.New(url, openai.Options{MaxConns: 512})
		if err != nil {
			b.Fatal(err)
		}
		for _, rate := range rates {
			spec := load.Spec{Rate: rate, Requests: int(rate * seconds), Seed: 1}
			arrivals, _ := spec.Arrivals()
			req := &openai.Request{API: openai.Chat, Prompt: "hello world", MaxTokens: 16, Stream: true}
			var failed atomic.Int64
			recs := openLoop(context.Background(), client, arrivals, 0, func(int) *openai.Request { return req }, func(r *trace.Record) {
				if !r.OK() {
					failed.Add(1)
				}
			})
			var lag []int64
			for i, r := range recs {
				if arrivals[i] >= time.Duration(warmup*float64(time.Second)) {
					lag = append(lag, r.SentNS-r.ScheduledNS)
				}
			}
			p99 := percentileNS(lag, 99)
			b.Logf("rate %6.0f/s: dispatch lag p50 %v p99 %v max %v, %d failed", rate, percentileNS(lag, 50), p99, percentileNS(lag, 100), failed.Load())
			if p99 >= time.Millisecond || failed.Load() > 0 {
				break
			}
			best = rate
		}
		b.ReportMetric(best, "max_req/s")
	}
}

// BenchmarkMemoryPerStream holds 1,000 streams open against an engine that
// answers slowly (a token every 50 ms) and reports the client's heap and
// goroutine-stack growth per in-flight stream. Target: at most 32 KiB.
func BenchmarkMemoryPerStream(b *testing.B) {
	url := startSimChild(b, 0, 50*time.Millisecond, 64, false)
	const streams = 1000
	for b.Loop() {
		client, err := openai.New(url, openai.Options{MaxConns: streams})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, during runtime.MemStats
		runtime.ReadMemStats(&before)
		var inFlight atomic.Int64
		done := make(chan []trace.Record)
		go func() {
			done <- closedLoop(context.Background(), client, load.Spec{Concurrency: streams, Requests: streams},
				func(int) *openai.Request {
					inFlight.Add(1)
					return &openai.Request{API: openai.Chat, Prompt: "hello", MaxTokens: 64, Stream: true}
				}, func(*trace.Record) { inFlight.Add(-1) })
		}()
		deadline := clock.Now() + int64(10*time.Second)
		for inFlight.Load() < streams && clock.Now() < deadline {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond) // every stream has received tokens
		runtime.GC()
		runtime.ReadMemStats(&during)
		n := inFlight.Load()
		recs := <-done
		ok := 0
		for _, r := range recs {
			if r.OK() {
				ok++
			}
		}
		if ok != streams {
			b.Fatalf("%d of %d streams succeeded", ok, streams)
		}
		grown := int64(during.HeapInuse+during.StackInuse) - int64(before.HeapInuse+before.StackInuse)
		b.ReportMetric(float64(grown)/float64(n)/1024, "KiB/stream")
		b.ReportMetric(float64(int64(during.StackInuse)-int64(before.StackInuse))/float64(n)/1024, "stack_KiB/stream")
		b.ReportMetric(float64(n), "streams")
	}
}

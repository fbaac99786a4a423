package trace

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchRecords makes n rows shaped like a real open-loop run at ~1000
// requests/s: Poisson arrivals, TTFT of tens to hundreds of milliseconds,
// 16 inter-token gaps of ~10-30 ms with nanosecond jitter (so the low bits
// are as incompressible as real clock readings), 2% failures drawn from a
// few distinct error messages, warmup and cooldown at the ends.
func benchRecords(n int) []Record {
	rng := rand.New(rand.NewPCG(2024, 1))
	errs := []struct {
		class  ErrorClass
		msg    string
		status int32
	}{
		{ErrTimeout, "context deadline exceeded after 60s", 0},
		{ErrHTTPStatus, "503 Service Unavailable: server overloaded", 503},
		{ErrTruncated, "unexpected EOF before [DONE]", 200},
		{ErrConnect, "dial tcp 10.0.3.17:8000: connect: connection refused", 0},
	}
	recs := make([]Record, n)
	itl := make([]int64, 16*n) // one backing array, as a long run's buffers would be
	t := int64(1_760_000_000_000_000_000)
	for i := range recs {
		t += int64(rng.ExpFloat64() * 1e6)
		r := &recs[i]
		r.Index = int64(i)
		switch {
		case i < n/50:
			r.Phase = PhaseWarmup
		case i >= n-n/50:
			r.Phase = PhaseCooldown
		default:
			r.Phase = PhaseMeasure
		}
		r.ScheduledNS = t
		r.SentNS = t + 2_000 + rng.Int64N(50_000)
		r.PromptTokens = 128 + rng.Int64N(2048)
		r.ServerReceivedNS = r.SentNS + 80_000 + rng.Int64N(40_000)

		if rng.IntN(50) == 0 {
			e := errs[rng.IntN(len(errs))]
			r.Status, r.ErrorClass, r.Error, r.HTTPStatus = StatusError, e.class, e.msg, e.status
			r.TokenSource = TokensNone
			r.EndNS = r.SentNS + rng.Int64N(60e9)
			r.ITLNS = []int64{}
			continue
		}
		r.Status, r.HTTPStatus = StatusOK, 200
		r.TokenSource, r.UsageSource = TokensUsage, UsageChunk
		r.FirstChunkNS = r.SentNS + 20e6 + rng.Int64N(200e6)
		r.FirstTokenNS = r.FirstChunkNS + 5_000 + rng.Int64N(100_000)
		r.ServerFirstTokenNS = r.FirstTokenNS - 150_000 - rng.Int64N(50_000)
		r.ITLNS = itl[16*i : 16*i+16 : 16*i+16]
		last := r.FirstTokenNS
		for j := range r.ITLNS {
			g := 10e6 + rng.Int64N(20e6)
			r.ITLNS[j] = g
			last += g
		}
		r.LastTokenNS = last
		r.EndNS = last + 100_000 + rng.Int64N(200_000)
		r.ContentChunks = 17
		r.CompletionTokens = 17
	}
	return recs
}

// BenchmarkWriteMillionRows times WriteFile for a 1,000,000-row trace,
// fsync and rename included. Metrics: rows/s, MB (10^6 bytes) of the
// resulting file, and cpu-s/op, the CPU time used (all goroutines, GC
// included), which unlike ns/op does not depend on what else the machine
// is running.
func BenchmarkWriteMillionRows(b *testing.B) {
	const n = 1_000_000
	recs := benchRecords(n)
	path := filepath.Join(b.TempDir(), "trace.parquet")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := WriteFile(path, Metadata{RunID: "bench"}, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(st.Size())/1e6, "MB")
}

// BenchmarkReadMillionRows times ReadFile of the same trace, for the
// verifier's side.
func BenchmarkReadMillionRows(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "trace.parquet")
	if _, err := WriteFile(path, Metadata{RunID: "bench"}, benchRecords(n)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, recs, err := ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) != n {
			b.Fatalf("%d rows", len(recs))
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadSmall times Read of short traces held in memory, the
// verifier's usual case: it reads one trace per envelope, most of them
// from short runs, so the fixed cost of a Read matters more there than
// the cost per row. decoder=pages is Read; decoder=arrow reads every
// column chunk with arrow-go's column readers instead, for comparison in
// the same run. cpu-ns/op is the CPU time used per Read, garbage
// collection included.
func BenchmarkReadSmall(b *testing.B) {
	for _, n := range []int{2, 200} {
		data := writeToBuffer(b, Metadata{RunID: "bench"}, benchRecords(n))
		for _, dec := range []struct {
			name      string
			arrowOnly bool
		}{{"pages", false}, {"arrow", true}} {
			b.Run(fmt.Sprintf("rows=%d/decoder=%s", n, dec.name), func(b *testing.B) {
				b.ReportAllocs()
				cpu0 := processCPU()
				for b.Loop() {
					_, recs, st, err := read(bytes.NewReader(data), int64(len(data)), dec.arrowOnly)
					if err != nil {
						b.Fatal(err)
					}
					if len(recs) != n {
						b.Fatalf("%d rows", len(recs))
					}
					if !dec.arrowOnly && st.fallbacks != 0 {
						b.Fatalf("%d column chunks read with arrow-go", st.fallbacks)
					}
				}
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

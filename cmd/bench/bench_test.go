package main

import (
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// BenchmarkAudit10k runs `bench audit` over 10,000 signed envelopes (the
// reference fixtures re-signed with distinct seeds, 100 per directory) and
// reports throughput and cores_busy: CPU time over wall time, which is 2 when
// both cores of these machines are kept busy.
func BenchmarkAudit10k(b *testing.B) {
	const n = 10_000
	dir := b.TempDir()
	key, err := devkey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	keyPath := filepath.Join(dir, "k.key")
	if _, err := devkey.WriteKeyPair(keyPath, key); err != nil {
		b.Fatal(err)
	}
	fixtures := envelopetest.All(b)
	for i := range n {
		env, err := envelope.ReadFile(fixtures[i%len(fixtures)].Path)
		if err != nil {
			b.Fatal(err)
		}
		env.Signature = nil
		env.Seed = big.NewInt(int64(i))
		if _, err := devkey.Sign(env, key); err != nil {
			b.Fatal(err)
		}
		sub := filepath.Join(dir, "corpus", fmt.Sprintf("%03d", i/100))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("%05d.json", i)), env.MarshalIndent(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var wall, cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(benchBin, "audit", filepath.Join(dir, "corpus"), "--dev-public-key", filepath.Join(dir, "k.pub"), "--json")
		start := time.Now()
		out, err := cmd.Output()
		wall += time.Since(start)
		if err != nil {
			b.Fatalf("audit failed: %v\n%.500s", err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "envelopes/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores_busy")
}

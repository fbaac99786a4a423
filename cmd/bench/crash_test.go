package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/catalog"
)

// proc is one pipeline process of the crash test, restarted by its
// supervisor whenever it dies until the test says it is done.
type proc struct {
	name    string
	args    []string
	env     []string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	code     int
	starts   int
	finished bool // exited 0 on its own (the runner, when its run is done)
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(log, "\n--- start %d of %s\n", p.starts+1, p.name)
	cmd := exec.Command(benchBin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.name, err)
	}
	p.cmd, p.exited, p.starts = cmd, make(chan struct{}), p.starts+1
	go func(exited chan struct{}) {
		err := cmd.Wait()
		log.Close()
		p.mu.Lock()
		p.code = cmd.ProcessState.ExitCode()
		if err == nil && p.name == "runner" {
			p.finished = true
		}
		p.mu.Unlock()
		close(exited)
	}(p.exited)
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// listening waits up to d for something to accept connections on addr.
func listening(addr string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashSafety is the crash test: a 2,000-envelope run through
// runner, signer, verifier and indexer, each its own process, while a
// chaos loop SIGKILLs them one after another mid-stream (and restarts
// them), and SIGKILLs the process holding the NATS server and the object
// store (restarting it on the same data). At the end every envelope the
// runner's journal says it produced is in the catalog and on the results
// stream exactly once, and nothing was dead-lettered.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2,000-envelope run with crashes")
	}
	const envelopes = 2000
	dir := t.TempDir()
	natsAddr, s3Addr := freePort(t), freePort(t)
	data := filepath.Join(dir, "data")

	infra := &proc{name: "nats+s3", logPath: filepath.Join(dir, "infra.log"), args: []string{"up", "--roles", "none",
		"--data-dir", data, "--http", "", "--nats-listen", natsAddr, "--s3-listen", s3Addr, "--log-format", "json"}}
	infra.start(t)
	defer infra.signal(syscall.SIGTERM)
	if !listening(natsAddr, 20*time.Second) || !listening(s3Addr, 20*time.Second) {
		t.Fatalf("the NATS and S3 process did not start:\n%s", infra.tail(30))
	}

	var cred struct{ AccessKey, SecretKey string }
	b, err := os.ReadFile(filepath.Join(data, "s3-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]string
	json.Unmarshal(b, &raw)
	cred.AccessKey, cred.SecretKey = raw["access_key"], raw["secret_key"]
	env := []string{"BENCH_NATS=nats://" + natsAddr, "BENCH_S3_ENDPOINT=http://" + s3Addr,
		"BENCH_S3_ACCESS_KEY=" + cred.AccessKey, "BENCH_S3_SECRET_KEY=" + cred.SecretKey}

	key := filepath.Join(dir, "signer.key")
	if r := runBench(t, nil, "keygen", "--out", key); r.code != 0 {
		t.Fatal(r.stderr)
	}
	engine := startSimEngine(t, "--ttft-ms", "1", "--tpot-ms", "0.2")
	catalogPath := filepath.Join(dir, "catalog.db")
	outDir := filepath.Join(dir, "results")
	logArgs := []string{"--log-format", "json", "--log-level", "info"}
	procs := []*proc{
		{name: "signer", args: append([]string{"signer", "--key", key}, logArgs...)},
		{name: "verifier", args: append([]string{"verifier", "--dev-public-key", filepath.Join(dir, "signer.pub")}, logArgs...)},
		{name: "indexer", args: append([]string{"indexer", "--catalog", catalogPath}, logArgs...)},
		{name: "runner", args: append([]string{"runner", "--endpoint", engine, "--concurrency", "1", "--requests", "2",
			"--output-len", "4", "--repeat", fmt.Sprint(envelopes), "--out", outDir, "--quiet", "--model-revision", "0000000",
			"--slo-template", "llm.relaxed"}, logArgs...)},
	}
	byName := map[string]*proc{"nats+s3": infra}
	for _, p := range procs {
		p.env, p.logPath = env, filepath.Join(dir, p.name+".log")
		byName[p.name] = p
		p.start(t)
	}
	runner := byName["runner"]
	dump := func() {
		for _, p := range append([]*proc{infra}, procs...) {
			t.Logf("%s (%d starts), last lines:\n%s", p.name, p.starts, p.tail(15))
		}
	}

	// The supervisor: whatever dies is restarted, as systemd or Kubernetes
	// would, until the runner has finished.
	stop := make(chan struct{})
	var supervised sync.WaitGroup
	supervised.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if !infra.running() {
				infra.start(t)
				listening(natsAddr, 20*time.Second)
			}
			for _, p := range procs {
				p.mu.Lock()
				done := p.finished
				p.mu.Unlock()
				if !done && !p.running() {
					time.Sleep(200 * time.Millisecond)
					p.start(t)
				}
			}
		}
	})

	// The chaos: every 1.5 s the next victim is killed without warning,
	// while envelopes are flowing.
	victims := []*proc{byName["runner"], byName["signer"], byName["verifier"], byName["indexer"], infra,
		byName["verifier"], byName["indexer"], byName["signer"], byName["runner"], infra}
	journal := filepath.Join(outDir, "journal.jsonl")
	lines := func() int {
		b, _ := os.ReadFile(journal)
		return strings.Count(string(b), "\n")
	}
	deadline := time.Now().Add(8 * time.Minute)
	for i := 0; i < len(victims); {
		time.Sleep(1500 * time.Millisecond)
		if time.Now().After(deadline) {
			dump()
			t.Fatal("the chaos did not finish in time")
		}
		runner.mu.Lock()
		done := runner.finished
		runner.mu.Unlock()
		if done {
			dump()
			t.Fatalf("the run finished after only %d of %d kills: make it longer", i, len(victims))
		}
		v := victims[i]
		if !v.running() {
			continue
		}
		t.Logf("SIGKILL %s (journal at %d lines)", v.name, lines())
		v.signal(syscall.SIGKILL)
		i++
	}

	t.Log("chaos over; waiting for the run to finish")
	for {
		runner.mu.Lock()
		done := runner.finished
		runner.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			dump()
			t.Fatal("the runner did not finish")
		}
		time.Sleep(200 * time.Millisecond)
	}

	nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	count := func(stream string) uint64 {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			return 0
		}
		info, err := s.Info(context.Background())
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	for count(bus.StreamResults) < envelopes || count(bus.StreamUnsigned)+count(bus.StreamSigned)+count(bus.StreamVerified) > 0 {
		if time.Now().After(deadline) {
			dump()
			t.Fatalf("results %d, in flight %d/%d/%d, rejected %d", count(bus.StreamResults),
				count(bus.StreamUnsigned), count(bus.StreamSigned), count(bus.StreamVerified), count(bus.StreamRejected))
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	supervised.Wait()
	for _, p := range procs {
		p.signal(syscall.SIGTERM)
	}

	// What the runner produced, by its journal: point -> content hash.
	produced := map[int]string{}
	f, err := os.Open(journal)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			State       string `json:"state"`
			Point       int    `json:"point"`
			ContentHash string `json:"content_hash"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.State == "written" {
			if prev, ok := produced[l.Point]; ok && prev != l.ContentHash {
				t.Errorf("point %d written twice (%s, %s)", l.Point, prev, l.ContentHash)
			}
			produced[l.Point] = l.ContentHash
		}
	}
	f.Close()
	if len(produced) != envelopes {
		t.Fatalf("the journal records %d points, want %d", len(produced), envelopes)
	}

	// The results stream: each exactly once.
	onStream := map[string]int{}
	cons, err := js.OrderedConsumer(context.Background(), bus.StreamResults, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range envelopes {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		onStream[m.Headers().Get(bus.HdrContentHash)]++
	}
	cat, err := catalog.OpenSQLite(catalogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	n, err := cat.Count(context.Background(), catalog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	lost, dup := 0, 0
	for _, h := range produced {
		if _, err := cat.Get(context.Background(), h); err != nil {
			lost++
		}
		switch onStream[h] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	t.Logf("%d envelopes: catalog %d, results stream %d (%d distinct), rejected %d; lost %d, duplicated %d; starts: %s",
		envelopes, n, count(bus.StreamResults), len(onStream), count(bus.StreamRejected), lost, dup, starts(append([]*proc{infra}, procs...)))
	if n != envelopes || lost != 0 || dup != 0 || count(bus.StreamResults) != envelopes || count(bus.StreamRejected) != 0 {
		dump()
		t.Fatal("envelopes were lost, duplicated or rejected")
	}
}

func starts(ps []*proc) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s %d", p.name, p.starts))
	}
	return strings.Join(parts, ", ")
}

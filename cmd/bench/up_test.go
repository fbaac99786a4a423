package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/inferencebench/bench/pkg/envelope"
)

// TestUpRunnerWatchResultsFetch is the pipeline as a user drives it: `bench
// up` on embedded defaults, `bench watch` following the results stream,
// `bench runner` publishing a three-point sweep, then `bench results` and
// `bench fetch` against the API. Every result arrives once on watch, is
// listed, and fetches and verifies against the signer key up made.
func TestUpRunnerWatchResultsFetch(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	natsAddr, s3Addr, httpAddr := freePort(t), freePort(t), freePort(t)
	up := &proc{name: "up", logPath: filepath.Join(dir, "up.log"), args: []string{"up", "--data-dir", data,
		"--http", httpAddr, "--nats-listen", natsAddr, "--s3-listen", s3Addr}}
	up.start(t)
	defer up.signal(syscall.SIGTERM)
	if !listening(httpAddr, 20*time.Second) {
		t.Fatalf("bench up did not start:\n%s", up.tail(30))
	}
	var cred map[string]string
	b, _ := os.ReadFile(filepath.Join(data, "s3-credentials.json"))
	json.Unmarshal(b, &cred)
	env := append(os.Environ(), "BENCH_NATS=nats://"+natsAddr, "BENCH_S3_ENDPOINT=http://"+s3Addr,
		"BENCH_S3_ACCESS_KEY="+cred["access_key"], "BENCH_S3_SECRET_KEY="+cred["secret_key"], "BENCH_API=http://"+httpAddr)

	watch := exec.Command(benchBin, "watch", "--json")
	watch.Env = env
	watchOut, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var watchErr strings.Builder
	watch.Stderr = &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { watch.Process.Signal(syscall.SIGTERM); watch.Wait() }()
	time.Sleep(300 * time.Millisecond) // watch follows new results only

	engine := startSimEngine(t, "--ttft-ms", "5", "--tpot-ms", "1")
	runner := exec.Command(benchBin, "runner", "--endpoint", engine, "--concurrency", "1,2,4", "--requests", "8",
		"--output-len", "8", "--out", filepath.Join(dir, "results"), "--quiet", "--model-revision", "0000000", "--log-level", "warn")
	runner.Env = env
	out, err := runner.CombinedOutput()
	if err != nil {
		t.Fatalf("bench runner: %v\n%s", err, out)
	}
	var published []string
	for _, line := range strings.Split(string(out), "\n") {
		if h, ok := strings.CutPrefix(line, "published: "); ok {
			published = append(published, h)
		}
	}
	if len(published) != 3 {
		t.Fatalf("bench runner published %d envelopes, want 3:\n%s", len(published), out)
	}

	// watch: each result once, as the envelope's JSON.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(watchOut)
		sc.Buffer(nil, 2<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	seen := map[string]bool{}
	for len(seen) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended: %s", watchErr.String())
			}
			env, err := envelope.Parse([]byte(l))
			if err != nil {
				t.Fatalf("watch printed %q: %v", l, err)
			}
			h := env.ContentHash()
			if seen[h] {
				t.Fatalf("watch delivered %s twice", h)
			}
			seen[h] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("watch saw %d of 3 results; stderr: %s\nup:\n%s", len(seen), watchErr.String(), up.tail(20))
		}
	}
	for _, h := range published {
		if !seen[h] {
			t.Errorf("watch did not deliver %s", h)
		}
	}

	// results: the catalog lists all three.
	res := exec.Command(benchBin, "results", "--json")
	res.Env = env
	js, err := res.Output()
	if err != nil {
		t.Fatalf("bench results: %v", err)
	}
	var listing struct {
		Count   int `json:"count"`
		Results []struct {
			ContentHash string `json:"content_hash"`
		} `json:"results"`
	}
	if err := json.Unmarshal(js, &listing); err != nil || listing.Count != 3 {
		t.Fatalf("bench results: count %d (%v):\n%s", listing.Count, err, js)
	}

	// fetch: the envelope, verified against up's signer key.
	fetch := exec.Command(benchBin, "fetch", "bench:"+published[0][:12], "--dev-public-key", filepath.Join(data, "keys", "signer.pub"))
	fetch.Env = env
	if out, err := fetch.CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("bench fetch: %v\n%s", err, out)
	}
	// Garbage on the bus ends as a dead letter that `bench rejected` names.
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("bench.envelopes.unsigned.x.garbage", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	var rejected string
	for range 100 {
		cmd := exec.Command(benchBin, "rejected")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bench rejected: %v", err)
		}
		if rejected = string(out); rejected != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(rejected, "signer") || !strings.Contains(rejected, "not a valid envelope: invalid JSON") {
		t.Fatalf("bench rejected printed:\n%s", rejected)
	}

	// And an unpinned fetch fails (exit 1): the API is not a trust anchor.
	fetch = exec.Command(benchBin, "fetch", "bench:"+published[0][:12])
	fetch.Env = env
	if err := fetch.Run(); err == nil || fetch.ProcessState.ExitCode() != 1 {
		t.Fatalf("an unpinned fetch: %v", err)
	}
}

// TestDemo runs `bench demo` (what `make demo` runs, shorter): it must exit
// 0 after the result was verified, cataloged and fetched back through the
// API, and say which envelope that was; its temporary data is removed.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole pipeline")
	}
	r := runBench(t, nil, "demo", "--requests", "10", "--rate", "50")
	if r.code != 0 {
		t.Fatalf("bench demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout + r.stderr
	for _, want := range []string{"content hash matches, signature OK", "verified result ", "requests: 10 measured, 10 ok, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bench demo output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`envelope: (\S+) \(signed\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no envelope path in:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the demo's temporary data is still there: %s (%v)", m[1], err)
	}
}

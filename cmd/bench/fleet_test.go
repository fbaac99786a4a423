package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/services/runner/fleet"
)

// fleetEnv is a `bench up` pipeline for fleet tests, with the environment
// that points bench commands at it.
type fleetEnv struct {
	dir, data string
	env       []string
	natsURL   string
	s3        objstore.Config
	up        *proc
}

func startFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	f := &fleetEnv{dir: t.TempDir()}
	f.data = filepath.Join(f.dir, "data")
	natsAddr, s3Addr, httpAddr := freePort(t), freePort(t), freePort(t)
	f.up = &proc{name: "up", logPath: filepath.Join(f.dir, "up.log"), args: []string{"up", "--data-dir", f.data,
		"--http", httpAddr, "--nats-listen", natsAddr, "--s3-listen", s3Addr, "--log-format", "json"}}
	f.up.start(t)
	t.Cleanup(func() { f.up.signal(syscall.SIGTERM) })
	if !listening(httpAddr, 20*time.Second) {
		t.Fatalf("bench up did not start:\n%s", f.up.tail(30))
	}
	var cred map[string]string
	b, _ := os.ReadFile(filepath.Join(f.data, "s3-credentials.json"))
	json.Unmarshal(b, &cred)
	f.natsURL = "nats://" + natsAddr
	f.s3 = objstore.Config{Endpoint: "http://" + s3Addr, Bucket: "bench", AccessKey: cred["access_key"], SecretKey: cred["secret_key"]}
	f.env = append(os.Environ(), "BENCH_NATS="+f.natsURL, "BENCH_S3_ENDPOINT=http://"+s3Addr,
		"BENCH_S3_ACCESS_KEY="+cred["access_key"], "BENCH_S3_SECRET_KEY="+cred["secret_key"], "BENCH_API=http://"+httpAddr)
	return f
}

// runner starts `bench runner --pool` as a process the test can kill.
func (f *fleetEnv) runner(t *testing.T, id, pool string, extra ...string) *proc {
	t.Helper()
	p := &proc{name: id, env: f.env[len(os.Environ()):], logPath: filepath.Join(f.dir, id+".log"),
		args: append([]string{"runner", "--pool", pool, "--id", id, "--work-dir", filepath.Join(f.dir, "work-"+id),
			"--job-ack-wait", "3s", "--log-format", "json"}, extra...)}
	p.start(t)
	t.Cleanup(func() { p.signal(syscall.SIGTERM) })
	return p
}

func (f *fleetEnv) bench(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(benchBin, args...)
	cmd.Env = f.env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func (f *fleetEnv) js(t *testing.T) (jetstream.JetStream, *fleet.Store) {
	t.Helper()
	nc, err := nats.Connect(f.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	store, err := fleet.OpenStore(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return js, store
}

func (f *fleetEnv) waitRunners(t *testing.T, js jetstream.JetStream, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, _ := fleet.Runners(context.Background(), js)
		if len(rs) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runners advertised", len(rs), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// catalogByJob lists the catalog through `bench results` and counts the
// envelopes of each job.
func (f *fleetEnv) catalogByJob(t *testing.T, batch string) map[string][]string {
	t.Helper()
	out, stderr, code := f.bench(t, "results", "--batch", batch, "--limit", "10000", "--json")
	if code != 0 {
		t.Fatalf("bench results: %s", stderr)
	}
	var listing struct {
		Results []struct {
			ContentHash string `json:"content_hash"`
			JobID       string `json:"job_id"`
			BatchID     string `json:"batch_id"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &listing); err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	for _, r := range listing.Results {
		by[r.JobID] = append(by[r.JobID], r.ContentHash)
	}
	return by
}

// TestFleetSixtyJobsThreeRunnersTwoPools is the first check: a
// 60-job matrix over two pools served by three runner processes with
// simulated engines; every job is done exactly once and every envelope is
// verified, cataloged and linked to its job. Along the way: a malformed
// matrix and an unknown pool are refused at submit time, and a queued job
// is cancelled.
func TestFleetSixtyJobsThreeRunnersTwoPools(t *testing.T) {
	if testing.Short() {
		t.Skip("60 jobs through the pipeline")
	}
	f := startFleetEnv(t)
	js, store := f.js(t)
	engineA := startSimEngine(t, "--ttft-ms", "2", "--tpot-ms", "0.5")
	engineB := startSimEngine(t, "--ttft-ms", "2", "--tpot-ms", "0.5")

	// Refused at submit time: a malformed matrix, and an unknown pool.
	bad := writeFile(t, f.dir, "bad.yaml", "batch: b\npool: a\nmodels: [{id: simulated-model}]\nengines:\n  - {name: sim, endpoint: "+engineA+"}\nload:\n  - {rate: 2}\n")
	_, stderr, code := f.bench(t, "submit", bad)
	if code != 2 || !strings.Contains(stderr, "bad.yaml:7: load[0]: give a bound: requests, duration, or both") {
		t.Fatalf("malformed matrix: exit %d\n%s", code, stderr)
	}

	f.runner(t, "r1", "a")
	f.runner(t, "r2", "a")
	f.runner(t, "r3", "b")
	f.waitRunners(t, js, 3)

	unknown := writeFile(t, f.dir, "unknown.yaml", "batch: u\npool: gpu-h200\nmodels: [{id: simulated-model}]\nengines: [{name: sim, endpoint: \""+engineA+"\"}]\nload: [{rate: 2, requests: 2}]\n")
	_, stderr, code = f.bench(t, "submit", unknown)
	if code != 2 || !strings.Contains(stderr, `pool "gpu-h200" is unknown: no runner serves it (live pools: a, b)`) {
		t.Fatalf("unknown pool: exit %d\n%s", code, stderr)
	}

	matrix := writeFile(t, f.dir, "sweep.yaml", fmt.Sprintf(`
batch: sweep
models: [{id: simulated-model, revision: "0000000"}]
engines:
  - {name: simulated, endpoint: "%s", pool: a}
  - {name: simulated, endpoint: "%s", pool: b}
datasets: [{spec: random, input_len: 16, output_len: 4}]
load: [{concurrency: 1, requests: 2}]
seeds: [1, 2, 3]
repeats: 10
slo_template: llm.relaxed
`, engineA, engineB))
	out, stderr, code := f.bench(t, "submit", matrix, "--json")
	if code != 0 {
		t.Fatalf("submit: %s", stderr)
	}
	var sub struct {
		Batch  fleet.Batch `json:"batch"`
		Queued int         `json:"queued"`
	}
	json.Unmarshal([]byte(out), &sub)
	if sub.Queued != 60 || len(sub.Batch.Jobs) != 60 {
		t.Fatalf("submitted %d jobs (%s)", sub.Queued, out)
	}
	// Resubmitting is harmless.
	if out, _, code := f.bench(t, "submit", matrix); code != 0 || !strings.Contains(out, "0 queued, 60 submitted before") {
		t.Fatalf("resubmit: %s", out)
	}

	// A job that cannot start yet (no runner of pool c), cancelled while queued.
	cq := writeFile(t, f.dir, "cq.yaml", "batch: cq\npool: c\nmodels: [{id: simulated-model}]\nengines: [{name: sim, endpoint: \""+engineA+"\"}]\nload: [{rate: 2, requests: 2}]\n")
	if _, stderr, code := f.bench(t, "submit", cq, "--allow-unknown-pool"); code != 0 {
		t.Fatal(stderr)
	}
	if out, stderr, code := f.bench(t, "cancel", "--batch", "cq"); code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %s %s", out, stderr)
	}

	// bench jobs --watch follows the batch to the end.
	watch := exec.Command(benchBin, "jobs", sub.Batch.ID, "--watch")
	watch.Env = f.env
	done := make(chan []byte, 1)
	go func() { b, _ := watch.Output(); done <- b }()
	var table []byte
	select {
	case table = <-done:
	case <-time.After(5 * time.Minute):
		watch.Process.Kill()
		t.Fatal("the batch did not finish in 5 minutes")
	}
	if !strings.Contains(string(table), "60 jobs: 0 queued, 0 running, 60 done, 0 failed, 0 cancelled; 60 envelopes") {
		t.Fatalf("bench jobs --watch ended with:\n%s", table)
	}

	// Each job done once, its envelope verified and cataloged, linked to it.
	jobs, err := store.Jobs(context.Background(), &sub.Batch)
	if err != nil {
		t.Fatal(err)
	}
	perRunner := map[string]int{}
	for _, j := range jobs {
		if j.State != fleet.Done || len(j.Attempts) != 1 || len(j.Points) != 1 {
			t.Fatalf("job %s: %s, %d attempts, %d points", j.ID, j.State, len(j.Attempts), len(j.Points))
		}
		perRunner[j.Attempts[0].Runner]++
	}
	var byJob map[string][]string
	for range 100 {
		if byJob = f.catalogByJob(t, sub.Batch.ID); len(byJob) == 60 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, j := range jobs {
		got := byJob[j.ID]
		if len(got) != 1 || got[0] != j.Points[0].ContentHash {
			t.Fatalf("job %s: catalog holds %v, the job recorded %s", j.ID, got, j.Points[0].ContentHash)
		}
	}
	if perRunner["r3"] != 30 || perRunner["r1"]+perRunner["r2"] != 30 {
		t.Fatalf("jobs per runner %v: pool b's 30 must all be r3's", perRunner)
	}
	if cj, _ := store.Jobs(context.Background(), nil); len(cj) != 61 {
		t.Fatalf("%d job records, want 61", len(cj))
	}
	t.Logf("60 jobs done: %v", perRunner)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/services/runner/fleet"
)

// fleetEnv is a `bench up` pipeline for fleet tests, with the environment
// that points bench commands at it.
type fleetEnv struct {
	dir, data string
	env       []string
	natsURL   string
	api       string // the HTTP API's base URL
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
	f.api = "http://" + httpAddr
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

// waitJob polls the job's record until ok says so.
func waitJob(t *testing.T, store *fleet.Store, id string, within time.Duration, what string, ok func(*fleet.Status) bool) fleet.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, _, err := store.Job(context.Background(), id)
		if err == nil && ok(&st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("job %s: not %s after %s (err %v):\n%s", id, what, within, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// submitOne submits a matrix of one job and returns its id.
func (f *fleetEnv) submitOne(t *testing.T, name, matrix string) string {
	t.Helper()
	out, stderr, code := f.bench(t, "submit", writeFile(t, f.dir, name, matrix), "--json")
	if code != 0 {
		t.Fatalf("submit %s: exit %d\n%s", name, code, stderr)
	}
	var sub struct {
		Batch fleet.Batch `json:"batch"`
	}
	if err := json.Unmarshal([]byte(out), &sub); err != nil || len(sub.Batch.Jobs) != 1 {
		t.Fatalf("submit %s: %v\n%s", name, err, out)
	}
	return sub.Batch.Jobs[0]
}

// TestFleetRunnerKilledMidJob is the second check: the runner that
// holds a three-point job is killed with SIGKILL after its first point; the
// job completes on the other runner of the pool, which publishes the first
// point's recorded envelope again instead of measuring it again, so the
// catalog holds exactly one envelope per point. Then a running job is
// cancelled from the command line, and the runner moves on.
func TestFleetRunnerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("runner processes and the pipeline")
	}
	f := startFleetEnv(t)
	js, store := f.js(t)
	engine := startSimEngine(t, "--ttft-ms", "20", "--tpot-ms", "5")
	runners := map[string]*proc{"k1": f.runner(t, "k1", "a"), "k2": f.runner(t, "k2", "a")}
	f.waitRunners(t, js, 2)

	// Three points of about 1.5 s each (15 requests at 10/s).
	id := f.submitOne(t, "slow.yaml", `
batch: kill
pool: a
models: [{id: simulated-model}]
engines: [{name: simulated, endpoint: "`+engine+`"}]
datasets: [{spec: random, input_len: 16, output_len: 8}]
load: [{rate: [10, 11, 12], requests: 15}]
`)
	st := waitJob(t, store, id, time.Minute, "running with a point done", func(s *fleet.Status) bool {
		return s.State == fleet.Running && len(s.Points) >= 1 && len(s.Points) < 3
	})
	victim := st.Runner
	runners[victim].signal(syscall.SIGKILL)
	t.Logf("killed %s after %d of 3 points", victim, len(st.Points))

	st = waitJob(t, store, id, 2*time.Minute, "done", func(s *fleet.Status) bool { return s.State.Final() })
	if st.State != fleet.Done || len(st.Points) != 3 {
		t.Fatalf("job ended %s with %d points: %s", st.State, len(st.Points), st.Reason)
	}
	if len(st.Attempts) != 2 || st.Attempts[0].Runner != victim || st.Attempts[1].Runner == victim {
		t.Fatalf("attempts %+v: want the killed runner's, then the other's", st.Attempts)
	}
	var byJob map[string][]string
	for range 100 {
		if byJob = f.catalogByJob(t, st.BatchID); len(byJob[id]) >= 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a duplicate would arrive about now
	byJob = f.catalogByJob(t, st.BatchID)
	got := append([]string(nil), byJob[id]...)
	want := st.Envelopes()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("catalog holds %v for the job, the job recorded %v", got, want)
	}

	// Cancel a running job: the runner stops it and takes the next one.
	long := f.submitOne(t, "long.yaml", `
batch: long
pool: a
models: [{id: simulated-model}]
engines: [{name: simulated, endpoint: "`+engine+`"}]
load: [{rate: 5, duration: 10m}]
`)
	waitJob(t, store, long, time.Minute, "running", func(s *fleet.Status) bool { return s.State == fleet.Running })
	if out, stderr, code := f.bench(t, "cancel", long); code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, stderr)
	}
	st = waitJob(t, store, long, 30*time.Second, "cancelled", func(s *fleet.Status) bool { return s.State.Final() })
	if st.State != fleet.Cancelled {
		t.Fatalf("cancelled job ended %s: %s", st.State, st.Reason)
	}
	next := f.submitOne(t, "next.yaml", `
batch: next
pool: a
models: [{id: simulated-model}]
engines: [{name: simulated, endpoint: "`+engine+`"}]
load: [{rate: 20, requests: 4}]
`)
	waitJob(t, store, next, time.Minute, "done", func(s *fleet.Status) bool { return s.State == fleet.Done })
}

// TestFleetRunnerLaunchesEngine is the engine-lifecycle check: the
// job carries a launch command (the simulated engine standing in for
// `vllm serve`), the runner starts it on a free port, waits for it to be
// ready, measures, stops it, and keeps its log in S3; the envelope's
// engine.config_hash is the hash of the launch configuration.
func TestFleetRunnerLaunchesEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runner processes and the pipeline")
	}
	f := startFleetEnv(t)
	js, store := f.js(t)
	f.runner(t, "l1", "gpu")
	f.waitRunners(t, js, 1)

	model := fmt.Sprintf("launched-model-%d", time.Now().UnixNano())
	id := f.submitOne(t, "launch.yaml", `
batch: launch
pool: gpu
models: [{id: `+model+`, revision: abc1234}]
engines:
  - name: simulated
    version: "1.0"
    launch: exec `+benchBin+` sim-engine --addr 127.0.0.1:{port} --model {model} --ttft-ms 2 --tpot-ms 1
    env: {SIM_NOTE: launched}
    ready_timeout: 30s
load: [{concurrency: [1, 2], requests: 4}]
`)
	st := waitJob(t, store, id, 2*time.Minute, "done", func(s *fleet.Status) bool { return s.State.Final() })
	if st.State != fleet.Done || len(st.Points) != 2 {
		t.Fatalf("job ended %s with %d points: %s", st.State, len(st.Points), st.Reason)
	}

	// The HTTP API shows the batch as `bench jobs` does.
	resp, err := http.Get(f.api + "/api/v1/jobs?batch=launch")
	if err != nil {
		t.Fatal(err)
	}
	var listing struct {
		Summary fleet.Summary  `json:"summary"`
		Jobs    []fleet.Status `json:"jobs"`
	}
	err = json.NewDecoder(resp.Body).Decode(&listing)
	resp.Body.Close()
	if err != nil || listing.Summary.Done != 1 || listing.Summary.Envelopes != 2 || len(listing.Jobs) != 1 || listing.Jobs[0].ID != id {
		t.Fatalf("GET /api/v1/jobs: %v %+v", err, listing)
	}

	// The engine is gone.
	// pgrep exits 1 when nothing matches; anything else (0: a match, or
	// no pgrep at all) must not pass for "stopped".
	out, err := exec.Command("pgrep", "-f", model).Output()
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the launched engine may still run: pgrep -f %s: %v %s", model, err, out)
	}

	// Its log is in S3, linked from the job.
	if len(st.EngineLogs) != 1 {
		t.Fatalf("engine logs %v, want one", st.EngineLogs)
	}
	objs, err := objstore.New(context.Background(), f.s3)
	if err != nil {
		t.Fatal(err)
	}
	bucket, key, err := objstore.ParseURI(st.EngineLogs[0])
	if err != nil || bucket != f.s3.Bucket || !strings.HasPrefix(key, fleet.EngineLogPrefix+"/") {
		t.Fatalf("engine log URI %q", st.EngineLogs[0])
	}
	logText, err := objs.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), "http://127.0.0.1:") {
		t.Fatalf("the engine log does not show the engine starting:\n%s", logText)
	}

	// Each envelope binds the launch configuration's hash.
	wantHash := fleet.LaunchConfigHash(&st.Spec.Engine)
	for _, h := range st.Envelopes() {
		var env struct {
			Engine struct {
				Name       string `json:"name"`
				ConfigHash string `json:"config_hash"`
			} `json:"engine"`
			Model struct {
				ID string `json:"id"`
			} `json:"model"`
		}
		getVerified(t, f.api, h, &env)
		if env.Engine.ConfigHash != wantHash || env.Model.ID != model {
			t.Fatalf("envelope %s: engine.config_hash %q model %q, want %q and %q", h, env.Engine.ConfigHash, env.Model.ID, wantHash, model)
		}
	}
}

// getVerified waits for the envelope to be in the catalog and decodes it.
func getVerified(t *testing.T, api, hash string, v any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(api + "/api/v1/results/" + hash)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(body, v); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("envelope %s is not in the catalog", hash)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bench submit is a client: against a NATS server where no role has
// created the contract's streams it refuses with a hint, and creates
// nothing (creating them with default replicas and retention would scale
// down the pipeline's own streams on a cluster).
func TestSubmitDoesNotCreateTheStreams(t *testing.T) {
	b := bustest.StartServer(t)
	dir := t.TempDir()
	matrix := writeFile(t, dir, "m.yaml", "batch: b\npool: a\nmodels: [{id: m}]\nengines:\n  - {name: sim, endpoint: http://127.0.0.1:1}\nload:\n  - {rate: 2, requests: 4}\n")
	r := runBench(t, nil, "submit", matrix, "--nats", b.URL, "--allow-unknown-pool")
	if r.code != 1 || !strings.Contains(r.stderr, "is the pipeline running at") {
		t.Fatalf("exit %d, want 1 with a hint that the pipeline is not running:\n%s", r.code, r.stderr)
	}
	names := b.JS.StreamNames(t.Context())
	for n := range names.Name() {
		t.Errorf("bench submit created stream %s", n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
}

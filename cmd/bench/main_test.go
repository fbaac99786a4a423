package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
)

// benchBin is the bench binary built once for these tests: exit codes and
// output are checked on the real program.
var benchBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bench-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	benchBin = filepath.Join(dir, "bench")
	build := exec.Command("go", "build", "-o", benchBin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building bench:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func runBench(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	cmd := exec.Command(benchBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running bench %v: %v", args, err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Fatalf("bench %v panicked:\n%s", args, r.stderr)
	}
	return r
}

func fixturesDir(t *testing.T) string { return envelopetest.Dir(t) }

func TestVerifyReferenceFixtureOutput(t *testing.T) {
	dir := fixturesDir(t)
	path := filepath.Join(dir, "dot-bench/baseline.json")
	r := runBench(t, nil, "verify", path, "--dev-public-key", filepath.Join(dir, "dot-bench/cosign.pub"))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		"OK  " + path,
		"  method:           dev-key",
		"  content_hash:     b29e2387e87aaaacc2d567ebf809d38400df2e82bdebe084dfacde49a3a981e9",
		"  suite:            llm.inference.sharegpt-v3 v0.0.1",
		"  model:            stub/tinyllama-cpu",
		"  engine:           vllm vvllm-mock-1.0",
		"  key_id:           d354fa33bc2e3ac7",
	}
	lines := strings.Split(r.stdout, "\n")
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Fatalf("line %d:\n got %q\nwant %q\nfull output:\n%s", i, lines[min(i, len(lines)-1)], w, r.stdout)
		}
	}
}

func TestVerifyWithoutTrustMaterialSaysHowToPin(t *testing.T) {
	path := filepath.Join(fixturesDir(t), "dot-bench/baseline.json")
	r := runBench(t, nil, "verify", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"FAIL  " + path, "  method:  dev-key", "  reason:  no trust material", "--dev-public-key", "--policy"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestVerifyUnanchoredPatternWarnsAndRejectsDevKey(t *testing.T) {
	path := filepath.Join(fixturesDir(t), "dot-bench/baseline.json")
	r := runBench(t, nil, "verify", path,
		"--require-issuer", "https://token.actions.githubusercontent.com",
		"--require-identity-pattern", `github\.com/yobitelcomm/bench/`)
	if r.code != 1 || !strings.Contains(r.stderr, "not anchored") || !strings.Contains(r.stderr, "carries no identity") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

// peakRSSKiB runs bench with args and returns its peak resident memory.
// The child is started by python3, not by this process: Go starts children
// with vfork, and at exec Linux folds the peak of the address space being
// replaced (with vfork, this test process's, which links NATS, versitygw
// and SQLite) into the child's ru_maxrss. python3's own is a few MiB.
func peakRSSKiB(t *testing.T, args ...string) int64 {
	t.Helper()
	const script = `
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
`
	out, err := exec.Command(envelopetest.Python(t), append([]string{"-c", script, benchBin}, args...)...).Output()
	if err != nil {
		t.Fatalf("measuring bench %v: %v", args, err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("measuring bench %v: %q", args, out)
	}
	return kib
}

func TestBadInputExitsTwoWithAClearError(t *testing.T) {
	dir := t.TempDir()
	baseline, err := os.ReadFile(filepath.Join(fixturesDir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	// 100 MiB: a JSON string that is too long to be an envelope.
	f.WriteString(`{"suite_id": "`)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range 100 {
		f.Write(chunk)
	}
	f.WriteString(`"}`)
	f.Close()

	cases := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "nope.json"), "envelope not found"},
		{"not json", write("text.json", []byte("this is not json")), "invalid JSON at line 1, column 1"},
		{"truncated", write("truncated.json", baseline[:len(baseline)/2]), "unexpected end of input"},
		{"100 MiB", huge, "more than the 1048576-byte limit"},
		{"10,000-deep arrays", write("deep.json", []byte(strings.Repeat("[", 10000)+strings.Repeat("]", 10000))), "nesting deeper than 512 levels"},
		{"NaN", write("nan.json", bytes.Replace(baseline, []byte(`"ttft_p50_ms": 20.0`), []byte(`"ttft_p50_ms": NaN`), 1)), "NaN and Infinity are not valid JSON"},
		{"Infinity", write("inf.json", bytes.Replace(baseline, []byte(`"ttft_p50_ms": 20.0`), []byte(`"ttft_p50_ms": -Infinity`), 1)), "NaN and Infinity are not valid JSON"},
		{"duplicate keys", write("dup.json", bytes.Replace(baseline, []byte(`"seed": 42,`), []byte(`"seed": 42, "seed": 43,`), 1)), `duplicate key "seed"`},
		{"wrong version", write("v2.json", bytes.Replace(baseline, []byte(`"envelope_version": "v1"`), []byte(`"envelope_version": "v2"`), 1)), `envelope_version: must be one of "v1", not "v2"`},
		{"schema violation", write("schema.json", bytes.Replace(baseline, []byte(`"serial": "unknown"`), []byte(`"serial": ""`), 1)), "hardware_fingerprint.gpus[0].serial: must not be empty"},
		{"fingerprint mismatch", write("fp.json", bytes.Replace(baseline, []byte(`"dmi_uuid": "unknown"`), []byte(`"dmi_uuid": "other"`), 1)), "fingerprint_sha256: does not match"},
	}
	key := filepath.Join(fixturesDir(t), "dot-bench/cosign.pub")
	idleKiB := peakRSSKiB(t, "--version")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, verb := range [][]string{{"verify", c.path, "--dev-public-key", key}, {"hash", c.path}} {
				r := runBench(t, nil, verb...)
				if r.code != 2 {
					t.Fatalf("bench %s: exit %d, want 2\n%s", verb[0], r.code, r.stderr)
				}
				if !strings.Contains(r.stderr, c.want) {
					t.Fatalf("bench %s: stderr does not say %q:\n%s", verb[0], c.want, r.stderr)
				}
				// The binary's own pages (it links NATS, versitygw and
				// SQLite for the pipeline roles) are most of any run's peak:
				// what input costs is the peak above `bench --version`'s.
				if extra := peakRSSKiB(t, verb...) - idleKiB; extra > 32<<10 {
					t.Fatalf("bench %s used %d MiB more memory on %s than doing nothing", verb[0], extra>>10, c.name)
				}
			}
		})
	}
}

func TestHashMatchesTheReference(t *testing.T) {
	fixtures := envelopetest.All(t)
	args := []string{"hash"}
	for _, fx := range fixtures {
		args = append(args, fx.Path)
	}
	r := runBench(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(fixtures) {
		t.Fatalf("%d lines for %d files", len(lines), len(fixtures))
	}
	for i, fx := range fixtures {
		if want := fx.ContentHash + "  " + fx.Path; lines[i] != want {
			t.Errorf("got %q, want %q", lines[i], want)
		}
	}
	// Standard input.
	data, _ := os.ReadFile(fixtures[0].Path)
	if r := runBench(t, data, "hash", "-"); r.stdout != fixtures[0].ContentHash+"  -\n" {
		t.Errorf("hash of stdin: %q", r.stdout)
	}
}

func TestKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "ci.key")
	r := runBench(t, nil, "keygen", "--out", key)
	if r.code != 0 {
		t.Fatalf("keygen: exit %d %s", r.code, r.stderr)
	}
	for path, mode := range map[string]os.FileMode{key: 0o600, filepath.Join(dir, "ci.pub"): 0o644} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v mode %v, want %v", path, err, st.Mode().Perm(), mode)
		}
	}
	if r := runBench(t, nil, "keygen", "--out", key); r.code == 0 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("keygen over an existing key: exit %d %s", r.code, r.stderr)
	}

	unsigned := unsignedCopy(t, dir)
	r = runBench(t, nil, "sign", "--key", key, unsigned)
	if r.code != 0 || !strings.Contains(r.stderr, "content_hash:") {
		t.Fatalf("sign: exit %d %s", r.code, r.stderr)
	}
	pub := filepath.Join(dir, "ci.pub")
	if r := runBench(t, nil, "verify", unsigned, "--dev-public-key", pub); r.code != 0 {
		t.Fatalf("verify after sign: exit %d %s", r.code, r.stderr)
	}
	if r := runBench(t, nil, "sign", "--key", key, unsigned); r.code != 1 || !strings.Contains(r.stderr, "already signed") {
		t.Fatalf("re-sign: exit %d %s", r.code, r.stderr)
	}
	// Another key is not pinned.
	other := filepath.Join(dir, "fixture.pub")
	otherPEM, _ := os.ReadFile(filepath.Join(fixturesDir(t), "dot-bench/cosign.pub"))
	os.WriteFile(other, otherPEM, 0o644)
	if r := runBench(t, nil, "verify", unsigned, "--dev-public-key", other); r.code != 1 || !strings.Contains(r.stderr, "not pinned") {
		t.Fatalf("verify with another key: exit %d %s", r.code, r.stderr)
	}
	// A tampered body.
	data, _ := os.ReadFile(unsigned)
	tampered := filepath.Join(dir, "tampered.json")
	os.WriteFile(tampered, bytes.Replace(data, []byte(`"seed": 42`), []byte(`"seed": 43`), 1), 0o644)
	if r := runBench(t, nil, "verify", tampered, "--dev-public-key", pub); r.code != 1 || !strings.Contains(r.stderr, "tampered or wrong key") {
		t.Fatalf("verify tampered: exit %d %s", r.code, r.stderr)
	}
	// A private key others can read is refused.
	os.Chmod(key, 0o644)
	if r := runBench(t, nil, "sign", "--key", key, unsignedCopy(t, t.TempDir())); r.code != 2 || !strings.Contains(r.stderr, "readable by others") {
		t.Fatalf("sign with a world-readable key: exit %d %s", r.code, r.stderr)
	}
}

// unsignedCopy writes the baseline fixture without its signature into dir.
func unsignedCopy(t *testing.T, dir string) string {
	t.Helper()
	env, err := envelope.ReadFile(filepath.Join(fixturesDir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	p := filepath.Join(dir, "run.json")
	if err := os.WriteFile(p, env.MarshalIndent(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignedEnvelopeVerifiesInPython checks a bench-signed envelope with an
// independent implementation of the reference rules: Python's json module
// for the canonical body and the cryptography package for Ed25519.
func TestSignedEnvelopeVerifiesInPython(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.key")
	if r := runBench(t, nil, "keygen", "--out", key); r.code != 0 {
		t.Fatal(r.stderr)
	}
	signed := unsignedCopy(t, dir)
	if r := runBench(t, nil, "sign", "--key", key, signed); r.code != 0 {
		t.Fatal(r.stderr)
	}
	const script = `
import base64, hashlib, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
env = json.load(open(sys.argv[1]))
sig = env.pop("signature")
assert sig["method"] == "dev-key" and sig["rekor_log_index"] == -1, sig
h = hashlib.sha256(json.dumps(env, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
pub = serialization.load_pem_public_key(sig["certificate"].encode())
assert isinstance(pub, Ed25519PublicKey)
assert pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) == open(sys.argv[2], "rb").read()
pub.verify(base64.b64decode(sig["bundle"], validate=True), h.encode())
print(h)
`
	out, err := exec.Command(envelopetest.Python(t), "-c", script, signed, filepath.Join(dir, "k.pub")).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 (with the cryptography package) rejected the envelope: %v\n%s", err, out)
	}
	r := runBench(t, nil, "hash", signed)
	if got := strings.Fields(r.stdout)[0]; got != strings.TrimSpace(string(out)) {
		t.Fatalf("python hash %s, bench hash %s", out, got)
	}
}

func TestAudit(t *testing.T) {
	dir := fixturesDir(t)
	policy := filepath.Join(t.TempDir(), "policy.json")
	var keys []map[string]string
	keys = append(keys,
		map[string]string{"name": "marathon", "public_key_file": filepath.Join(dir, "trust/cosign-2026-05-18-marathon.pub")},
		map[string]string{"name": "baseline", "public_key_file": filepath.Join(dir, "dot-bench/cosign.pub")})
	for id, pem := range envelopetest.UnpublishedKeys {
		keys = append(keys, map[string]string{"name": id, "public_key": pem})
	}
	doc, _ := json.Marshal(map[string]any{"dev_keys": keys})
	os.WriteFile(policy, doc, 0o644)

	var files []string
	for _, fx := range envelopetest.All(t) {
		files = append(files, fx.Path)
	}
	r := runBench(t, nil, append([]string{"audit", "--policy", policy, "--json"}, files...)...)
	if r.code != 0 {
		t.Fatalf("audit of the 63 fixtures: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var report struct {
		Total int `json:"n_total"`
		OK    int `json:"n_ok"`
		Rows  []auditRow
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	if report.Total != 63 || report.OK != 63 {
		t.Fatalf("report: %d of %d ok", report.OK, report.Total)
	}

	// The whole directory also holds the stale reference schema, which is
	// not an envelope; and without the unpublished keys 12 fail.
	r = runBench(t, nil, "audit", dir, "--dev-public-key", filepath.Join(dir, "trust/cosign-2026-05-18-marathon.pub"), "--dev-public-key", filepath.Join(dir, "dot-bench/cosign.pub"))
	if r.code != 1 {
		t.Fatalf("audit with missing keys: exit %d", r.code)
	}
	if !strings.Contains(r.stdout, "51 / 64 envelopes verified (13 failed)") || !strings.HasPrefix(strings.Split(r.stdout, "\n")[1], "FAIL") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	if r := runBench(t, nil, "audit", filepath.Join(dir, "nope")); r.code != 2 {
		t.Fatalf("audit of a missing path: exit %d", r.code)
	}
}

func TestSchemaCommandPrintsTheCheckedInSchema(t *testing.T) {
	r := runBench(t, nil, "schema")
	want, err := os.ReadFile("../../schemas/envelope.v1.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || r.stdout != string(want) {
		t.Fatalf("bench schema differs from schemas/envelope.v1.schema.json (exit %d)", r.code)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"verify"}, {"verify", "a", "b"}, {"sign", "x.json"}, {"frobnicate"}, {"verify", "--no-such-flag", "x"}} {
		if r := runBench(t, nil, args...); r.code != 2 {
			t.Errorf("bench %v: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
}

// startSimEngine runs `bench sim-engine` on a random port and returns its URL.
func startSimEngine(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(benchBin, append([]string{"sim-engine", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatalf("sim-engine did not start: %v", err)
	}
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("sim-engine said %q", line)
	}
	return strings.Fields(line[i:])[0]
}

func TestRunAgainstTheSimulatedEngine(t *testing.T) {
	url := startSimEngine(t, "--ttft-ms", "5", "--tpot-ms", "1")
	dir := t.TempDir()
	if r := runBench(t, nil, "keygen", "--out", filepath.Join(dir, "k.key")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	out := filepath.Join(dir, "results")
	r := runBench(t, nil, "run", "--endpoint", url, "--concurrency", "2,4", "--requests", "16", "--output-len", "8",
		"--out", out, "--sign-key", filepath.Join(dir, "k.key"), "--model-revision", "abc1234", "--quiet")
	if r.code != 0 {
		t.Fatalf("bench run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"envelope:", "traces:", "ttft_ms (first chunk)", "tpot_ms", "throughput:"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	envs, _ := filepath.Glob(filepath.Join(out, "*.json"))
	traces, _ := filepath.Glob(filepath.Join(out, "*.parquet"))
	if len(envs) != 2 || len(traces) != 2 {
		t.Fatalf("%d envelopes and %d traces for 2 load points", len(envs), len(traces))
	}
	for _, e := range envs {
		v := runBench(t, nil, "verify", e, "--dev-public-key", filepath.Join(dir, "k.pub"))
		if v.code != 0 || !strings.Contains(v.stdout, "engine:           simulated v") {
			t.Fatalf("verify %s: exit %d\n%s%s", e, v.code, v.stdout, v.stderr)
		}
		// The file is named after its content hash.
		h := runBench(t, nil, "hash", e)
		if !strings.HasPrefix(h.stdout, strings.TrimSuffix(filepath.Base(e), ".json")) {
			t.Fatalf("%s is not named after its hash %s", e, h.stdout)
		}
	}
	// Without --model the engine's model list was asked.
	data, _ := os.ReadFile(envs[0])
	if !strings.Contains(string(data), `"id": "simulated-model"`) {
		t.Fatalf("model id not taken from /v1/models")
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--rate", "5", "--requests", "5"},                      // no endpoint
		{"run", "--endpoint", "http://127.0.0.1:1", "--requests", "5"}, // no load
		{"run", "--endpoint", "http://127.0.0.1:1", "--rate", "5"},     // no bound
		{"run", "--endpoint", "http://127.0.0.1:1", "--rate", "x", "--requests", "5"},
		{"run", "--endpoint", "http://127.0.0.1:1", "--rate", "5", "--concurrency", "2", "--requests", "5"},
		{"run", "--endpoint", "http://127.0.0.1:1", "--rate", "5", "--requests", "5", "--slo", "ttft<1"},
		{"run", "--endpoint", "http://127.0.0.1:1", "--rate", "5", "--requests", "5", "--api", "embeddings"},
		{"sim-engine", "--error-rate", "2"},
	} {
		r := runBench(t, nil, args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("bench %v: exit %d, want 2 with a message (%s)", args, r.code, r.stderr)
		}
	}
	// An engine that is not there: the run fails (exit 1) and says why.
	r := runBench(t, nil, "run", "--endpoint", "http://127.0.0.1:1", "--rate", "5", "--requests", "2", "--out", t.TempDir(), "--quiet")
	if r.code != 1 || !strings.Contains(r.stderr, "model") {
		t.Fatalf("unreachable engine: exit %d %s", r.code, r.stderr)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/internal/api"
	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/bus/bustest"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/envelopetest"
	"github.com/inferencebench/bench/schemas"
)

// The query verbs are tested in-process: the command constructors are run
// with cobra's SetArgs/ExecuteContext, so that they can be tested before
// (and independently of) their registration on the root command.

// qSyncBuffer is a bytes.Buffer safe to read while a command writes to it
// (watch writes from its own goroutine).
type qSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *qSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *qSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type qResult struct {
	stdout, stderr string
	code           int
}

// qExec runs cmd with args and maps its error to an exit code and a
// "bench: ..." line on stderr, as run() does for the real binary.
func qExec(ctx context.Context, cmd *cobra.Command, stdin []byte, stdout, stderr *qSyncBuffer, args ...string) int {
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "bench:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "bench:", err)
	return exitInvalid
}

func qRun(t *testing.T, cmd *cobra.Command, stdin []byte, args ...string) qResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr qSyncBuffer
	code := qExec(ctx, cmd, stdin, &stdout, &stderr, args...)
	r := qResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
	t.Logf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", cmd.Name(), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// qClearEnv keeps the developer's own BENCH_* settings out of the tests.
func qClearEnv(t *testing.T) {
	for _, v := range []string{envAPI, envNATS, envNATSCreds, envNATSTLSCA, envNATSTLSCert, envNATSTLSKey,
		envS3Endpoint, envS3AccessKey, envS3SecretKey, envS3Region, envS3TLS} {
		t.Setenv(v, "")
	}
}

// qKey is a dev key pair with its public key written to a file.
type qKey struct {
	priv    ed25519.PrivateKey
	pubPath string
}

func qNewKey(t *testing.T) qKey {
	t.Helper()
	priv, err := devkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signer.pub")
	if err := os.WriteFile(path, devkey.MarshalPublicKey(priv.Public().(ed25519.PublicKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	return qKey{priv: priv, pubPath: path}
}

// qEnvelope is a signed envelope as the pipeline would carry it.
type qEnvelope struct {
	env  *envelope.Envelope
	data []byte // the bytes as signed and published
	hash string
}

// qMakeEnvelope derives a signed envelope from the reference baseline with
// the given suite, model, engine, time and ttft_p50_ms.
func qMakeEnvelope(t *testing.T, key qKey, suite, model, engine string, ts time.Time, ttft float64) qEnvelope {
	t.Helper()
	env, err := envelope.ReadFile(filepath.Join(fixturesDir(t), "dot-bench/baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	env.Signature = nil
	env.SuiteID, env.Model.ID, env.Engine.Name, env.Timestamp = suite, model, engine, ts
	env.RunID = fmt.Sprintf("run-%s-%s-%d", model, engine, ts.UnixNano())
	env.Metrics.Set("ttft_p50_ms", canonjson.FloatValue(ttft))
	hash, err := devkey.Sign(env, key.priv)
	if err != nil {
		t.Fatal(err)
	}
	data := env.MarshalIndent()
	back, err := envelope.Parse(data)
	if err != nil || back.ContentHash() != hash {
		t.Fatalf("the signed envelope does not read back: %v", err)
	}
	return qEnvelope{env: env, data: data, hash: hash}
}

// qEntry is the catalog entry of e, as the indexer would store it.
func qEntry(e qEnvelope) catalog.Entry {
	env := e.env
	entry := catalog.Entry{
		ContentHash: e.hash, RunID: env.RunID, SuiteID: env.SuiteID, SuiteVersion: env.SuiteVersion,
		ModelID: env.Model.ID, ModelRevision: env.Model.Revision, Provider: env.Model.Provider,
		EngineName: env.Engine.Name, EngineVersion: env.Engine.Version, DatasetID: env.Dataset.ID,
		HardwareFingerprint: env.HardwareFingerprint.FingerprintSHA256,
		GPUCount:            len(env.HardwareFingerprint.GPUs),
		GPUModel:            env.HardwareFingerprint.GPUs[0].Model,
		Timestamp:           env.Timestamp,
		VerifiedAt:          env.Timestamp.Add(time.Minute),
		SignatureMethod:     catalog.MethodDevKey,
		SignerKeyID:         devkey.KeyID(mustEmbeddedKey(env)),
		EnvelopeURI:         "s3://bench/envelopes/" + e.hash + ".json",
		Metrics:             map[string]float64{},
		Envelope:            e.data,
	}
	for _, m := range env.Metrics {
		if v, ok := env.Metrics.Float(m.Name); ok {
			entry.Metrics[m.Name] = v
		}
	}
	return entry
}

func mustEmbeddedKey(env *envelope.Envelope) ed25519.PublicKey {
	pub, err := devkey.EmbeddedKey(env.Signature)
	if err != nil {
		panic(err)
	}
	return pub
}

// qAPIServer serves api.Handler over a SQLite catalog holding es.
func qAPIServer(t *testing.T, es ...qEnvelope) *httptest.Server {
	t.Helper()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	for _, e := range es {
		if _, err := cat.Put(context.Background(), qEntry(e)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.Handler(cat, nil))
	t.Cleanup(srv.Close)
	return srv
}

// qDeadURL is an http URL on which nothing listens.
func qDeadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

var qBase = time.Date(2026, 5, 18, 10, 33, 10, 641017000, time.UTC)

// ---------------------------------------------------------------------------
// fetch

func TestFetchFile(t *testing.T) {
	qClearEnv(t)
	key, other := qNewKey(t), qNewKey(t)
	e := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	if err := os.WriteFile(path, e.data, 0o644); err != nil {
		t.Fatal(err)
	}

	// Verify only: the OK block of 'bench verify' on stdout.
	r := qRun(t, newFetchCommand(), nil, path, "--dev-public-key", key.pubPath)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK  "+path+"\n") ||
		!strings.Contains(r.stdout, "  content_hash:     "+e.hash) || !strings.Contains(r.stdout, "  model:            org/model-a") {
		t.Fatalf("verify only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// --out PATH: the bytes as read, once verified.
	dest := filepath.Join(dir, "copy.json")
	r = qRun(t, newFetchCommand(), nil, path, "--dev-public-key", key.pubPath, "--out", dest)
	if got, err := os.ReadFile(dest); r.code != 0 || err != nil || !bytes.Equal(got, e.data) {
		t.Fatalf("--out: exit %d, err %v, bytes equal %v", r.code, err, bytes.Equal(got, e.data))
	}
	if !strings.HasPrefix(r.stdout, "OK  ") || !strings.Contains(r.stderr, "wrote "+dest) {
		t.Fatalf("--out: output\n%s%s", r.stdout, r.stderr)
	}

	// --out -: the envelope alone on stdout, the OK block on stderr.
	r = qRun(t, newFetchCommand(), nil, path, "--dev-public-key", key.pubPath, "--out", "-")
	if r.code != 0 || r.stdout != string(e.data) || !strings.HasPrefix(r.stderr, "OK  "+path) {
		t.Fatalf("--out -: exit %d\nstdout %q\nstderr %s", r.code, r.stdout, r.stderr)
	}

	// Standard input.
	r = qRun(t, newFetchCommand(), e.data, "-", "--dev-public-key", key.pubPath)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK  -") {
		t.Fatalf("stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A key that did not sign it: exit 1, FAIL block, nothing written.
	rejected := filepath.Join(dir, "rejected.json")
	r = qRun(t, newFetchCommand(), nil, path, "--dev-public-key", other.pubPath, "--out", rejected)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "FAIL  "+path) || !strings.Contains(r.stderr, "not pinned") {
		t.Fatalf("wrong key: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(rejected); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an envelope that failed verification was written: %v", err)
	}

	// No trust material: exit 1 saying how to pin, as verify does.
	r = qRun(t, newFetchCommand(), nil, path)
	if r.code != 1 || !strings.Contains(r.stderr, "no trust material") || !strings.Contains(r.stderr, "--dev-public-key") {
		t.Fatalf("no trust: exit %d\n%s", r.code, r.stderr)
	}

	// Tampered: the content hash changes, the signature no longer holds.
	tampered := filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(tampered, bytes.Replace(e.data, []byte("org/model-a"), []byte("org/model-b"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if r = qRun(t, newFetchCommand(), nil, tampered, "--dev-public-key", key.pubPath); r.code != 1 || !strings.HasPrefix(r.stderr, "FAIL  ") {
		t.Fatalf("tampered: exit %d\n%s", r.code, r.stderr)
	}

	// --no-verify: written as is, with a warning; it needs --out.
	r = qRun(t, newFetchCommand(), nil, tampered, "--no-verify", "--out", "-")
	if r.code != 0 || !strings.Contains(r.stderr, "NOT verified") || !strings.Contains(r.stdout, "org/model-b") {
		t.Fatalf("--no-verify: exit %d\n%s", r.code, r.stderr)
	}
	if r = qRun(t, newFetchCommand(), nil, path, "--no-verify"); r.code != 2 || !strings.Contains(r.stderr, "--out") {
		t.Fatalf("--no-verify without --out: exit %d\n%s", r.code, r.stderr)
	}

	// Unloadable inputs: exit 2.
	notJSON := filepath.Join(dir, "not.json")
	huge := filepath.Join(dir, "huge.json")
	os.WriteFile(notJSON, []byte("{not json"), 0o644)
	os.WriteFile(huge, bytes.Repeat([]byte(" "), envelope.DefaultMaxSize+1), 0o644)
	for _, c := range []struct{ path, mention string }{
		{notJSON, "not a valid envelope"},
		{huge, "limit"},
		{filepath.Join(dir, "missing.json"), "envelope not found"},
	} {
		if r = qRun(t, newFetchCommand(), nil, c.path, "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, c.mention) {
			t.Fatalf("%s: exit %d, want 2 mentioning %q\n%s", c.path, r.code, c.mention, r.stderr)
		}
	}
	// An unreadable trust flag fails before anything is fetched.
	if r = qRun(t, newFetchCommand(), nil, path, "--dev-public-key", filepath.Join(dir, "nope.pub")); r.code != 2 {
		t.Fatalf("missing key file: exit %d\n%s", r.code, r.stderr)
	}
}

func TestFetchHTTPS(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	e := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	mux := http.NewServeMux()
	mux.HandleFunc("/runs/a.json", func(w http.ResponseWriter, _ *http.Request) { w.Write(e.data) })
	mux.HandleFunc("/huge.json", func(w http.ResponseWriter, _ *http.Request) {
		// No Content-Length: the limit must hold while reading.
		for range envelope.DefaultMaxSize/1024 + 1 {
			w.Write(bytes.Repeat([]byte(" "), 1024))
			w.(http.Flusher).Flush()
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	srv.StartTLS()
	defer srv.Close()
	queryHTTPTransport = srv.Client().Transport
	defer func() { queryHTTPTransport = nil }()

	r := qRun(t, newFetchCommand(), nil, srv.URL+"/runs/a.json", "--dev-public-key", key.pubPath, "--out", "-")
	if r.code != 0 || r.stdout != string(e.data) || !strings.Contains(r.stderr, "OK  "+srv.URL+"/runs/a.json") {
		t.Fatalf("https: exit %d\n%s", r.code, r.stderr)
	}
	if r = qRun(t, newFetchCommand(), nil, srv.URL+"/runs/missing.json", "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, "404") {
		t.Fatalf("404: exit %d\n%s", r.code, r.stderr)
	}
	if r = qRun(t, newFetchCommand(), nil, srv.URL+"/huge.json", "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, "limit") {
		t.Fatalf("oversized: exit %d\n%s", r.code, r.stderr)
	}
	// Without the test CA the certificate is refused.
	queryHTTPTransport = nil
	if r = qRun(t, newFetchCommand(), nil, srv.URL+"/runs/a.json", "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("untrusted certificate: exit %d\n%s", r.code, r.stderr)
	}
}

func TestFetchCatalogReference(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	a := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	b := qMakeEnvelope(t, key, "llm.chat", "org/model-b", "sglang", qBase.Add(time.Hour), 30)
	srv := qAPIServer(t, a, b)

	out := filepath.Join(t.TempDir(), "a.json")
	ref := "bench:" + a.hash[:12]
	r := qRun(t, newFetchCommand(), nil, ref, "--api", srv.URL, "--dev-public-key", key.pubPath, "--out", out)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK  "+ref+"\n") || !strings.Contains(r.stdout, a.hash) {
		t.Fatalf("bench:<prefix>: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, a.data) {
		t.Fatal("the envelope written is not the one cataloged, byte for byte")
	}

	// $BENCH_API instead of --api; a full hash, upper case.
	t.Setenv(envAPI, srv.URL+"/")
	if r = qRun(t, newFetchCommand(), nil, "bench:"+strings.ToUpper(b.hash), "--dev-public-key", key.pubPath); r.code != 0 || !strings.Contains(r.stdout, b.hash) {
		t.Fatalf("$BENCH_API: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv(envAPI, "")

	for _, c := range []struct {
		ref, mention string
		code         int
	}{
		{"bench:ffffffff", "no result has a content hash starting with ffffffff", 2},
		{"bench:abc", "at least 8", 2},
		{"bench:not-hex-at-all", "at least 8", 2},
	} {
		if r = qRun(t, newFetchCommand(), nil, c.ref, "--api", srv.URL, "--dev-public-key", key.pubPath); r.code != c.code || !strings.Contains(r.stderr, c.mention) {
			t.Fatalf("%s: exit %d, want %d mentioning %q\n%s", c.ref, r.code, c.code, c.mention, r.stderr)
		}
	}
	dead := qDeadURL(t)
	if r = qRun(t, newFetchCommand(), nil, ref, "--api", dead, "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, "bench up") {
		t.Fatalf("unreachable API: exit %d\n%s", r.code, r.stderr)
	}

	// An API that answers with another (validly signed) envelope is caught:
	// a good signature does not make it the result that was asked for.
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(b.data) }))
	defer liar.Close()
	if r = qRun(t, newFetchCommand(), nil, ref, "--api", liar.URL, "--dev-public-key", key.pubPath); r.code != 1 || !strings.Contains(r.stderr, "not the one asked for") {
		t.Fatalf("lying API: exit %d\n%s", r.code, r.stderr)
	}
}

func TestFetchS3(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	// Built before the S3 server starts: it changes the working directory,
	// and the fixtures are found relative to it.
	e := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	outDir := t.TempDir()

	const access, secret = "benchfetchaccess", "benchfetchsecret0123456789"
	srv, err := objstore.StartServer(context.Background(), t.TempDir(), "127.0.0.1:0", access, secret)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the S3 server: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := objstore.New(ctx, srv.Config("bench"))
	if err != nil {
		t.Fatal(err)
	}
	objKey := "envelopes/" + e.hash + ".json"
	if err := store.Put(ctx, objKey, e.data, "application/json"); err != nil {
		t.Fatal(err)
	}
	uri := store.URI(objKey)
	s3Args := []string{"--s3-endpoint", srv.Endpoint(), "--s3-access-key", access, "--s3-secret-key", secret}

	out := filepath.Join(outDir, "e.json")
	r := qRun(t, newFetchCommand(), nil, append([]string{uri, "--dev-public-key", key.pubPath, "--out", out}, s3Args...)...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK  "+uri) {
		t.Fatalf("s3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, e.data) {
		t.Fatal("the envelope written differs from the object")
	}

	// The same from the environment.
	t.Setenv(envS3Endpoint, srv.Endpoint())
	t.Setenv(envS3AccessKey, access)
	t.Setenv(envS3SecretKey, secret)
	if r = qRun(t, newFetchCommand(), nil, uri, "--dev-public-key", key.pubPath); r.code != 0 {
		t.Fatalf("s3 from the environment: exit %d\n%s", r.code, r.stderr)
	}
	if r = qRun(t, newFetchCommand(), nil, "s3://bench/envelopes/missing.json", "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, "no such object") {
		t.Fatalf("missing object: exit %d\n%s", r.code, r.stderr)
	}
	if r = qRun(t, newFetchCommand(), nil, uri, "--dev-public-key", key.pubPath, "--s3-secret-key", "wrong-secret-0123456789"); r.code != 2 {
		t.Fatalf("wrong secret: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv(envS3Endpoint, "")
	if r = qRun(t, newFetchCommand(), nil, uri, "--dev-public-key", key.pubPath); r.code != 2 || !strings.Contains(r.stderr, "--s3-endpoint") {
		t.Fatalf("no endpoint: exit %d\n%s", r.code, r.stderr)
	}
	if r = qRun(t, newFetchCommand(), nil, "s3://bench", "--dev-public-key", key.pubPath); r.code != 2 {
		t.Fatalf("bad s3 URI: exit %d\n%s", r.code, r.stderr)
	}
}

// ---------------------------------------------------------------------------
// results

func TestResultsTableFiltersAndJSON(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	a := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	b := qMakeEnvelope(t, key, "llm.chat", "org/model-b", "sglang", qBase.Add(time.Hour), 30)
	c := qMakeEnvelope(t, key, "llm.rag", "org/model-a", "sglang", qBase.Add(2*time.Hour), 10)
	srv := qAPIServer(t, a, b, c)
	keyID := devkey.KeyID(key.priv.Public().(ed25519.PublicKey))

	rows := func(r qResult) []string {
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "HASH") {
			t.Fatalf("no table header:\n%s", r.stdout)
		}
		return lines[1:]
	}
	r := qRun(t, newResultsCommand(), nil, "--api", srv.URL)
	got := rows(r)
	if r.code != 0 || len(got) != 3 {
		t.Fatalf("exit %d, %d rows", r.code, len(got))
	}
	for _, col := range []string{"TIME", "MODEL", "ENGINE", "GPU", "TTFT_P50_MS", "TPOT_P50_MS", "THROUGHPUT_TOK_PER_S", "GOODPUT_AT_SLO", "SIGNER"} {
		if !strings.Contains(r.stdout, col) {
			t.Fatalf("header lacks %s", col)
		}
	}
	// Newest first; each row names its result.
	for i, e := range []qEnvelope{c, b, a} {
		for _, want := range []string{e.hash[:12], e.env.Timestamp.UTC().Format(time.RFC3339), e.env.Model.ID,
			e.env.Engine.Name + " vllm-mock-1.0", "NVIDIA RTX 4000 Ada Generation Laptop GPU", "key " + keyID, "588509.4"} {
			if !strings.Contains(got[i], want) {
				t.Fatalf("row %d lacks %q:\n%s", i, want, got[i])
			}
		}
	}
	if !strings.Contains(got[2], "20.000") || !strings.Contains(got[2], " - ") {
		t.Fatalf("metric cells (ttft 20, no goodput) in %q", got[2])
	}

	for _, tc := range []struct {
		args []string
		want []qEnvelope
	}{
		{[]string{"--model", "org/model-a"}, []qEnvelope{c, a}},
		{[]string{"--engine", "sglang", "--suite", "llm.chat"}, []qEnvelope{b}},
		{[]string{"--gpu", "NVIDIA RTX 4000 Ada Generation Laptop GPU"}, []qEnvelope{c, b, a}},
		{[]string{"--since", qBase.Add(30 * time.Minute).Format(time.RFC3339)}, []qEnvelope{c, b}},
		{[]string{"--until", qBase.Add(time.Hour).Format(time.RFC3339Nano)}, []qEnvelope{a}},
		{[]string{"--order", "+timestamp"}, []qEnvelope{a, b, c}},
		{[]string{"--order", "+metric:ttft_p50_ms"}, []qEnvelope{c, a, b}},
		{[]string{"--order", "metric:ttft_p50_ms"}, []qEnvelope{b, a, c}},
		{[]string{"--hash", b.hash[:10]}, []qEnvelope{b}},
	} {
		r := qRun(t, newResultsCommand(), nil, append([]string{"--api", srv.URL}, tc.args...)...)
		got := rows(r)
		if r.code != 0 || len(got) != len(tc.want) {
			t.Fatalf("%v: exit %d, %d rows, want %d", tc.args, r.code, len(got), len(tc.want))
		}
		for i, e := range tc.want {
			if !strings.HasPrefix(got[i], e.hash[:12]) {
				t.Fatalf("%v: row %d is %q, want %s", tc.args, i, got[i], e.hash[:12])
			}
		}
	}

	// Paging says how to get the next page.
	r = qRun(t, newResultsCommand(), nil, "--api", srv.URL, "--limit", "2")
	if len(rows(r)) != 2 || !strings.Contains(r.stderr, "showing 1-2 of 3") || !strings.Contains(r.stderr, "--offset 2") {
		t.Fatalf("--limit 2: %s", r.stderr)
	}
	// Nothing matched: no table, a note, exit 0.
	r = qRun(t, newResultsCommand(), nil, "--api", srv.URL, "--model", "nobody")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "no results") {
		t.Fatalf("no match: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// --json: the API's answer.
	r = qRun(t, newResultsCommand(), nil, "--api", srv.URL, "--json", "--engine", "sglang")
	var lr api.ListResponse
	if err := json.Unmarshal([]byte(r.stdout), &lr); err != nil || r.code != 0 {
		t.Fatalf("--json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if lr.Count != 2 || len(lr.Results) != 2 || lr.Results[0].ContentHash != c.hash || lr.Results[0].EnvelopeURL != api.ResultsPath+"/"+c.hash ||
		lr.Results[0].Metrics["ttft_p50_ms"] != 10 {
		t.Fatalf("--json: %+v", lr)
	}

	// $BENCH_API when --api is not given.
	t.Setenv(envAPI, srv.URL)
	if r = qRun(t, newResultsCommand(), nil); r.code != 0 || len(rows(r)) != 3 {
		t.Fatalf("$BENCH_API: exit %d", r.code)
	}
	t.Setenv(envAPI, "")
}

func TestResultsErrors(t *testing.T) {
	qClearEnv(t)
	srv := qAPIServer(t)
	for _, c := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"--api", qDeadURL(t)}, 1, "bench up"},
		{[]string{"--api", srv.URL, "--limit", "0"}, 2, "--limit"},
		{[]string{"--api", srv.URL, "--limit", "10001"}, 2, "--limit"},
		{[]string{"--api", srv.URL, "--since", "last tuesday"}, 2, "--since"},
		{[]string{"--api", srv.URL, "--order", "fastest"}, 2, `"order"`}, // the API's own message
		{[]string{"--api", "127.0.0.1:8080"}, 2, "--api"},
		{[]string{"--api", srv.URL + "/not-the-api"}, 1, "no such endpoint"},
		{[]string{"--api", srv.URL, "extra-arg"}, 2, "unknown command"},
	} {
		r := qRun(t, newResultsCommand(), nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.mention) {
			t.Fatalf("%v: exit %d, want %d mentioning %q\n%s", c.args, r.code, c.code, c.mention, r.stderr)
		}
	}
	// Ages are accepted and sent as times.
	if r := qRun(t, newResultsCommand(), nil, "--api", srv.URL, "--since", "7d", "--until", "1h"); r.code != 0 {
		t.Fatalf("ages: exit %d\n%s", r.code, r.stderr)
	}
}

func TestResultsAndWatchParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-03-01T00:00:00Z":      time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"2026-03-01T01:00:00+01:00": time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"90m":                       now.Add(-90 * time.Minute),
		"24h":                       now.Add(-24 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"0.5d":                      now.Add(-12 * time.Hour),
	} {
		got, err := parseWhen("since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-1h", "xd", "2026-03-01"} {
		if _, err := parseWhen("since", bad, now); err == nil || !strings.Contains(err.Error(), "--since") {
			t.Errorf("parseWhen(%q): %v", bad, err)
		}
	}
}

// ---------------------------------------------------------------------------
// watch

// qBus is an embedded NATS server, with the pipeline's streams when
// started with setup.
type qBus struct{ *bustest.Bus }

func qStartBus(t *testing.T, setup bool) qBus {
	t.Helper()
	if setup {
		return qBus{bustest.Start(t, bus.Options{Memory: true})}
	}
	return qBus{bustest.StartServer(t)}
}

// publish puts e on the results stream as the indexer does.
func (b qBus) publish(t *testing.T, e qEnvelope) {
	t.Helper()
	h := nats.Header{}
	h.Set(bus.HdrContentHash, e.hash)
	h.Set(bus.HdrRunID, e.env.RunID)
	h.Set(bus.HdrStage, bus.StageIndexer)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := &nats.Msg{Subject: bus.EnvelopeSubject(bus.SubjectResults, e.env.SuiteID, e.hash), Header: h, Data: e.data}
	if _, err := b.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(bus.MsgID(bus.StageIndexer, e.hash))); err != nil {
		t.Fatal(err)
	}
}

// qWatch runs watch until stop is called, which cancels its context (as
// Ctrl-C would) and returns its exit code and output.
type qWatch struct {
	stdout, stderr qSyncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func qStartWatch(t *testing.T, args ...string) *qWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &qWatch{cancel: cancel, done: make(chan int, 1)}
	go func() { w.done <- qExec(ctx, newWatchCommand(), nil, &w.stdout, &w.stderr, args...) }()
	// Started once it says so: from then on new results are delivered.
	w.waitFor(t, func() bool { return strings.Contains(w.stderr.String(), "watching ") })
	t.Cleanup(cancel)
	return w
}

func (w *qWatch) lines() []string {
	s := strings.TrimRight(w.stdout.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (w *qWatch) waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		select {
		case code := <-w.done:
			w.done <- code
			t.Fatalf("watch ended early with exit %d\nstdout:\n%s\nstderr:\n%s", code, w.stdout.String(), w.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting\nstdout:\n%s\nstderr:\n%s", w.stdout.String(), w.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *qWatch) waitLines(t *testing.T, n int) []string {
	t.Helper()
	w.waitFor(t, func() bool { return len(w.lines()) >= n })
	return w.lines()
}

func (w *qWatch) stop(t *testing.T) int {
	t.Helper()
	w.cancel()
	select {
	case code := <-w.done:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not end after its context was cancelled")
		return -1
	}
}

func TestWatchPrintsResultsAndFilters(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	b := qStartBus(t, true)
	a1 := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	b1 := qMakeEnvelope(t, key, "llm.chat", "org/model-b", "sglang", qBase.Add(time.Minute), 30)
	r1 := qMakeEnvelope(t, key, "llm_chat", "org/model-a", "vllm", qBase.Add(2*time.Minute), 40) // same subject token as llm.chat
	b.publish(t, a1)
	b.publish(t, b1)
	b.publish(t, r1)

	// --all replays the stream, in order, one line each.
	w := qStartWatch(t, "--nats", b.URL, "--all")
	lines := w.waitLines(t, 3)
	for i, e := range []qEnvelope{a1, b1, r1} {
		for _, want := range []string{e.env.Timestamp.UTC().Format(time.RFC3339), e.hash[:12], e.env.SuiteID, e.env.Model.ID,
			e.env.Engine.Name + " vllm-mock-1.0", "ttft_p50_ms=", "throughput_tok_per_s=588509.4", "signer=key "} {
			if !strings.Contains(lines[i], want) {
				t.Fatalf("line %d lacks %q: %q", i, want, lines[i])
			}
		}
	}
	// Then it follows new results.
	a2 := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase.Add(3*time.Minute), 21)
	b.publish(t, a2)
	if lines = w.waitLines(t, 4); !strings.Contains(lines[3], a2.hash[:12]) {
		t.Fatalf("new result: %q", lines[3])
	}
	if code := w.stop(t); code != 0 {
		t.Fatalf("interrupted watch: exit %d", code)
	}

	// --model and --suite; the suite is compared exactly, not only by
	// subject token.
	w = qStartWatch(t, "--nats", b.URL, "--all", "--model", "org/model-a", "--suite", "llm.chat")
	a3 := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase.Add(4*time.Minute), 22)
	b.publish(t, a3)
	lines = w.waitLines(t, 3)
	for i, e := range []qEnvelope{a1, a2, a3} {
		if !strings.Contains(lines[i], e.hash[:12]) {
			t.Fatalf("--model/--suite line %d: %q, want %s\nall:\n%s", i, lines[i], e.hash[:12], w.stdout.String())
		}
	}
	if len(lines) != 3 {
		t.Fatalf("--model/--suite: %d lines", len(lines))
	}
	w.stop(t)

	// --engine, and the default of new results only.
	w = qStartWatch(t, "--nats", b.URL, "--engine", "sglang")
	b2 := qMakeEnvelope(t, key, "llm.rag", "org/model-b", "sglang", qBase.Add(5*time.Minute), 31)
	a4 := qMakeEnvelope(t, key, "llm.rag", "org/model-a", "vllm", qBase.Add(6*time.Minute), 23)
	b3 := qMakeEnvelope(t, key, "llm.rag", "org/model-c", "sglang", qBase.Add(7*time.Minute), 32)
	b.publish(t, b2)
	b.publish(t, a4)
	b.publish(t, b3)
	lines = w.waitLines(t, 2)
	if len(lines) != 2 || !strings.Contains(lines[0], b2.hash[:12]) || !strings.Contains(lines[1], b3.hash[:12]) {
		t.Fatalf("--engine, new only:\n%s", w.stdout.String())
	}
	w.stop(t)
}

func TestWatchJSONAndSince(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	b := qStartBus(t, true)
	old := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	b.publish(t, old)
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	recent := []qEnvelope{
		qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase.Add(time.Minute), 21),
		qMakeEnvelope(t, key, "llm.chat", "org/model-b", "vllm", qBase.Add(2*time.Minute), 22),
	}
	for _, e := range recent {
		b.publish(t, e)
	}

	// --since: only what was published from then on; --json: one compact
	// envelope per line that still hashes (and so verifies) the same.
	w := qStartWatch(t, "--nats", b.URL, "--since", since.Format(time.RFC3339Nano), "--json")
	lines := w.waitLines(t, 2)
	for i, line := range lines {
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "{") {
			t.Fatalf("line %d is not one JSON object: %q", i, line)
		}
		env, err := envelope.Parse([]byte(line))
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if env.ContentHash() != recent[i].hash {
			t.Fatalf("line %d is %s, want %s", i, env.ContentHash(), recent[i].hash)
		}
	}
	if code := w.stop(t); code != 0 || len(w.lines()) != 2 {
		t.Fatalf("exit %d, %d lines", code, len(w.lines()))
	}
}

func TestWatchErrors(t *testing.T) {
	qClearEnv(t)
	noStreams := qStartBus(t, false)
	dead := "nats://" + strings.TrimPrefix(qDeadURL(t), "http://")
	for _, c := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"--nats", dead}, 1, "bench up"},
		{[]string{"--nats", noStreams.URL}, 1, "no " + bus.StreamResults + " stream"},
		{[]string{"--nats", noStreams.URL, "--all", "--since", "1h"}, 2, "--since and --all"},
		{[]string{"--nats", noStreams.URL, "--since", "soon"}, 2, "--since"},
		{[]string{"--nats", noStreams.URL, "--nats-tls-cert", "/nonexistent/cert.pem"}, 2, "--nats-tls-cert"},
		{[]string{"--nats", noStreams.URL, "--nats-creds", "/nonexistent/user.creds"}, 2, "--nats-creds"},
	} {
		r := qRun(t, newWatchCommand(), nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.mention) {
			t.Fatalf("%v: exit %d, want %d mentioning %q\n%s", c.args, r.code, c.code, c.mention, r.stderr)
		}
	}
	// Credentials in the URL are not repeated in messages.
	r := qRun(t, newWatchCommand(), nil, "--nats", "nats://alice:s3cret@"+strings.TrimPrefix(dead, "nats://"))
	if r.code != 1 || strings.Contains(r.stderr, "s3cret") {
		t.Fatalf("credentials leaked or wrong exit %d:\n%s", r.code, r.stderr)
	}
}

func TestWatchNATSFlagsFromEnvironment(t *testing.T) {
	qClearEnv(t)
	b := qStartBus(t, true)
	t.Setenv(envNATS, b.URL)
	w := qStartWatch(t) // no --nats
	if !strings.Contains(w.stderr.String(), b.URL) {
		t.Fatalf("$%s not used: %s", envNATS, w.stderr.String())
	}
	w.stop(t)

	var nf natsFlags
	cmd := &cobra.Command{}
	nf.register(cmd.Flags())
	t.Setenv(envNATSTLSKey, "")
	if err := cmd.Flags().Parse([]string{"--nats-tls-cert", os.Args[0]}); err != nil {
		t.Fatal(err)
	}
	var flagErr *natsFlagError
	if _, err := nf.connect(); !errors.As(err, &flagErr) || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("a certificate without its key: %v", err)
	}
}

// qWritePKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all PEM, into dir.
func qWritePKI(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cDER, cKey := leaf(3, "bench watch", x509.ExtKeyUsageClientAuth)
	return write("ca.pem", "CERTIFICATE", caDER),
		write("server.pem", "CERTIFICATE", sDER), writeKey("server.key", sKey),
		write("client.pem", "CERTIFICATE", cDER), writeKey("client.key", cKey)
}

func TestWatchOverMutualTLS(t *testing.T) {
	qClearEnv(t)
	key := qNewKey(t)
	e := qMakeEnvelope(t, key, "llm.chat", "org/model-a", "vllm", qBase, 20)
	ca, sCert, sKey, cCert, cKey := qWritePKI(t, t.TempDir())

	// A server that requires TLS and a client certificate signed by the CA.
	tlsCfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: sCert, KeyFile: sKey, CaFile: ca, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		TLS: true, TLSVerify: true, TLSConfig: tlsCfg, TLSTimeout: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("TLS NATS server not ready")
	}
	url := fmt.Sprintf("tls://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)

	nc, err := nats.Connect(url, nats.RootCAs(ca), nats.ClientCert(cCert, cKey))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.Setup(ctx, js, bus.Options{Memory: true}); err != nil {
		t.Fatal(err)
	}
	qBus{&bustest.Bus{URL: url, Conn: nc, JS: js}}.publish(t, e)

	w := qStartWatch(t, "--nats", url, "--nats-tls-ca", ca, "--nats-tls-cert", cCert, "--nats-tls-key", cKey, "--all")
	if lines := w.waitLines(t, 1); !strings.Contains(lines[0], e.hash[:12]) {
		t.Fatalf("over TLS: %q", lines[0])
	}
	if code := w.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Without the client certificate the server refuses; without the CA
	// the client refuses the server.
	if r := qRun(t, newWatchCommand(), nil, "--nats", url, "--nats-tls-ca", ca, "--all"); r.code != 1 {
		t.Fatalf("no client certificate: exit %d", r.code)
	}
	if r := qRun(t, newWatchCommand(), nil, "--nats", url, "--nats-tls-cert", cCert, "--nats-tls-key", cKey, "--all"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("unknown CA: exit %d\n%s", r.code, r.stderr)
	}
}

// Every command that talks to the bus reports a fault in its NATS flags as
// a usage error (exit 2) naming the flag, before it starts anything.
func TestNATSFlagErrorsAreUsageErrors(t *testing.T) {
	qClearEnv(t)
	b := qStartBus(t, true)
	dir := t.TempDir()
	for _, c := range []struct {
		cmd  *cobra.Command
		args []string
	}{
		{newWatchCommand(), nil},
		{newRejectedCommand(), nil},
		{newIndexerCommand(), []string{"--catalog", filepath.Join(dir, "catalog.db")}},
		{newUpCommand(), []string{"--data-dir", dir, "--http", ""}},
	} {
		args := append([]string{"--nats", b.URL, "--nats-creds", filepath.Join(dir, "missing.creds")}, c.args...)
		r := qRun(t, c.cmd, nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "--nats-creds") {
			t.Errorf("bench %s: exit %d, want 2 naming --nats-creds\n%s", c.cmd.Name(), r.code, r.stderr)
		}
	}
}

// A results API address that is taken stops 'bench indexer' at once, with
// the flag named, instead of indexing without the API it was asked for.
func TestIndexerHTTPAddressInUse(t *testing.T) {
	qClearEnv(t)
	b := qStartBus(t, true)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	r := qRun(t, newIndexerCommand(), nil, "--nats", b.URL, "--catalog", filepath.Join(t.TempDir(), "catalog.db"),
		"--http", taken.Addr().String())
	if r.code != 2 || !strings.Contains(r.stderr, "--http") || !strings.Contains(r.stderr, "address already in use") {
		t.Fatalf("exit %d, want 2 naming --http and the busy address\n%s", r.code, r.stderr)
	}
}

// 'bench rejected --json' prints each dead letter in the bus message form
// the published schema defines, with the payload as JSON, text or base64;
// python3's jsonschema, an independent implementation, checks every line.
func TestRejectedJSONIsABusMessage(t *testing.T) {
	qClearEnv(t)
	b := qStartBus(t, true)
	payloads := [][]byte{[]byte(`{"envelope_version": "v0", "note": "<not html>"}`), []byte("not json"), {0xff, 0xfe, 0x00}}
	for i, p := range payloads {
		h := nats.Header{}
		h.Set(bus.HdrStage, bus.StageVerifier)
		h.Set(bus.HdrReason, fmt.Sprintf("reason %d", i))
		h.Set(bus.HdrRejectedAt, time.Now().UTC().Format(time.RFC3339))
		h.Set(bus.HdrDeliveries, "1")
		h.Set(bus.HdrFromSubject, "bench.signed.x")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := b.JS.PublishMsg(ctx, &nats.Msg{Subject: bus.RejectedSubject(bus.StageVerifier), Header: h, Data: p})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	r := qRun(t, newRejectedCommand(), nil, "--nats", b.URL, "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != len(payloads) {
		t.Fatalf("exit %d, %d lines, want 0 and %d:\n%s", r.code, len(lines), len(payloads), r.stdout)
	}
	var recs []map[string]any
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, l)
		}
		recs = append(recs, rec)
	}
	if body, _ := recs[0]["body"].(map[string]any); body["note"] != "<not html>" {
		t.Errorf("JSON payload: body is %v, want the payload's object", recs[0]["body"])
	}
	if recs[1]["payload"] != "not json" {
		t.Errorf("text payload: got %v", recs[1]["payload"])
	}
	if got, _ := recs[2]["payload_base64"].(string); got != base64.StdEncoding.EncodeToString(payloads[2]) {
		t.Errorf("binary payload: payload_base64 %q", got)
	}

	dir := t.TempDir()
	args := []string{"-c", validateBusMessages}
	for _, name := range []string{"bus-message.v1.schema.json", "envelope.v1.schema.json", "job.v1.schema.json"} {
		data, err := schemas.Files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, writeFile(t, dir, name, string(data)))
	}
	args = append(args, writeFile(t, dir, "lines.jsonl", r.stdout))
	out, err := exec.Command(envelopetest.Python(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 jsonschema: the lines are not bus messages:\n%s", out)
	}
}

// validateBusMessages checks each line of argv[4] against the bus message
// schema (argv[1]), the schemas it refers to (argv[2:4]) registered by id.
const validateBusMessages = `
import json, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
schemas = [json.load(open(p)) for p in sys.argv[1:4]]
registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
v = Draft202012Validator(schemas[0], registry=registry)
bad = 0
for n, line in enumerate(open(sys.argv[4]), 1):
    for e in list(v.iter_errors(json.loads(line)))[:3]:
        print("line", n, "/".join(map(str, e.absolute_path)), e.message)
        bad += 1
sys.exit(1 if bad else 0)
`

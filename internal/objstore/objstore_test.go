package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

const (
	testAccess = "benchtestaccess"
	testSecret = "benchtestsecret0123456789"
	testBucket = "bench-test"
)

// startServer starts the embedded server on 127.0.0.1:0 over dir and stops
// it when the test ends. Tests do not use t.Parallel: one server per process.
func startServer(t *testing.T, dir string) *Server {
	t.Helper()
	// Not a ctx with a deadline: the server lives until ctx is done.
	srv, err := StartServer(context.Background(), dir, "127.0.0.1:0", testAccess, testSecret)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return st
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestContentRoundTrip(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)

	for _, tc := range []struct {
		name, prefix, ct, ext string
		data                  []byte
	}{
		{"parquet", "traces/", "application/vnd.apache.parquet", ".parquet", []byte("PAR1 fake parquet bytes PAR1")},
		{"prefix without slash", "traces", "application/vnd.apache.parquet", ".parquet", []byte("other bytes")},
		{"json with params", "envelopes/", "application/json; charset=utf-8", ".json", []byte(`{"a":1}`)},
		{"unknown type", "blobs/", "application/octet-stream", "", bytes.Repeat([]byte{0, 1, 2, 255}, 100000)},
		{"no prefix, empty object", "", "", "", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, h, err := st.PutContent(ctx, tc.prefix, tc.data, tc.ct)
			if err != nil {
				t.Fatalf("PutContent: %v", err)
			}
			if h != sha(tc.data) {
				t.Fatalf("hash %s, want %s", h, sha(tc.data))
			}
			p := strings.TrimSuffix(tc.prefix, "/")
			if p != "" {
				p += "/"
			}
			if want := p + "sha256/" + h + tc.ext; key != want {
				t.Fatalf("key %q, want %q", key, want)
			}
			if got, ok := KeySHA256(key); !ok || got != h {
				t.Fatalf("KeySHA256(%q) = %q, %v", key, got, ok)
			}
			got, err := st.GetContent(ctx, key, h)
			if err != nil {
				t.Fatalf("GetContent: %v", err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("GetContent returned %d bytes, want %d", len(got), len(tc.data))
			}
			// Upper-case expected hashes are accepted.
			if _, err := st.GetContent(ctx, key, strings.ToUpper(h)); err != nil {
				t.Fatalf("GetContent(upper-case hash): %v", err)
			}
			// The object is a plain file in the data directory.
			onDisk, err := os.ReadFile(filepath.Join(srv.Dir(), testBucket, filepath.FromSlash(key)))
			if err != nil || !bytes.Equal(onDisk, tc.data) {
				t.Fatalf("file in data dir: err=%v equal=%v", err, bytes.Equal(onDisk, tc.data))
			}
		})
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestPutContentIdempotent(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)
	data := []byte("idempotent trace")

	key, h, err := st.PutContent(ctx, "traces/", data, "application/vnd.apache.parquet")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(srv.Dir(), testBucket, filepath.FromSlash(key))
	ino := inode(t, path)

	// versitygw writes every PUT to a new file and links it into place, so an
	// unchanged inode proves that the second PutContent did not upload.
	key2, h2, err := st.PutContent(ctx, "traces/", data, "application/vnd.apache.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if key2 != key || h2 != h {
		t.Fatalf("second put: %q %q, want %q %q", key2, h2, key, h)
	}
	if got := inode(t, path); got != ino {
		t.Fatalf("object was re-uploaded (inode %d -> %d)", ino, got)
	}

	// Sanity check of that proof: a real upload does change the inode.
	if err := st.Put(ctx, key, []byte("wrong bytes at a content key"), ""); err != nil {
		t.Fatal(err)
	}
	if got := inode(t, path); got == ino {
		t.Fatalf("a real PUT kept inode %d: the idempotency check above proves nothing", ino)
	}
	// A wrong object under the content key is healed by PutContent.
	if _, _, err := st.PutContent(ctx, "traces/", data, "application/vnd.apache.parquet"); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetContent(ctx, key, h); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after healing: %q, %v", got, err)
	}
}

func TestGetContentWrongHash(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)
	data := []byte("some trace")
	key, h, err := st.PutContent(ctx, "traces/", data, "")
	if err != nil {
		t.Fatal(err)
	}
	wrong := sha([]byte("something else"))
	_, err = st.GetContent(ctx, key, wrong)
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("got %v, want ErrHashMismatch", err)
	}
	if !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), h) {
		t.Fatalf("error %q does not name both hashes", err)
	}
	if IsTransient(err) {
		t.Fatal("hash mismatch classified as transient")
	}
	t.Logf("wrong hash: %v", err)
	if _, err := st.GetContent(ctx, key, "not-a-hash"); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("malformed expected hash: got %v, want ErrInvalidKey", err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)

	t.Run("file overwritten behind the server's back", func(t *testing.T) {
		data := []byte("trace bytes that will rot on disk")
		key, h, err := st.PutContent(ctx, "traces/", data, "application/vnd.apache.parquet")
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(data)
		bad[3] ^= 0x01 // one flipped bit, same length
		path := filepath.Join(srv.Dir(), testBucket, filepath.FromSlash(key))
		if err := os.WriteFile(path, bad, 0o644); err != nil { // keeps the inode and its xattrs
			t.Fatal(err)
		}
		_, err = st.GetContent(ctx, key, h)
		if !errors.Is(err, ErrHashMismatch) || !strings.Contains(err.Error(), sha(bad)) {
			t.Fatalf("GetContent: got %v, want ErrHashMismatch naming %s", err, sha(bad))
		}
		// Plain Get compares against the checksum stored at write time.
		if _, err := st.Get(ctx, key); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("Get: got %v, want ErrHashMismatch", err)
		}
		// The idempotency check trusts the stored checksum, so PutContent
		// does not notice rot; GetContent is where corruption is caught.
	})

	t.Run("different bytes PUT to the same key", func(t *testing.T) {
		data := []byte("original trace")
		key, h, err := st.PutContent(ctx, "traces/", data, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, key, []byte("replaced by someone else"), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetContent(ctx, key, h); !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("GetContent: got %v, want ErrHashMismatch", err)
		}
	})
}

func TestNotFoundAndExists(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)
	missing := "traces/sha256/" + sha([]byte("never stored")) + ".parquet"

	_, err := st.GetContent(ctx, missing, sha([]byte("never stored")))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetContent: got %v, want ErrNotFound", err)
	}
	if IsTransient(err) {
		t.Fatal("not found classified as transient")
	}
	t.Logf("not found: %v", err)
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.StatusCode != 404 {
		t.Fatalf("the S3 answer is not reachable through the error: %#v", err)
	}
	if _, err := st.Get(ctx, "envelopes/missing.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get: got %v, want ErrNotFound", err)
	}
	ok, err := st.Exists(ctx, missing)
	if err != nil || ok {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}

	if err := st.Put(ctx, "envelopes/e1.json", []byte(`{"id":"e1"}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	ok, err = st.Exists(ctx, "envelopes/e1.json")
	if err != nil || !ok {
		t.Fatalf("Exists(present) = %v, %v", ok, err)
	}
	got, err := st.Get(ctx, "envelopes/e1.json")
	if err != nil || string(got) != `{"id":"e1"}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

// TestServerRejectsWrongChecksum proves that the sha256 really travels with
// the PUT and that the server checks it: a declared checksum that does not
// match the body is refused with BadDigest and nothing is stored; a correct
// one is stored and reported back by HEAD.
func TestServerRejectsWrongChecksum(t *testing.T) {
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)

	data := []byte("body the server will hash")
	wrong := sha256.Sum256([]byte("a different body"))
	err := st.putObject(ctx, "traces/bad", data, "", base64.StdEncoding.EncodeToString(wrong[:]))
	if err == nil {
		t.Fatal("server accepted a PUT whose X-Amz-Checksum-Sha256 does not match the body")
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) || er.Code != "BadDigest" || er.StatusCode != 400 {
		t.Fatalf("got %v (%#v), want 400 BadDigest", err, er)
	}
	t.Logf("wrong checksum refused: %v", err)
	if IsTransient(err) {
		t.Fatal("BadDigest classified as transient")
	}
	if ok, err := st.Exists(ctx, "traces/bad"); err != nil || ok {
		t.Fatalf("rejected object exists: %v, %v", ok, err)
	}

	key, h, err := st.PutContent(ctx, "traces/", data, "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.client.StatObject(ctx, testBucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := b64ToHex(info.ChecksumSHA256); got != h {
		t.Fatalf("stored checksum %q (hex %s), want %s", info.ChecksumSHA256, got, h)
	}
}

func TestTooLarge(t *testing.T) {
	srv := startServer(t, t.TempDir())
	cfg := srv.Config(testBucket)
	cfg.MaxObjectBytes = 16
	st := newStore(t, cfg)
	ctx := ctxT(t)
	key, h, err := st.PutContent(ctx, "traces/", bytes.Repeat([]byte("x"), 17), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetContent(ctx, key, h); !errors.Is(err, ErrTooLarge) || IsTransient(err) {
		t.Fatalf("got %v, want permanent ErrTooLarge", err)
	}
	key, h, err = st.PutContent(ctx, "traces/", bytes.Repeat([]byte("x"), 16), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetContent(ctx, key, h); err != nil {
		t.Fatalf("object at the limit: %v", err)
	}
}

func TestIsTransientAgainstServer(t *testing.T) {
	srv := startServer(t, t.TempDir())
	cfg := srv.Config(testBucket)
	cfg.MaxRetries = 1 // fail fast once the server is gone
	st := newStore(t, cfg)
	ctx := ctxT(t)
	key, h, err := st.PutContent(ctx, "traces/", []byte("x"), "")
	if err != nil {
		t.Fatal(err)
	}

	// 404: permanent.
	_, err = st.Get(ctx, "nope")
	if err == nil || IsTransient(err) {
		t.Fatalf("404: IsTransient(%v) = true", err)
	}
	// 403 (bad credentials): permanent.
	bad := cfg
	bad.SecretKey = "wrong-secret-key-000000"
	_, err = New(ctx, bad)
	if err == nil || IsTransient(err) {
		t.Fatalf("bad credentials: IsTransient(%v) = true or no error", err)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Connection refused: transient.
	for name, op := range map[string]func() error{
		"GetContent": func() error { _, err := st.GetContent(ctx, key, h); return err },
		"PutContent": func() error { _, _, err := st.PutContent(ctx, "traces/", []byte("y"), ""); return err },
		"Exists":     func() error { _, err := st.Exists(ctx, key); return err },
		"New":        func() error { _, err := New(ctx, cfg); return err },
	} {
		err := op()
		if err == nil {
			t.Fatalf("%s against a stopped server succeeded", name)
		}
		if !IsTransient(err) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%s: IsTransient=%v ECONNREFUSED=%v: %v", name, IsTransient(err), errors.Is(err, syscall.ECONNREFUSED), err)
		}
		if !strings.Contains(err.Error(), srv.Endpoint()) {
			t.Fatalf("%s: error does not name the endpoint: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

func TestIsTransientClassification(t *testing.T) {
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrNotFound, false},
		{fmt.Errorf("x: %w", ErrHashMismatch), false},
		{ErrTooLarge, false},
		{minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, false},
		{minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, false},
		{minio.ErrorResponse{Code: "BadDigest", StatusCode: 400}, false},
		{minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, true},
		{minio.ErrorResponse{Code: "ServiceUnavailable", StatusCode: 503}, true},
		{minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, true},
		{minio.ErrorResponse{StatusCode: 429}, true},
		{fmt.Errorf("wrapped: %w", minio.ErrorResponse{StatusCode: 502}), true},
		{opErr, true},
		{&url.Error{Op: "Get", URL: "http://x", Err: opErr}, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, true},
		{io.ErrUnexpectedEOF, true},
		{&url.Error{Op: "Get", URL: "https://x", Err: x509UnknownAuthority()}, false},
		{errors.New("something unrecognised"), false},
	} {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%#v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRestartSameDirKeepsData(t *testing.T) {
	dir := t.TempDir()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	srv, err := StartServer(ctx, dir, "127.0.0.1:0", testAccess, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(testBucket)
	cfg.MaxRetries = 1
	st := newStore(t, cfg)
	data := []byte("survives a restart")
	key, h, err := st.PutContent(ctx, "traces/", data, "application/vnd.apache.parquet")
	if err != nil {
		t.Fatal(err)
	}

	// One per process: a second server is refused while the first runs.
	if _, err := StartServer(ctx, t.TempDir(), "127.0.0.1:0", testAccess, testSecret); err == nil ||
		!strings.Contains(err.Error(), "already running") {
		t.Fatalf("second concurrent StartServer: %v", err)
	}
	if _, err := st.GetContent(ctx, key, h); err != nil {
		t.Fatalf("first server harmed by the refused second one: %v", err)
	}

	addr := strings.TrimPrefix(srv.Endpoint(), "http://")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if got, _ := os.Getwd(); got != wd {
		t.Fatalf("working directory after Close: %q, want %q", got, wd)
	}
	if _, err := st.GetContent(ctx, key, h); !IsTransient(err) {
		t.Fatalf("while stopped: got %v, want a transient error", err)
	}

	// Restart on the same address and directory: the old Store (same
	// endpoint) works again and the data is there.
	srv2, err := StartServer(ctx, dir, addr, testAccess, testSecret)
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = srv2.Close() })
	if srv2.Endpoint() != srv.Endpoint() {
		t.Fatalf("endpoint %s, want %s", srv2.Endpoint(), srv.Endpoint())
	}
	got, err := st.GetContent(ctx, key, h)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after restart: %q, %v", got, err)
	}
	if _, _, err := st.PutContent(ctx, "traces/", []byte("after restart"), ""); err != nil {
		t.Fatal(err)
	}
	if err := srv2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStartServerErrors(t *testing.T) {
	ctx := ctxT(t)
	if _, err := StartServer(ctx, t.TempDir(), "127.0.0.1:0", "", ""); err == nil {
		t.Fatal("no credentials: no error")
	}
	if _, err := StartServer(ctx, t.TempDir(), "no-port", testAccess, testSecret); err == nil {
		t.Fatal("bad address: no error")
	}
	// A port that is taken (and not 0) is reported, and the slot is freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := StartServer(ctx, t.TempDir(), ln.Addr().String(), testAccess, testSecret); err == nil ||
		!errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("busy port: %v", err)
	}
	srv := startServer(t, t.TempDir())
	if srv.Endpoint() == "" {
		t.Fatal("no endpoint")
	}
}

func TestNewErrors(t *testing.T) {
	ctx := ctxT(t)
	for _, cfg := range []Config{
		{Bucket: "b"},
		{Endpoint: "127.0.0.1:1"},
		{Endpoint: "ftp://127.0.0.1:1", Bucket: "b"},
		{Endpoint: "http://127.0.0.1:1/path", Bucket: "b"},
	} {
		if _, err := New(ctx, cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
	for in, want := range map[string]struct {
		host   string
		secure bool
	}{
		"127.0.0.1:9000":         {"127.0.0.1:9000", false},
		"http://127.0.0.1:9000":  {"127.0.0.1:9000", false},
		"https://s3.example.com": {"s3.example.com", true},
	} {
		host, secure, err := parseEndpoint(in, false)
		if err != nil || host != want.host || secure != want.secure {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v", in, host, secure, err)
		}
	}
}

func TestNewCreatesBucket(t *testing.T) {
	srv := startServer(t, t.TempDir())
	for range 2 { // the second New finds the bucket
		st := newStore(t, srv.Config("fresh-bucket"))
		if st.Bucket() != "fresh-bucket" {
			t.Fatal(st.Bucket())
		}
	}
	if fi, err := os.Stat(filepath.Join(srv.Dir(), "fresh-bucket")); err != nil || !fi.IsDir() {
		t.Fatalf("bucket directory: %v", err)
	}
}

func TestURIRoundTrip(t *testing.T) {
	st := &Store{bucket: "bench-traces"}
	for _, key := range []string{"traces/sha256/" + sha(nil) + ".parquet", "a", "envelopes/2024/x.json"} {
		uri := st.URI(key)
		if !strings.HasPrefix(uri, "s3://bench-traces/") {
			t.Fatalf("URI %q", uri)
		}
		b, k, err := ParseURI(uri)
		if err != nil || b != "bench-traces" || k != key {
			t.Fatalf("ParseURI(%q) = %q, %q, %v", uri, b, k, err)
		}
	}
	for _, bad := range []string{"", "s3://", "s3://bucket", "s3://bucket/", "s3:///key", "http://bucket/key", "bucket/key"} {
		if _, _, err := ParseURI(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseURI(%q): %v, want ErrInvalidKey", bad, err)
		}
	}
}

func TestKeyLayout(t *testing.T) {
	h := sha([]byte("x"))
	for _, tc := range []struct{ prefix, ct, want string }{
		{"traces/", "application/vnd.apache.parquet", "traces/sha256/" + h + ".parquet"},
		{"traces", "application/x-parquet", "traces/sha256/" + h + ".parquet"},
		{"a/b/", "application/json; charset=utf-8", "a/b/sha256/" + h + ".json"},
		{"", "", "sha256/" + h},
		{"x/", "application/octet-stream", "x/sha256/" + h},
		{"x/", "not a media type;;", "x/sha256/" + h},
	} {
		got, err := ContentKey(tc.prefix, h, tc.ct)
		if err != nil || got != tc.want {
			t.Errorf("ContentKey(%q, h, %q) = %q, %v; want %q", tc.prefix, tc.ct, got, err, tc.want)
		}
	}
	for _, p := range []string{"/abs", "a//b", "../x", "a/./b"} {
		if _, err := ContentKey(p, h, ""); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ContentKey(prefix %q): %v, want ErrInvalidKey", p, err)
		}
	}
	if _, err := ContentKey("t/", strings.ToUpper(h), ""); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("upper-case hash accepted in a key")
	}
	for _, k := range []string{"t/sha256/" + h + "x", "t/notsha256/" + h, "t/sha256/" + h[:63], "sha256/" + h + ".a/b"} {
		if _, ok := KeySHA256(k); ok {
			t.Errorf("KeySHA256(%q) accepted", k)
		}
	}
}

// TestAWSCLIInterop checks the embedded server and this package against an
// independent S3 client: objects written here are listed and downloaded
// byte-for-byte by the AWS CLI, and an object the CLI uploads is readable
// here with its checksum verified.
func TestAWSCLIInterop(t *testing.T) {
	awsBin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not on PATH: skipping the interop test (install awscli to run it)")
	}
	srv := startServer(t, t.TempDir())
	st := newStore(t, srv.Config(testBucket))
	ctx := ctxT(t)
	data := bytes.Repeat([]byte("interop parquet bytes\n"), 5000)
	key, h, err := st.PutContent(ctx, "traces/", data, "application/vnd.apache.parquet")
	if err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	aws := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, awsBin, append([]string{"--endpoint-url", srv.Endpoint()}, args...)...)
		// The server moved the process's working directory into its data
		// directory: give the CLI its own.
		cmd.Dir = work
		cmd.Env = append(os.Environ(),
			"AWS_ACCESS_KEY_ID="+testAccess,
			"AWS_SECRET_ACCESS_KEY="+testSecret,
			"AWS_DEFAULT_REGION="+DefaultRegion,
			"AWS_CONFIG_FILE="+filepath.Join(work, "no-config"),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(work, "no-credentials"),
			"AWS_EC2_METADATA_DISABLED=true",
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	out := aws("s3", "ls", "s3://"+testBucket+"/traces/sha256/")
	if !strings.Contains(out, h+".parquet") || !strings.Contains(out, fmt.Sprint(len(data))) {
		t.Fatalf("aws s3 ls does not show %s.parquet (%d bytes):\n%s", h, len(data), out)
	}
	local := filepath.Join(work, "downloaded.parquet")
	aws("s3", "cp", st.URI(key), local)
	got, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("aws s3 cp downloaded %d bytes (sha256 %s), want %d (%s)", len(got), sha(got), len(data), h)
	}

	// The other direction: the CLI uploads (with whatever checksum scheme
	// botocore uses by default), this package reads and verifies.
	up := filepath.Join(work, "upload.json")
	body := []byte(`{"uploaded":"by aws cli"}`)
	if err := os.WriteFile(up, body, 0o644); err != nil {
		t.Fatal(err)
	}
	aws("s3", "cp", up, "s3://"+testBucket+"/envelopes/from-cli.json")
	back, err := st.Get(ctx, "envelopes/from-cli.json")
	if err != nil || !bytes.Equal(back, body) {
		t.Fatalf("Get of the CLI's object: %q, %v", back, err)
	}
}

func x509UnknownAuthority() error { return x509.UnknownAuthorityError{} }

func TestServerStopsWithContext(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t0 := time.Now()
	srv, err := StartServer(ctx, t.TempDir(), ":0", testAccess, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started in %s at %s", time.Since(t0), srv.Endpoint())
	if !strings.HasPrefix(srv.Endpoint(), "http://127.0.0.1:") {
		t.Fatalf("wildcard listen address reported as %s", srv.Endpoint())
	}
	if got, _ := os.Getwd(); got != srv.Dir() {
		t.Fatalf("while running, working directory %q, want the data directory %q (versitygw's posix backend chdirs)", got, srv.Dir())
	}
	cancel()
	if err := srv.Close(); err != nil { // waits for the ctx-triggered stop
		t.Fatal(err)
	}
	if got, _ := os.Getwd(); got != wd {
		t.Fatalf("working directory after stop: %q, want %q", got, wd)
	}
	// The slot is free again.
	startServer(t, t.TempDir())
}

package sigstorestack

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The stack runs in a network namespace of its own that has only
// loopback: Fulcio and the TSA open Prometheus ports on all interfaces
// (the TSA's is hard-wired to :2112), and the test must prove that
// verification needs no route out. A process cannot move itself into a new
// network namespace safely (Go runs many threads; unshare(2) affects one),
// so the test binary re-executes itself under `unshare --net`, and the
// child runs the servers and the test's client side together.
//
// netnsEnv marks that child. The parent also points the child's TMPDIR at a
// directory it removes after the child exits, so even a child killed by a
// test timeout (which runs no t.Cleanup) leaves no files behind.
const netnsEnv = "INFERENCEBENCH_SIGSTORE_NETNS"

var (
	nsOnce sync.Once
	nsErr  error
)

// setupNamespace runs once in the child: loopback up, and a check that the
// namespace really has no other interface (no route out).
func setupNamespace() error {
	nsOnce.Do(func() {
		if err := loopbackUp(); err != nil {
			nsErr = fmt.Errorf("sigstorestack: bringing up loopback in the network namespace: %w", err)
			return
		}
		ifs, err := net.Interfaces()
		if err != nil {
			nsErr = fmt.Errorf("sigstorestack: listing interfaces: %w", err)
			return
		}
		for _, i := range ifs {
			if i.Flags&net.FlagLoopback == 0 {
				nsErr = fmt.Errorf("sigstorestack: %s=1 but interface %q is present: not an isolated network namespace", netnsEnv, i.Name)
				return
			}
		}
	})
	return nsErr
}

// InNamespace reports whether this process is the child that Run or Main
// started inside an isolated network namespace (loopback only, and up).
func InNamespace() bool {
	return os.Getenv(netnsEnv) == "1" && setupNamespace() == nil
}

// noNamespace is set by Main where no namespace can be made: Start skips.
var noNamespace error

var (
	unshareOnce sync.Once
	unshareArgs []string
	unshareErr  error
)

// unshareCommand finds how to create a network namespace here: as root,
// `unshare --net`; otherwise `unshare --user --map-root-user --net` where
// unprivileged user namespaces are allowed. It probes once and fails with
// a message that says what is missing (Run and Start skip on it, unless
// RequireEnv is set: see skipOrFail).
func unshareCommand() ([]string, error) {
	unshareOnce.Do(func() {
		path, err := exec.LookPath("unshare")
		if err != nil {
			unshareErr = errors.New("sigstorestack: the Sigstore stack runs in a network namespace of its own (`unshare --net`), " +
				"and unshare (util-linux) is not on PATH: install util-linux (Debian: apt-get install util-linux)")
			return
		}
		candidates := [][]string{{path, "--net"}}
		if os.Geteuid() != 0 {
			candidates = [][]string{{path, "--user", "--map-root-user", "--net"}}
		}
		var msgs []string
		for _, c := range candidates {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, err := exec.CommandContext(ctx, c[0], append(c[1:], "--", "true")...).CombinedOutput()
			cancel()
			if err == nil {
				unshareArgs = c
				return
			}
			msgs = append(msgs, fmt.Sprintf("`%s true`: %v: %s", strings.Join(c, " "), err, strings.TrimSpace(string(out))))
		}
		unshareErr = fmt.Errorf("sigstorestack: cannot create a network namespace for the Sigstore stack (%s). "+
			"It needs root (CI runs as root) or unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "+
			"and not blocked by AppArmor/seccomp, as in an unprivileged container)", strings.Join(msgs, "; "))
	})
	return unshareArgs, unshareErr
}

// Run runs fn with a started Stack inside an isolated network namespace.
//
// Called from an ordinary test, it builds (or finds cached) the binaries,
// then re-executes this test binary under unshare with -test.run selecting
// only this test, streams the child's output into this test's log and
// passes, fails or skips as the child did. In the child, Run starts the
// stack and calls fn. So everything the test does with the stack must be
// inside fn: code before Run runs in both processes, and fn never runs in
// the parent. In -short mode Run skips.
//
//	func TestKeyless(t *testing.T) {
//		sigstorestack.Run(t, func(t *testing.T, s *sigstorestack.Stack) {
//			tok := s.Token("signer@example.com")
//			...
//		})
//	}
func Run(t *testing.T, fn func(t *testing.T, s *Stack)) {
	t.Helper()
	if testing.Short() {
		t.Skip("sigstorestack: the real Sigstore stack does not run in -short mode")
	}
	if os.Getenv(netnsEnv) == "1" {
		fn(t, Start(t)) // Start sets the namespace up
		return
	}
	if _, err := unshareCommand(); err != nil {
		skipOrFail(t, err)
	}
	if _, err := EnsureBuilt(t.Context(), BuildOptions{Log: t.Logf}); err != nil {
		t.Fatal(err)
	}
	runTestInNamespace(t)
}

// RequireEnv, set to 1 (CI sets it), turns the skip where no network
// namespace can be made into a failure: there the stack test must run.
const RequireEnv = "INFERENCEBENCH_SIGSTORE_REQUIRE"

// skipOrFail skips t, saying why, where this machine cannot make a network
// namespace; with RequireEnv=1 it fails instead. Everything else that goes
// wrong with the stack fails the test: only a missing capability skips.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v (%s=1: the stack test must run here)", err, RequireEnv)
	}
	t.Skipf("SKIPPED, the real Sigstore stack did not run: %v (set %s=1 to make this a failure)", err, RequireEnv)
}

// Main is an alternative to Run for a package whose tests all need the
// stack: call it from TestMain, and the whole test binary re-executes
// itself once inside the namespace (tests then call Start or Run, which
// starts the stack directly). In -short mode nothing is re-executed. The
// child's output passes through unchanged (go test -json works).
//
//	func TestMain(m *testing.M) { sigstorestack.Main(m) }
func Main(m *testing.M) {
	flag.Parse()
	if os.Getenv(netnsEnv) == "1" {
		if err := setupNamespace(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	if testing.Short() {
		os.Exit(m.Run())
	}
	if _, err := unshareCommand(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			fmt.Fprintf(os.Stderr, "%v (%s=1: the stack tests must run here)\n", err, RequireEnv)
			os.Exit(1)
		}
		// Run the tests here; Start skips each one that needs the stack.
		noNamespace = err
		os.Exit(m.Run())
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "sigstorestack: "+format+"\n", args...) }
	if _, err := EnsureBuilt(context.Background(), BuildOptions{Log: logf}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code, err := execInNamespace(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

// execInNamespace runs this executable with args in a new network
// namespace and returns its exit code. Its TMPDIR is a fresh directory
// removed afterwards, whatever happened to the child.
func execInNamespace(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	us, err := unshareCommand()
	if err != nil {
		return 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("sigstorestack: finding the test binary: %w", err)
	}
	tmp, err := os.MkdirTemp("", "sigstorestack-ns-")
	if err != nil {
		return 0, fmt.Errorf("sigstorestack: %w", err)
	}
	defer os.RemoveAll(tmp)

	argv := append(append(append([]string{}, us[1:]...), "--", exe), args...)
	cmd := exec.CommandContext(ctx, us[0], argv...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1", "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = deathSignalAttr()
	cmd.WaitDelay = 10 * time.Second
	// As for the servers (startProcess): run it from a thread that stays
	// until it exits, or the death signal may kill it early.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- cmd.Run()
	}()
	err = <-errc
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), nil
	default:
		return 0, fmt.Errorf("sigstorestack: running the test binary in the network namespace: %w", err)
	}
}

// runTestInNamespace re-executes exactly t in the namespace.
func runTestInNamespace(t *testing.T) {
	t.Helper()
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	args := []string{"-test.run=" + strings.Join(parts, "/"), "-test.count=1", "-test.v=true", "-test.paniconexit0"}
	if deadline, ok := t.Deadline(); ok {
		// Leave the parent time to report the child's timeout panic.
		left := time.Until(deadline) - 15*time.Second
		if left < 30*time.Second {
			left = 30 * time.Second
		}
		args = append(args, "-test.timeout="+left.Round(time.Second).String())
	}
	if f := flag.Lookup("test.gocoverdir"); f != nil && f.Value.String() != "" {
		args = append(args, "-test.gocoverdir="+f.Value.String())
	}

	lw := &lineLogger{t: t}
	code, err := execInNamespace(t.Context(), args, lw, lw)
	lw.flush()
	if err != nil {
		t.Fatal(err)
	}
	name := t.Name()
	switch {
	case code != 0:
		t.Fatalf("sigstorestack: %s failed inside the network namespace (exit status %d); its output is above", name, code)
	case lw.saw("--- SKIP: " + name + " ("):
		t.Skip("sigstorestack: skipped inside the network namespace; see the output above")
	case !lw.saw("--- PASS: " + name + " ("):
		t.Fatalf("sigstorestack: %s did not run inside the network namespace (no PASS line for it in the output above)", name)
	}
}

// lineLogger forwards a child's output to t.Log line by line (indented
// by t.Log, so test2json does not mistake the child's result lines for the
// parent's) and remembers the result lines.
type lineLogger struct {
	t       *testing.T
	mu      sync.Mutex
	partial []byte
	results []string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) line(s string) {
	trimmed := strings.TrimSpace(s)
	if strings.HasPrefix(trimmed, "--- ") {
		l.results = append(l.results, trimmed)
	}
	l.t.Log("ns| " + s)
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

func (l *lineLogger) saw(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.results {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

package sigstorestack

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Stack is a running local Sigstore: Fulcio (ephemeral CA, no CT log),
// Rekor v2 (rekor-tiles, posix storage), a timestamp authority (in-memory
// signer) and an OIDC issuer, all on 127.0.0.1 inside the namespace, plus
// the trust material that describes them. Every URL is exactly as it
// appears in signing_config.json.
type Stack struct {
	// FulcioURL is Fulcio's base URL (sigstore-go: sign.FulcioOptions.BaseURL).
	FulcioURL string
	// RekorURL is the Rekor v2 base URL (sign.RekorOptions.BaseURL, Version 2).
	// Its host, 127.0.0.1, is the log's checkpoint origin: sigstore-go takes
	// the origin from the trusted root's baseUrl.
	RekorURL string
	// TSAURL is the full timestamping endpoint, .../api/v1/timestamp
	// (sign.TimestampAuthorityOptions.URL).
	TSAURL string
	// IssuerURL is the OIDC issuer of Token (Fulcio type "email").
	IssuerURL string
	// GitHubIssuerURL is the OIDC issuer of GitHubToken (Fulcio type
	// "github-workflow").
	GitHubIssuerURL string
	// TrustedRootPath is trusted_root.json (Fulcio CA chain, Rekor v2 key,
	// TSA chain; no CT logs, so verifiers must not require SCTs).
	TrustedRootPath string
	// SigningConfigPath is signing_config.json (v0.2) listing the services.
	SigningConfigPath string
	// CosignPath is the cosign v3 binary, for `cosign verify-blob`.
	CosignPath string
	// Dir holds the stack's configuration, data and server logs; it is
	// removed by Close.
	Dir string

	tb     testing.TB
	issuer *oidcIssuer
	procs  []*process
	logs   map[string]string

	stopOnce  sync.Once
	closeOnce sync.Once
	release   func()
}

// Options configures StartStack.
type Options struct {
	// Binaries to run; default: EnsureBuilt with default options (which
	// finds them in the cache, or builds them if the module proxy is
	// reachable).
	Binaries *Binaries
	// ReadyTimeout bounds the wait for each server; default 90s.
	ReadyTimeout time.Duration
	// Dir is where the stack keeps its files; default: a new temporary
	// directory. Close removes it either way.
	Dir string
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

// The TSA binds its metrics to :2112 whatever the flags say, so two stacks
// cannot share a namespace: a process runs one at a time, and Start waits
// for the previous stack (of a parallel test) to close.
var stackSlot = make(chan struct{}, 1)

// Start starts a Stack for t and closes it when t ends. It must run inside
// the isolated namespace (within Run's fn, or in a package whose TestMain
// calls Main); elsewhere it fails the test and says how to get there. In
// -short mode it skips.
func Start(t testing.TB) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("sigstorestack: the real Sigstore stack does not run in -short mode")
	}
	if os.Getenv(netnsEnv) == "1" {
		if err := setupNamespace(); err != nil {
			t.Fatal(err)
		}
	} else if noNamespace != nil {
		skipOrFail(t, noNamespace)
	} else {
		t.Fatal("sigstorestack: Start must run inside the stack's network namespace: wrap the test body in " +
			"sigstorestack.Run(t, func(t *testing.T, s *sigstorestack.Stack) {...}), or call sigstorestack.Main(m) from TestMain")
	}
	s, err := StartStack(t.Context(), Options{Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	s.tb = t
	t.Cleanup(s.Close)
	return s
}

// StartStack starts the stack; the caller must Close it. ctx bounds the
// start only (and the wait for another stack of this process to close).
// It must run inside the isolated namespace.
func StartStack(ctx context.Context, opts Options) (_ *Stack, err error) {
	if !InNamespace() {
		return nil, errors.New("sigstorestack: StartStack must run inside the stack's network namespace (see Run and Main)")
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	select {
	case stackSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("sigstorestack: waiting for this process's previous stack to close: %w", ctx.Err())
	}
	s := &Stack{release: func() { <-stackSlot }, logs: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	bins := opts.Binaries
	if bins == nil {
		b, err := EnsureBuilt(ctx, BuildOptions{})
		if err != nil {
			return nil, err
		}
		bins = &b
	}
	s.CosignPath = bins.Cosign
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	if opts.Dir != "" {
		s.Dir = opts.Dir
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			return nil, err
		}
	} else if s.Dir, err = os.MkdirTemp("", "sigstorestack-"); err != nil {
		return nil, err
	}
	for _, d := range []string{"home", "rekor-log"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	startedAt := time.Now()

	if s.issuer, err = startOIDCIssuer(); err != nil {
		return nil, err
	}
	s.IssuerURL, s.GitHubIssuerURL = s.issuer.emailURL(), s.issuer.githubURL()

	ports, err := freePorts(7)
	if err != nil {
		return nil, err
	}
	fulcioHTTP, fulcioGRPC, fulcioMetrics := ports[0], ports[1], ports[2]
	rekorHTTP, rekorGRPC, rekorMetrics := ports[3], ports[4], ports[5]
	tsaHTTP := ports[6]
	s.FulcioURL = "http://127.0.0.1:" + strconv.Itoa(fulcioHTTP)
	s.RekorURL = "http://127.0.0.1:" + strconv.Itoa(rekorHTTP)
	tsaBase := "http://127.0.0.1:" + strconv.Itoa(tsaHTTP)
	s.TSAURL = tsaBase + "/api/v1/timestamp"

	// Fulcio: one issuer URL per identity type (see oidcIssuer).
	fulcioConfig := filepath.Join(s.Dir, "fulcio-config.json")
	if err := writeJSONFile(fulcioConfig, map[string]any{"OIDCIssuers": map[string]any{
		s.IssuerURL:       map[string]string{"IssuerURL": s.IssuerURL, "ClientID": Audience, "Type": "email"},
		s.GitHubIssuerURL: map[string]string{"IssuerURL": s.GitHubIssuerURL, "ClientID": Audience, "Type": "github-workflow"},
	}}); err != nil {
		return nil, err
	}

	// Rekor v2 signs checkpoints with an Ed25519 key, as the public-good
	// log does; the log ID then depends on the origin (C2SP signed-note).
	rekorPub, rekorPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(rekorPriv)
	if err != nil {
		return nil, err
	}
	rekorKey := filepath.Join(s.Dir, "rekor-key.pem")
	if err := os.WriteFile(rekorKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}

	logf("sigstorestack: starting fulcio, rekor v2 and the TSA in %s", s.Dir)
	specs := []struct {
		name, bin string
		args      []string
	}{
		{"fulcio", bins.Fulcio, []string{"serve",
			"--ca=ephemeralca",
			"--ct-log-url=", // no CT log: certificates carry no SCTs
			"--config-path=" + fulcioConfig,
			"--host=127.0.0.1", "--port=" + strconv.Itoa(fulcioHTTP),
			"--grpc-host=127.0.0.1", "--grpc-port=" + strconv.Itoa(fulcioGRPC),
			"--metrics-port=" + strconv.Itoa(fulcioMetrics), // binds all interfaces
			// The default is the abstract socket @fulcio-legacy-grpc-socket,
			// one per namespace; a path keeps instances apart.
			"--legacy-unix-domain-socket=" + filepath.Join(s.Dir, "fulcio-legacy.sock"),
			"--log_type=dev",
		}},
		{"rekor", bins.Rekor, []string{"serve",
			"--http-address=127.0.0.1", "--http-port=" + strconv.Itoa(rekorHTTP),
			"--grpc-address=127.0.0.1", "--grpc-port=" + strconv.Itoa(rekorGRPC),
			"--http-metrics-port=" + strconv.Itoa(rekorMetrics),
			"--hostname=127.0.0.1", // checkpoint origin = host of RekorURL
			"--storage-dir=" + filepath.Join(s.Dir, "rekor-log"),
			"--signer-filepath=" + rekorKey,
			// An entry's response waits for the next checkpoint: the
			// default interval (10s) would make every signature slow.
			"--checkpoint-interval=1s", "--batch-max-age=100ms",
		}},
		{"tsa", bins.TSA, []string{"serve",
			"--host=127.0.0.1", "--port=" + strconv.Itoa(tsaHTTP),
			"--timestamp-signer=memory",
			"--disable-ntp-monitoring", // NTP needs the network
			"--cleanup-timeout=2s",
			"--log-type=dev",
		}},
	}
	for _, sp := range specs {
		p, err := startProcess(sp.name, sp.bin, sp.args, s.Dir)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, p)
		s.logs[sp.name] = p.logPath
	}

	rctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(s.procs))
	ready := []string{
		s.FulcioURL + "/api/v2/trustBundle",
		s.RekorURL + "/healthz",
		tsaBase + "/ping",
	}
	for i, p := range s.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitReady(rctx, p, ready[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	logf("sigstorestack: servers ready in %s", time.Since(startedAt).Round(10*time.Millisecond))

	tr, err := s.buildTrustedRoot(ctx, rekorPub, startedAt.Add(-time.Minute), tsaBase)
	if err != nil {
		return nil, err
	}
	s.TrustedRootPath = filepath.Join(s.Dir, "trusted_root.json")
	if err := os.WriteFile(s.TrustedRootPath, tr, 0o644); err != nil {
		return nil, err
	}
	sc, err := s.buildSigningConfig(startedAt.Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	s.SigningConfigPath = filepath.Join(s.Dir, "signing_config.json")
	if err := os.WriteFile(s.SigningConfigPath, sc, 0o644); err != nil {
		return nil, err
	}
	if err := checkTrustFiles(s.TrustedRootPath, s.SigningConfigPath); err != nil {
		return nil, err
	}
	return s, nil
}

// StopServers stops the servers (SIGTERM, then SIGKILL after 3s) and the
// OIDC issuer, keeping Dir: a test calls it to show that verification
// needs nothing but the trust files. It is idempotent.
func (s *Stack) StopServers() {
	s.stopOnce.Do(func() {
		var wg sync.WaitGroup
		for _, p := range s.procs {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop(3 * time.Second) }()
		}
		wg.Wait()
		if s.issuer != nil {
			s.issuer.close()
		}
	})
}

// Close stops the servers and removes Dir. It is idempotent; Start
// registers it with t.Cleanup.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		s.StopServers()
		if s.Dir != "" {
			_ = os.RemoveAll(s.Dir)
		}
		if s.release != nil {
			s.release()
		}
	})
}

// Token returns an OIDC ID token (audience "sigstore", valid 10 minutes)
// from IssuerURL for an email identity: Fulcio certifies subject as the
// email SAN. subject must be an email address.
func (s *Stack) Token(subject string) string {
	tok, err := s.issuer.emailToken(subject, 10*time.Minute)
	s.must(err)
	return tok
}

// GitHubToken returns a GitHub Actions-shaped ID token from
// GitHubIssuerURL; Fulcio certifies w.Identity() as the URI SAN and adds
// the GitHub workflow extensions (repository, ref, SHA, trigger, ...).
func (s *Stack) GitHubToken(w GitHubWorkflow) string {
	tok, err := s.issuer.githubToken(w, 10*time.Minute)
	s.must(err)
	return tok
}

// GitHubActionsEnv returns the values of ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN for a job running as w: a GET of
// url+"&audience=sigstore" with "Authorization: bearer <token>" answers
// {"value": "<ID token>"}, as GitHub's token service does.
func (s *Stack) GitHubActionsEnv(w GitHubWorkflow) (requestURL, requestToken string) {
	return s.issuer.actionsRequest(w)
}

// LogTail returns the last n lines of a server's log ("fulcio", "rekor",
// "tsa"), for failure messages.
func (s *Stack) LogTail(server string, n int) string {
	p, ok := s.logs[server]
	if !ok {
		return fmt.Sprintf("(no server %q)", server)
	}
	return fileTail(p, n)
}

func (s *Stack) must(err error) {
	if err == nil {
		return
	}
	if s.tb != nil {
		s.tb.Helper()
		s.tb.Fatal(err)
	}
	panic(err)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// freePorts reserves n distinct loopback ports. Within the private
// namespace nothing else competes for them between close and the server's
// bind, except other stacks of this process, which Start serialises.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("sigstorestack: reserving a port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// process is a server child with its output in a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

func startProcess(name, bin string, args []string, dir string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// A clean environment: the TSA's viper reads any variable named like
	// a flag (PORT, HOST) and $HOME/.timestamp-server.yaml; proxies and
	// the user's Sigstore settings have no business here either.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(dir, "home"),
		"TMPDIR=" + os.TempDir(),
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = deathSignalAttr()
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The death signal fires when the thread that started the child
		// ends, not the process, and Go ends a thread whenever a goroutine
		// locked to it returns (the simulated engine's clock does, on
		// purpose): start the child from a thread that stays until it exits.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("sigstorestack: starting %s (%s): %w", name, bin, err)
	}
	return p, nil
}

func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) failure(format string, args ...any) error {
	return fmt.Errorf("sigstorestack: %s: %s\n--- %s log (tail, %s) ---\n%s",
		p.name, fmt.Sprintf(format, args...), p.name, p.logPath, fileTail(p.logPath, 30))
}

// waitReady polls url until it answers 200, the process exits, or ctx
// ends; each failure names the server and shows its log tail.
func waitReady(ctx context.Context, p *process, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: HTTP %d %s", url, resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return p.failure("exited before becoming ready (%v)", p.waitErr)
		case <-ctx.Done():
			return p.failure("not ready (%v); last attempt: %s", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/versity/versitygw/auth"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
)

// Server is an embedded S3 server: versitygw's gateway over its posix
// backend, storing each bucket as a directory under Dir and each object as a
// file (metadata and checksums in user xattrs).
//
// Limits, all inherited from versitygw v1.8.0 (see README.md):
//
//   - One per process. The gateway keeps state in package globals, so while
//     one Server runs, StartServer returns an error instead of starting a
//     second. After Close (or after the ctx given to StartServer is done and
//     the gateway has stopped) a new one may be started, on the same
//     directory or another; data on disk survives.
//   - The posix backend chdirs the whole process into Dir and resolves every
//     bucket and object path relative to the working directory. While a
//     Server runs, relative paths anywhere in the process resolve inside the
//     data directory, and any os.Chdir elsewhere breaks the server. Resolve
//     paths to absolute before starting it. The previous working directory
//     is restored when the server stops.
//   - Dir must be dedicated to it: every directory directly under Dir is
//     served as a bucket. Do not nest it in another server's directory.
//   - Dir's filesystem must support user xattrs (ext4, xfs, btrfs, tmpfs
//     do); StartServer checks.
//   - versitygw cannot be handed a listener and does not report the port it
//     bound, so for port 0 StartServer picks a free port itself (bind to
//     port 0, read the port, close) and passes it on. Another process could
//     take the port in between; StartServer then retries with a new port a
//     few times.
type Server struct {
	dir       string
	endpoint  string
	accessKey string
	secretKey string

	cancel  context.CancelFunc
	stopped chan struct{} // closed once the gateway has returned and cleanup is done
	runErr  error         // the gateway's result, set before stopped is closed

	closeOnce sync.Once
}

var (
	serverMu sync.Mutex
	// current is the running (or starting) Server of this process.
	current *Server
)

const (
	startTimeout      = 15 * time.Second
	freePortAttempts  = 5
	serverRegion      = DefaultRegion
	serverMaxConns    = 1000
	serverMaxRequests = 1000
)

// StartServer starts versitygw over dir (created if missing; made absolute
// against the working directory at the time of the call), listening on addr
// ("host:port"; port 0 picks a free port, see Server). It returns once the
// server answers HTTP requests. The server runs until Close is called or ctx
// is done; in both cases Close waits for it to stop.
//
// accessKey/secretKey become the root account: the only credentials the
// server accepts.
func StartServer(ctx context.Context, dir, addr string, accessKey, secretKey string) (*Server, error) {
	if accessKey == "" || secretKey == "" {
		return nil, errors.New("objstore: embedded S3 server: access key and secret key are required")
	}
	if dir == "" {
		return nil, errors.New("objstore: embedded S3 server: no data directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: embedded S3 server: data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: embedded S3 server: creating data directory: %w", err)
	}
	if err := (meta.XattrMeta{}).Test(abs); err != nil {
		return nil, fmt.Errorf("objstore: embedded S3 server: data directory %s: %w (versitygw's posix backend keeps object metadata and checksums in user xattrs)", abs, err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("objstore: embedded S3 server: listen address %q: %w", addr, err)
	}

	s := &Server{dir: abs, accessKey: accessKey, secretKey: secretKey}
	serverMu.Lock()
	if current != nil {
		other := current
		serverMu.Unlock()
		return nil, fmt.Errorf("objstore: an embedded S3 server is already running in this process (data directory %s, endpoint %s): versitygw supports one per process; Close it first", other.dir, other.endpoint)
	}
	current = s
	serverMu.Unlock()

	pickPort := port == "" || port == "0"
	attempts := 1
	if pickPort {
		attempts = freePortAttempts
	}
	var lastErr error
	for range attempts {
		p := port
		if pickPort {
			if p, err = freePort(host); err != nil {
				s.release()
				return nil, fmt.Errorf("objstore: embedded S3 server: finding a free port on %q: %w", host, err)
			}
		}
		lastErr = s.start(ctx, net.JoinHostPort(host, p))
		if lastErr == nil {
			return s, nil
		}
		if !pickPort || !errors.Is(lastErr, syscall.EADDRINUSE) {
			break
		}
	}
	s.release()
	return nil, lastErr
}

// release lets another Server start in this process.
func (s *Server) release() {
	serverMu.Lock()
	if current == s {
		current = nil
	}
	serverMu.Unlock()
}

// start runs one attempt on listen ("host:port"), returning once the server
// answers, or the reason it did not come up (after it has fully stopped).
func (s *Server) start(ctx context.Context, listen string) error {
	prevWD, wdErr := os.Getwd() // posix.New chdirs; restore it afterwards
	restoreWD := func() {
		if wdErr == nil {
			_ = os.Chdir(prevWD)
		}
	}
	be, err := posix.New(s.dir, meta.XattrMeta{}, posix.PosixOpts{})
	if err != nil {
		restoreWD()
		return fmt.Errorf("objstore: embedded S3 server: posix backend on %s: %w", s.dir, err)
	}

	listening := make(chan struct{})
	var listenOnce sync.Once
	cfg := &embedgw.Config{
		RootUserAccess:    s.accessKey,
		RootUserSecret:    s.secretKey,
		Region:            serverRegion,
		Ports:             []string{listen},
		MaxConnections:    serverMaxConns,
		MaxRequests:       serverMaxRequests,
		MultipartMaxParts: 10000,
		// The single-account IAM the gateway would pick itself, given
		// directly: picking it prints a line on standard output.
		IAMService: auth.NewIAMServiceSingle(auth.Account{Access: s.accessKey, Secret: s.secretKey, Role: auth.RoleAdmin}),
		// Without keep-alive every request pays a TCP connection on both
		// sides: a third of the pipeline's CPU, measured.
		KeepAlive: true,
		Quiet:     true,
		S3Options: []s3api.Option{s3api.WithOnListen(func() {
			listenOnce.Do(func() { close(listening) })
		})},
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = embedgw.RunVersityGW(runCtx, be, cfg)
	}()

	serverMu.Lock() // read by a concurrent StartServer's error message
	s.endpoint = "http://" + clientAddr(listen)
	serverMu.Unlock()
	fail := func(err error) error {
		cancel()
		<-done
		restoreWD()
		return err
	}
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-listening:
	case <-done:
		restoreWD()
		cancel()
		if runErr == nil {
			runErr = errors.New("stopped before listening")
		}
		return fmt.Errorf("objstore: embedded S3 server on %s: %w", listen, runErr)
	case <-ctx.Done():
		return fail(fmt.Errorf("objstore: embedded S3 server on %s: %w", listen, ctx.Err()))
	case <-timer.C:
		return fail(fmt.Errorf("objstore: embedded S3 server on %s: not listening after %s", listen, startTimeout))
	}
	if err := waitHTTP(ctx, s.endpoint, done, timer.C); err != nil {
		return fail(fmt.Errorf("objstore: embedded S3 server on %s: %w", listen, err))
	}

	s.cancel = cancel
	s.stopped = make(chan struct{})
	go func() {
		<-done
		s.runErr = runErr
		restoreWD()
		s.release()
		close(s.stopped)
	}()
	return nil
}

// waitHTTP polls endpoint until any HTTP answer comes back (an anonymous
// request gets 403, which proves the S3 router is serving).
func waitHTTP(ctx context.Context, endpoint string, done <-chan struct{}, deadline <-chan time.Time) error {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	defer client.CloseIdleConnections()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("stopped while waiting for it to answer: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("not answering after %s: %w", startTimeout, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free port on host and releases it.
func freePort(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if cerr := ln.Close(); err == nil {
		err = cerr
	}
	return port, err
}

// clientAddr turns a listen address into one a client can dial: the
// wildcard hosts become loopback.
func clientAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// Endpoint is the server's URL, "http://host:port".
func (s *Server) Endpoint() string { return s.endpoint }

// Dir is the absolute data directory; bucket b's object k is the file
// Dir/b/k.
func (s *Server) Dir() string { return s.dir }

// Config returns a Config for a Store on this server.
func (s *Server) Config(bucket string) Config {
	return Config{
		Endpoint:  s.endpoint,
		Bucket:    bucket,
		AccessKey: s.accessKey,
		SecretKey: s.secretKey,
		Region:    serverRegion,
	}
}

// Close stops the server and waits until it has stopped, its connections
// are closed, the working directory is restored and another server may be
// started. It returns the gateway's error if it stopped by failing rather
// than by being asked to. Calling it again returns the same result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.cancel() })
	<-s.stopped
	if s.runErr != nil {
		return fmt.Errorf("objstore: embedded S3 server on %s: %w", s.endpoint, s.runErr)
	}
	return nil
}

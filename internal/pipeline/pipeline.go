// Package pipeline assembles the pipeline in one process, the way `bench up`
// and `bench demo` run it: the bus (an embedded NATS server with JetStream,
// or an external one), the object store (an embedded versitygw, or any S3
// endpoint), the catalog, the signer's key and the verifier's trust policy,
// and the roles that use them. Each default lives under one data directory,
// so that a restarted `bench up` continues where it stopped.
//
// The roles themselves are the services' Run functions: `bench signer` and
// the other role commands run the same code, one role per process.
package pipeline

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/api"
	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/natsserver"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/indexer"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/runner/fleet"
	"github.com/inferencebench/bench/services/signer"
	"github.com/inferencebench/bench/services/verifier"
)

// Role is one of the pipeline's stages.
type Role string

// The roles a pipeline process can run.
const (
	RoleSigner   Role = "signer"
	RoleVerifier Role = "verifier"
	RoleIndexer  Role = "indexer"
)

// AllRoles are the consuming roles, in pipeline order. (Runners are not
// among them: they run benchmarks, they do not consume.)
var AllRoles = []Role{RoleSigner, RoleVerifier, RoleIndexer}

// Options configures a pipeline process. The zero value runs every role on
// embedded defaults under ./bench-data.
type Options struct {
	// DataDir holds everything embedded: the bus's file store, the object
	// store's files, the catalog, the signer's key and the S3 credentials.
	DataDir string
	// Roles to run; nil runs AllRoles.
	Roles []Role

	// NATS is a connection to an external server or cluster (see
	// bus.ServiceOptions); nil starts an embedded server listening on
	// NATSListen. The pipeline does not close a connection it was given.
	NATS *nats.Conn
	// NATSListen is the embedded server's address ("127.0.0.1:4222" for
	// runners on this machine; "" for in-process clients only).
	NATSListen string
	// Bus tunes the streams (replicas for a cluster, retention).
	Bus bus.Options

	// S3 reaches an external object store; an empty Endpoint starts an
	// embedded versitygw over DataDir/objects listening on S3Listen
	// (default 127.0.0.1:0, a free port). Bucket defaults to "bench".
	S3       objstore.Config
	S3Listen string

	// Catalog replaces the default SQLite catalog at DataDir/catalog.db.
	Catalog catalog.Catalog

	// SignerKey is the signer's dev key; nil loads DataDir/keys/signer.key,
	// generating it on first use.
	SignerKey ed25519.PrivateKey
	// Signer, if set, is what the signer role signs with instead of the dev
	// key: a keyless Sigstore signer from signer.NewKeyless (an OIDC token
	// per envelope, a Fulcio certificate, a transparency-log entry), or
	// signer.DevKey. With a Signer the verifier role needs an explicit
	// Policy: one naming the keyless identity and a trusted root.
	Signer signer.EnvelopeSigner
	// Policy is what the verifier trusts; nil pins the signer's dev key (and
	// nothing else).
	Policy *verify.Policy

	// HTTPAddr serves the results API ("" for none).
	HTTPAddr string

	// Concurrency bounds the envelopes each stage has in flight (0: the
	// stages' defaults).
	Concurrency int
	// MaxEnvelopeBytes dead-letters larger messages (default 1 MiB).
	MaxEnvelopeBytes int
	// Tuning adjusts every stage's retries and delivery limits.
	Tuning bus.Tuning

	Log zerolog.Logger
	// OnProcessed is called after each stage settles a message.
	OnProcessed func(role Role, m *bus.Message, rejected error)
}

// Pipeline is a running pipeline process.
type Pipeline struct {
	opts    Options
	nats    *natsserver.Server
	s3      *objstore.Server
	nc      *nats.Conn
	ownNC   bool
	js      jetstream.JetStream
	store   *objstore.Store
	cat     catalog.Catalog
	ownCat  bool
	key     ed25519.PrivateKey
	policy  *verify.Policy
	httpSrv *http.Server
	httpURL string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
	done   chan struct{}
}

// EmbeddedNATSMaxPayload is the embedded server's message size limit: above
// the stages' envelope limit, so that an oversized envelope reaches a stage
// and is dead-lettered with its reason instead of failing at publish.
const EmbeddedNATSMaxPayload = 8 << 20

// Start starts the servers and roles and returns once every role consumes.
// The roles run until ctx ends or Close is called.
func Start(ctx context.Context, opts Options) (p *Pipeline, err error) {
	if opts.DataDir == "" {
		opts.DataDir = "bench-data"
	}
	if opts.Roles == nil {
		opts.Roles = AllRoles
	}
	if opts.S3.Bucket == "" {
		opts.S3.Bucket = "bench"
	}
	if opts.Signer != nil && slices.Contains(opts.Roles, RoleVerifier) && opts.Policy == nil {
		return nil, errors.New("pipeline: with a keyless signer, give the verifier a Policy (the signer's issuer and identity, and a trusted root)")
	}
	// Absolute, because the embedded S3 server changes the process's
	// working directory while it runs (see objstore.StartServer).
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pipeline: data directory: %w", err)
	}
	opts.DataDir = dir
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("pipeline: data directory: %w", err)
	}
	p = &Pipeline{opts: opts, done: make(chan struct{})}
	started := p // p itself is nil once an error is returned
	defer func() {
		if err != nil {
			if started.cancel != nil {
				started.cancel()
				started.wg.Wait()
			}
			started.closeResources()
		}
	}()
	log := opts.Log

	// The bus.
	if opts.NATS == nil {
		no := natsserver.Options{Dir: filepath.Join(opts.DataDir, "nats"), MaxPayload: EmbeddedNATSMaxPayload}
		if opts.NATSListen == "" {
			no.InProcessOnly = true
		} else {
			host, port, err := splitHostPort(opts.NATSListen)
			if err != nil {
				return nil, fmt.Errorf("pipeline: NATS listen address: %w", err)
			}
			no.Host, no.Port = host, port
		}
		if p.nats, err = natsserver.Start(no); err != nil {
			return nil, fmt.Errorf("pipeline: embedded NATS: %w", err)
		}
		if p.nc, err = p.nats.Connect(bus.ServiceOptions("bench up", log)...); err != nil {
			return nil, fmt.Errorf("pipeline: embedded NATS: %w", err)
		}
		p.ownNC = true
		log.Info().Str("url", p.nats.ClientURL()).Str("dir", no.Dir).Msg("embedded NATS with JetStream")
	} else {
		p.nc = opts.NATS
	}
	if p.js, err = jetstream.New(p.nc); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if err := bus.Setup(ctx, p.js, opts.Bus); err != nil {
		return nil, err
	}

	// The object store.
	if opts.S3.Endpoint == "" {
		s3cfg, srv, err := startEmbeddedS3(ctx, opts)
		if err != nil {
			return nil, err
		}
		p.s3 = srv
		opts.S3 = s3cfg
		p.opts.S3 = s3cfg
		log.Info().Str("endpoint", srv.Endpoint()).Str("dir", srv.Dir()).Msg("embedded S3 (versitygw)")
	}
	if p.store, err = objstore.New(ctx, opts.S3); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}

	// The catalog, key and policy, for the roles that need them.
	if slices.Contains(opts.Roles, RoleIndexer) || opts.HTTPAddr != "" {
		if p.cat = opts.Catalog; p.cat == nil {
			path := filepath.Join(opts.DataDir, "catalog.db")
			if p.cat, err = catalog.OpenSQLite(path); err != nil {
				return nil, fmt.Errorf("pipeline: catalog %s: %w", path, err)
			}
			p.ownCat = true
		}
	}
	if (slices.Contains(opts.Roles, RoleSigner) && opts.Signer == nil) || (slices.Contains(opts.Roles, RoleVerifier) && opts.Policy == nil) {
		if p.key = opts.SignerKey; p.key == nil {
			if p.key, err = LoadOrCreateKey(filepath.Join(opts.DataDir, "keys", "signer.key")); err != nil {
				return nil, err
			}
		}
	}
	if slices.Contains(opts.Roles, RoleVerifier) {
		if p.policy = opts.Policy; p.policy == nil {
			p.policy = &verify.Policy{}
			p.policy.AddDevKey("signer ("+filepath.Join(opts.DataDir, "keys", "signer.pub")+")", p.key.Public().(ed25519.PublicKey))
		}
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-runCtx.Done():
		}
	}()
	// The pipeline lives until it is stopped, even with no role to run
	// (servers and API only).
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-runCtx.Done()
	}()
	for _, r := range opts.Roles {
		if err := p.startRole(runCtx, r); err != nil {
			return nil, err
		}
	}

	if opts.HTTPAddr != "" {
		ln, err := net.Listen("tcp", opts.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("pipeline: HTTP API: %w", err)
		}
		p.httpURL = "http://" + ln.Addr().String()
		if p.httpSrv, err = NewAPIServer(ctx, p.js, p.cat, p.Ready); err != nil {
			ln.Close()
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				p.fail(fmt.Errorf("HTTP API: %w", err))
			}
		}()
		log.Info().Str("url", p.httpURL).Msg("results API")
	}
	go func() {
		p.wg.Wait()
		close(p.done)
	}()
	return p, nil
}

// NewAPIServer returns an HTTP server for the results API over cat, with
// the fleet's jobs and batches read through js, and the timeouts that
// api.Handler leaves to its server. ready backs /readyz (see api.Handler).
// `bench up` and `bench indexer --http` both serve it this way.
func NewAPIServer(ctx context.Context, js jetstream.JetStream, cat catalog.Catalog, ready func(context.Context) error) (*http.Server, error) {
	jobs, err := fleet.OpenStore(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("results API: %w", err)
	}
	return &http.Server{Handler: api.Handler(cat, ready, api.WithJobs(jobs)), ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}, nil
}

func (p *Pipeline) startRole(ctx context.Context, r Role) error {
	o := p.opts
	log := o.Log.With().Str("role", string(r)).Logger()
	processed := func(m *bus.Message, rejected error) {
		if o.OnProcessed != nil {
			o.OnProcessed(r, m, rejected)
		}
	}
	var run func() error
	switch r {
	case RoleSigner:
		run = func() error {
			return signer.Run(ctx, signer.Config{JS: p.js, Signer: o.Signer, Key: p.key, Concurrency: o.Concurrency,
				MaxEnvelopeBytes: o.MaxEnvelopeBytes, Log: log, OnProcessed: processed, Tuning: o.Tuning})
		}
	case RoleVerifier:
		run = func() error {
			return verifier.Run(ctx, verifier.Config{JS: p.js, Store: p.store, Policy: p.policy, Concurrency: o.Concurrency,
				MaxEnvelopeBytes: o.MaxEnvelopeBytes, Log: log, OnProcessed: processed, Tuning: o.Tuning})
		}
	case RoleIndexer:
		run = func() error {
			return indexer.Run(ctx, indexer.Config{JS: p.js, Store: p.store, Catalog: p.cat, Concurrency: o.Concurrency,
				Log: log, OnProcessed: processed, Tuning: o.Tuning})
		}
	default:
		return fmt.Errorf("pipeline: unknown role %q (signer, verifier, indexer)", r)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := run(); err != nil && ctx.Err() == nil {
			p.fail(fmt.Errorf("%s: %w", r, err))
		}
	}()
	return nil
}

// fail records the first role failure and stops the others: a process
// missing a role is worse than one that exits and is restarted.
func (p *Pipeline) fail(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
		p.opts.Log.Error().Err(err).Msg("stopping the pipeline")
	}
	p.errMu.Unlock()
	p.cancel()
}

// Done is closed when every role has stopped.
func (p *Pipeline) Done() <-chan struct{} { return p.done }

// Err is the failure that stopped the pipeline, if any.
func (p *Pipeline) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// Close stops the roles (each drains what it has in flight), then the HTTP
// API, the connection and the embedded servers.
func (p *Pipeline) Close() error {
	p.cancel()
	if p.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.httpSrv.Shutdown(ctx)
		cancel()
	}
	<-p.done
	p.closeResources()
	return p.Err()
}

func (p *Pipeline) closeResources() {
	if p.nc != nil && p.ownNC {
		p.nc.Drain()
		for i := 0; i < 100 && !p.nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		p.nc.Close()
	}
	if p.ownCat && p.cat != nil {
		p.cat.Close()
	}
	if p.s3 != nil {
		p.s3.Close()
	}
	if p.nats != nil {
		p.nats.Shutdown()
	}
}

// Ready reports whether the pipeline can do its work: every role running,
// the bus connected, the catalog usable. It backs /readyz.
func (p *Pipeline) Ready(ctx context.Context) error {
	if err := p.Err(); err != nil {
		return err
	}
	select {
	case <-p.done:
		return errors.New("the pipeline has stopped")
	default:
	}
	if !p.nc.IsConnected() {
		return fmt.Errorf("not connected to NATS (%s)", p.nc.Status())
	}
	if p.cat != nil {
		if err := p.cat.Ping(ctx); err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
	}
	return nil
}

// JetStream is the pipeline's JetStream context (runners in the same
// process publish with it).
func (p *Pipeline) JetStream() jetstream.JetStream { return p.js }

// Conn is the pipeline's NATS connection.
func (p *Pipeline) Conn() *nats.Conn { return p.nc }

// Store is the object store.
func (p *Pipeline) Store() *objstore.Store { return p.store }

// S3Config says how to reach the object store (with its credentials).
func (p *Pipeline) S3Config() objstore.Config { return p.opts.S3 }

// Catalog is the catalog (nil when neither the indexer nor the API runs here).
func (p *Pipeline) Catalog() catalog.Catalog { return p.cat }

// NATSURL is where other processes reach the bus ("" when the embedded
// server takes in-process clients only).
func (p *Pipeline) NATSURL() string {
	if p.nats != nil {
		return p.nats.ClientURL()
	}
	return p.nc.ConnectedUrlRedacted()
}

// HTTPURL is the results API's base URL ("" when not served).
func (p *Pipeline) HTTPURL() string { return p.httpURL }

// SignerPublicKey is the signer's public key (nil when no signer runs here).
func (p *Pipeline) SignerPublicKey() ed25519.PublicKey {
	if p.key == nil {
		return nil
	}
	return p.key.Public().(ed25519.PublicKey)
}

// Policy is the verifier's trust policy.
func (p *Pipeline) Policy() *verify.Policy { return p.policy }

// LoadOrCreateKey loads the dev key at path, or generates it (with its
// public key beside it) when there is none.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := devkey.LoadPrivateKey(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pipeline: signer key: %w", err)
	}
	if key, err = devkey.Generate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if _, err := devkey.WriteKeyPair(path, key); err != nil {
		return nil, fmt.Errorf("pipeline: writing the signer key: %w", err)
	}
	return key, nil
}

// s3Credentials are the embedded object store's root credentials, kept in
// the data directory so that a restart and other local processes (runners)
// use the same ones.
type s3Credentials struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// S3CredentialsFile is where the embedded object store's credentials are kept.
func S3CredentialsFile(dataDir string) string { return filepath.Join(dataDir, "s3-credentials.json") }

func startEmbeddedS3(ctx context.Context, opts Options) (objstore.Config, *objstore.Server, error) {
	path := S3CredentialsFile(opts.DataDir)
	var cred s3Credentials
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &cred); err != nil || cred.AccessKey == "" || cred.SecretKey == "" {
			return objstore.Config{}, nil, fmt.Errorf("pipeline: %s: not valid S3 credentials", path)
		}
	case errors.Is(err, os.ErrNotExist):
		cred = s3Credentials{AccessKey: "bench-" + randomHex(6), SecretKey: randomHex(20)}
		data, _ := json.MarshalIndent(cred, "", "  ")
		// Atomic: a crash mid-write must not leave a file the next start
		// refuses as "not valid S3 credentials".
		if err := runner.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
			return objstore.Config{}, nil, err
		}
	default:
		return objstore.Config{}, nil, err
	}
	listen := opts.S3Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	srv, err := objstore.StartServer(ctx, filepath.Join(opts.DataDir, "objects"), listen, cred.AccessKey, cred.SecretKey)
	if err != nil {
		return objstore.Config{}, nil, fmt.Errorf("pipeline: %w", err)
	}
	cfg := srv.Config(opts.S3.Bucket)
	cfg.MaxObjectBytes = opts.S3.MaxObjectBytes
	cfg.MaxRetries = opts.S3.MaxRetries
	return cfg, srv, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var n int
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	if n == 0 {
		n = -1 // a free port
	}
	return host, n, nil
}

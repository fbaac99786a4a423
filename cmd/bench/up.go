package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/pipeline"
	"github.com/inferencebench/bench/services/signer"
)

// serveAPI serves the results API over cat on ln until ctx ends.
func serveAPI(ctx context.Context, ln net.Listener, cat catalog.Catalog, nc *nats.Conn, log zerolog.Logger) error {
	ready := func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("not connected to NATS (%s)", nc.Status())
		}
		return cat.Ping(ctx)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("results API: %w", err)
	}
	srv, err := pipeline.NewAPIServer(ctx, js, cat, ready)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info().Str("url", "http://"+ln.Addr().String()).Msg("results API")
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("results API: %w", err)
	}
	return nil
}

func newUpCommand() *cobra.Command {
	var (
		sf                   serviceFlags
		trust                trustFlags
		kf                   keylessFlags
		dataDir, roles       string
		httpAddr, natsListen string
		s3Listen             string
	)
	cmd := &cobra.Command{
		Use:   "up [--data-dir DIR] [--http ADDR] [--nats URL] [--s3-endpoint URL]",
		Short: "Run the whole pipeline in one process: bus, object store, catalog, roles and API",
		Long: `up runs every pipeline role (signer, verifier, indexer) and the results API in
one process, on embedded defaults kept under --data-dir:

  NATS with JetStream   file store in DIR/nats, listening on --nats-listen
  S3 (versitygw)        objects in DIR/objects, listening on --s3-listen,
                        credentials in DIR/s3-credentials.json
  catalog               SQLite, DIR/catalog.db
  signer key            DIR/keys/signer.key (created on first start); the
                        verifier pins its public key, plus any --dev-public-key
                        or --policy given. With --keyless the signer signs
                        through Sigstore instead (see 'bench signer --help')
                        and the verifier trusts only what --policy or
                        --trusted-root/--require-* name
  results API           --http (GET /api/v1/results, /api/v1/results/HASH,
                        /healthz, /readyz)

Each default is replaced by a flag: --nats for an external server or cluster
(with --replicas 3), --s3-endpoint for any S3 service. It runs until SIGINT
or SIGTERM, then drains. Runners on this machine publish into it with
'bench runner' and the connection settings it prints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := sf.logger(cmd, "up")
			if err != nil {
				return err
			}
			roleSet, err := roleList(roles)
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			opts := pipeline.Options{DataDir: dataDir, Roles: roleSet, NATSListen: natsListen, S3Listen: s3Listen,
				HTTPAddr: httpAddr, Concurrency: sf.concurrency, Log: log}
			opts.Bus = sf.busOptions()
			if cmd.Flags().Changed("nats") || os.Getenv(envNATS) != "" {
				nc, _, err := sf.nats.connectJS(bus.ServiceOptions("bench up", log)...)
				if err != nil {
					return err
				}
				defer nc.Close()
				opts.NATS = nc
			}
			if flagOrEnv(cmd.Flags(), "s3-endpoint", sf.s3.endpoint, envS3Endpoint) != "" {
				if opts.S3, err = sf.s3.config(flagOrEnv(cmd.Flags(), "s3-bucket", sf.bucket, envBucket)); err != nil {
					return fail(exitInvalid, "%v", err)
				}
			} else {
				opts.S3.Bucket = flagOrEnv(cmd.Flags(), "s3-bucket", sf.bucket, envBucket)
			}
			policy, warnings, err := trust.policy()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			for _, w := range warnings {
				log.Warn().Msg(w)
			}
			if err := kf.check(cmd.Flags()); err != nil {
				return fail(exitInvalid, "%v", err)
			}
			if kf.enabled {
				// Keyless: the verifier trusts exactly what the operator
				// says, which must name the signer's identity and a root.
				if policy.IsEmpty() || policy.CheckKeylessReady() != nil || (len(policy.Identities) == 0 && policy.RequireIssuer == "") {
					return fail(exitInvalid, "--keyless: tell the verifier whom to trust: --trusted-root FILE with --require-issuer URL and "+
						"--require-identity-pattern RE, or --policy FILE with keyless entries and a trusted_root (docs/keyless.md)")
				}
				cfg := kf.config(cmd.Flags(), false)
				cfg.TrustedMaterial = policy.TrustedMaterial
				ks, err := signer.NewKeyless(cfg)
				if err != nil {
					return fail(exitInvalid, "--keyless: %v", err)
				}
				log.Info().Str("services", ks.String()).Msg("keyless signing")
				opts.Signer = ks
				opts.Policy = policy
			} else if !policy.IsEmpty() {
				// The operator's pins, plus the pipeline's own signer.
				key, err := pipeline.LoadOrCreateKey(filepath.Join(dataDir, "keys", "signer.key"))
				if err != nil {
					return fail(exitFailed, "%v", err)
				}
				opts.SignerKey = key
				policy.AddDevKey("the pipeline's signer", key.Public().(ed25519.PublicKey))
				opts.Policy = policy
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p, err := pipeline.Start(ctx, opts)
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			printConnectionHelp(cmd, p, dataDir)
			select {
			case <-ctx.Done():
				log.Info().Msg("stopping: draining the roles")
			case <-p.Done():
			}
			if err := p.Close(); err != nil {
				return fail(exitFailed, "%v", err)
			}
			log.Info().Msg("stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "bench-data", "where the embedded bus, object store, catalog and keys live")
	f.StringVar(&roles, "roles", "all", "roles to run: all, none (servers and API only), or a list of signer, verifier, indexer")
	f.StringVar(&httpAddr, "http", "127.0.0.1:8080", "serve the results API here (\"\" for none)")
	f.StringVar(&natsListen, "nats-listen", "127.0.0.1:4222", "the embedded NATS server's address (\"\" for in-process clients only)")
	f.StringVar(&s3Listen, "s3-listen", "127.0.0.1:9000", "the embedded S3 server's address (port 0: any free port)")
	sf.register(f, true)
	trust.register(f)
	kf.register(f, false, false)
	return cmd
}

// printConnectionHelp tells the operator how other processes reach this
// pipeline.
func printConnectionHelp(cmd *cobra.Command, p *pipeline.Pipeline, dataDir string) {
	w := cmd.OutOrStdout()
	s3 := p.S3Config()
	fmt.Fprintf(w, "pipeline up (data in %s)\n", dataDir)
	if u := p.NATSURL(); u != "" {
		fmt.Fprintf(w, "  NATS     %s\n", u)
	}
	fmt.Fprintf(w, "  S3       %s bucket %s\n", s3.Endpoint, s3.Bucket)
	if u := p.HTTPURL(); u != "" {
		fmt.Fprintf(w, "  API      %s/api/v1/results\n", u)
	}
	fmt.Fprintf(w, "\npublish a benchmark into it from this machine:\n")
	fmt.Fprintf(w, "  export %s=%s %s=%s\n", envNATS, p.NATSURL(), envS3Endpoint, s3.Endpoint)
	if s3.AccessKey != "" {
		fmt.Fprintf(w, "  export %s=%s %s=%s   # from %s\n", envS3AccessKey, s3.AccessKey, envS3SecretKey, s3.SecretKey,
			pipeline.S3CredentialsFile(dataDir))
	}
	fmt.Fprintf(w, "  bench runner --endpoint http://localhost:8000 --rate 5 --requests 100\n")
	fmt.Fprintf(w, "follow verified results: bench watch    query them: bench results\n")
}

package main

// The pipeline's service roles and the commands that run them:
//
//	bench up         every role, embedded NATS, S3 and catalog, the HTTP API
//	bench demo       bench up in-process, one benchmark through it, the result
//	bench runner     benchmark an engine and publish into the pipeline
//	bench signer     sign unsigned envelopes
//	bench verifier   re-check signed envelopes against the trust policy
//	bench indexer    catalog verified envelopes and serve the HTTP API
//
// Each role command runs the same service code as `bench up`, against an
// external NATS (--nats) and S3 (--s3-endpoint), so roles scale out as
// separate processes sharing durable consumers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/logging"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/internal/pipeline"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/services/indexer"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/signer"
	"github.com/inferencebench/bench/services/verifier"
)

const envBucket = "BENCH_S3_BUCKET"

// serviceFlags are the flags every long-running role shares: where the bus
// and the object store are, how the streams are set up, how to log.
type serviceFlags struct {
	nats        natsFlags
	s3          s3Flags
	bucket      string
	replicas    int
	resultsAge  time.Duration
	rejectedAge time.Duration
	concurrency int
	logLevel    string
	logFormat   string
	fs          *pflag.FlagSet
}

func (f *serviceFlags) register(fs *pflag.FlagSet, withS3 bool) {
	f.fs = fs
	f.nats.register(fs)
	if withS3 {
		f.s3.register(fs)
		fs.StringVar(&f.bucket, "s3-bucket", "bench", "the bucket traces and archived envelopes live in (env "+envBucket+")")
	}
	fs.IntVar(&f.replicas, "replicas", 1, "JetStream replicas of every stream: 1 for a single server, 3 for a cluster")
	fs.DurationVar(&f.resultsAge, "results-max-age", 0, "drop results from the results stream after this long (0: keep forever; the catalog keeps them regardless)")
	fs.DurationVar(&f.rejectedAge, "rejected-max-age", 0, "drop dead letters after this long (0: keep forever)")
	if fs.Lookup("concurrency") == nil { // the runner's means its load
		fs.IntVar(&f.concurrency, "concurrency", 0, "envelopes in flight in this process (default: the role's own)")
	}
	f.registerLog(fs)
}

func (f *serviceFlags) registerLog(fs *pflag.FlagSet) {
	fs.StringVar(&f.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "json, console, or auto (console on a terminal)")
}

func (f *serviceFlags) logger(cmd *cobra.Command, role string) (zerolog.Logger, error) {
	log, err := logging.New(logging.Options{Format: f.logFormat, Level: f.logLevel, Out: cmd.ErrOrStderr()})
	if err != nil {
		return log, fail(exitInvalid, "%v", err)
	}
	return log.With().Str("role", role).Logger(), nil
}

// connect dials NATS for a service (reconnecting forever once connected)
// and makes sure the contract's streams exist.
func (f *serviceFlags) connect(ctx context.Context, role string, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, js, err := f.nats.connectJS(bus.ServiceOptions("bench "+role, log)...)
	if err != nil {
		return nil, nil, err
	}
	if err := bus.Setup(ctx, js, f.busOptions()); err != nil {
		nc.Close()
		return nil, nil, fail(exitFailed, "%v (is JetStream enabled on %s?)", err, f.nats.serverURL())
	}
	log.Info().Str("nats", f.nats.serverURL()).Msg("connected")
	return nc, js, nil
}

// connectWithStore is connect and store together, for the roles that use
// both; the connection is closed if the object store cannot be reached.
func (f *serviceFlags) connectWithStore(ctx context.Context, role string, log zerolog.Logger) (*nats.Conn, jetstream.JetStream, *objstore.Store, error) {
	nc, js, err := f.connect(ctx, role, log)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := f.store(ctx)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, js, st, nil
}

func (f *serviceFlags) busOptions() bus.Options {
	return bus.Options{Replicas: f.replicas, ResultsMaxAge: f.resultsAge, RejectedMaxAge: f.rejectedAge}
}

// store connects to the object store and checks the bucket.
func (f *serviceFlags) store(ctx context.Context) (*objstore.Store, error) {
	cfg, err := f.s3.config(flagOrEnv(f.fs, "s3-bucket", f.bucket, envBucket))
	if err != nil {
		return nil, fail(exitInvalid, "%v", err)
	}
	st, err := objstore.New(ctx, cfg)
	if err != nil {
		return nil, fail(exitFailed, "%v", err)
	}
	return st, nil
}

// serve runs a role until SIGINT or SIGTERM, then lets it drain.
func serve(cmd *cobra.Command, log zerolog.Logger, nc *nats.Conn, run func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info().Msg("running; SIGINT or SIGTERM drains and stops")
	err := run(ctx)
	if nc != nil {
		nc.Drain()
		for i := 0; i < 200 && !nc.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err != nil && ctx.Err() == nil {
		return fail(exitFailed, "%v", err)
	}
	log.Info().Msg("stopped")
	return nil
}

func newSignerCommand() *cobra.Command {
	var (
		sf       serviceFlags
		kf       keylessFlags
		keyPath  string
		generate bool
	)
	cmd := &cobra.Command{
		Use:   "signer (--key FILE | --keyless [--identity-token-file FILE] [--signing-config FILE]) [--nats URL]",
		Short: "Run the signer role: sign unsigned envelopes with a dev key or keylessly",
		Long: `signer consumes the unsigned envelopes runners publish (stream BENCH_UNSIGNED),
signs each and publishes it to BENCH_SIGNED. Malformed, oversized or
already-signed messages go to the dead-letter stream with the reason; a
signature that fails for a passing reason (token, Fulcio, Rekor unreachable)
is retried. Several signers share the work.

With --key it signs with an Ed25519 dev key, which never travels on the bus.

With --keyless it signs through Sigstore as the identity of its OIDC token,
obtained afresh for every envelope: from --identity-token-file (read for
every envelope, so a Kubernetes projected service-account token or a SPIFFE
JWT-SVID rotated on disk is picked up), else $SIGSTORE_ID_TOKEN, else the
GitHub Actions ambient token. A service never signs anybody in
interactively. Services: --signing-config FILE, or --fulcio-url, --rekor-url
[--rekor-version 2] and --tsa-url; by default the public-good instance.
--trusted-root checks each new bundle before it is published. Verifiers must
trust the token's identity (docs/keyless.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := sf.logger(cmd, "signer")
			if err != nil {
				return err
			}
			if err := kf.check(cmd.Flags()); err != nil {
				return fail(exitInvalid, "%v", err)
			}
			keyPath = flagOrEnv(cmd.Flags(), "key", keyPath, "BENCH_SIGNER_KEY")
			var sign signer.EnvelopeSigner
			switch {
			case kf.enabled && cmd.Flags().Changed("key"):
				return fail(exitInvalid, "give --key (dev key) or --keyless (Sigstore), not both")
			case kf.enabled:
				ks, err := signer.NewKeyless(kf.config(cmd.Flags(), false))
				if err != nil {
					return fail(exitInvalid, "--keyless: %v", err)
				}
				log.Info().Str("services", ks.String()).Msg("keyless signing")
				sign = ks
			case keyPath == "":
				return fail(exitInvalid, "--key is required: the signer's dev key (create one with 'bench keygen' or --generate-key), or sign keylessly with --keyless")
			default:
				var key []byte
				if generate {
					key, err = pipeline.LoadOrCreateKey(keyPath)
				} else {
					key, err = devkey.LoadPrivateKey(keyPath)
				}
				if err != nil {
					return fail(exitInvalid, "--key: %v", err)
				}
				log.Info().Str("key_id", devkey.KeyID(key[32:])).Msg("signing key loaded")
				sign = signer.DevKey(key)
			}
			nc, js, err := sf.connect(cmd.Context(), "signer", log)
			if err != nil {
				return err
			}
			return serve(cmd, log, nc, func(ctx context.Context) error {
				return signer.Run(ctx, signer.Config{JS: js, Signer: sign, Concurrency: sf.concurrency, Log: log})
			})
		},
	}
	sf.register(cmd.Flags(), false)
	cmd.Flags().StringVar(&keyPath, "key", "", "the dev key (PKCS#8 PEM) to sign with (env BENCH_SIGNER_KEY)")
	cmd.Flags().BoolVar(&generate, "generate-key", false, "create the key (and its .pub beside it) if the file does not exist")
	kf.register(cmd.Flags(), false, true)
	return cmd
}

func newVerifierCommand() *cobra.Command {
	var (
		sf    serviceFlags
		trust trustFlags
	)
	cmd := &cobra.Command{
		Use:   "verifier (--dev-public-key PEM | --policy FILE | --trusted-root FILE --require-issuer URL --require-identity-pattern RE) [--nats URL] [--s3-endpoint URL]",
		Short: "Run the verifier role: re-check signed envelopes and their traces",
		Long: `verifier consumes signed envelopes (stream BENCH_SIGNED) and re-derives
everything they claim: schema and hardware fingerprint hash, content hash,
signature, the signer under the trust policy, the trace object's sha256
(fetched from S3), and every summary metric recomputed from the trace. What
passes goes to BENCH_VERIFIED byte for byte; everything else to the
dead-letter stream with the reason. With no trust material nothing passes.

Keyless envelopes are verified offline against the policy's trusted root
(--trusted-root, or "trusted_root" in --policy; --tuf fetches and refreshes
one online), and their signer's issuer and identity against the policy's
keyless rules (docs/keyless.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := sf.logger(cmd, "verifier")
			if err != nil {
				return err
			}
			if trust.insecureEmbed {
				return fail(exitInvalid, "--insecure-trust-embedded-key: the verifier service never trusts the key an envelope carries; pin keys with --dev-public-key or --policy")
			}
			policy, warnings, err := trust.policy()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			for _, w := range warnings {
				log.Warn().Msg(w)
			}
			if policy.IsEmpty() {
				return fail(exitInvalid, "no trust material: pin the signer's key with --dev-public-key, give --policy, or trust a keyless signer with --trusted-root, --require-issuer and --require-identity-pattern (the verifier accepts nothing otherwise)")
			}
			if err := policy.CheckKeylessReady(); err != nil {
				return fail(exitInvalid, "%v", err)
			}
			nc, js, st, err := sf.connectWithStore(cmd.Context(), "verifier", log)
			if err != nil {
				return err
			}
			return serve(cmd, log, nc, func(ctx context.Context) error {
				return verifier.Run(ctx, verifier.Config{JS: js, Store: st, Policy: policy, Concurrency: sf.concurrency, Log: log})
			})
		},
	}
	sf.register(cmd.Flags(), true)
	trust.register(cmd.Flags())
	return cmd
}

func newIndexerCommand() *cobra.Command {
	var (
		sf          serviceFlags
		catalogPath string
		httpAddr    string
	)
	cmd := &cobra.Command{
		Use:   "indexer [--catalog PATH] [--http ADDR] [--nats URL] [--s3-endpoint URL]",
		Short: "Run the indexer role: catalog verified envelopes, publish results, serve the API",
		Long: `indexer consumes verified envelopes (stream BENCH_VERIFIED), archives each in
S3 (envelopes/<content_hash>.json), commits it to the catalog, and only then
publishes it to BENCH_RESULTS, which subscribers ('bench watch') replay from
any point. With --http it serves the results API over the catalog.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := sf.logger(cmd, "indexer")
			if err != nil {
				return err
			}
			cat, err := catalog.OpenSQLite(catalogPath)
			if err != nil {
				return fail(exitInvalid, "--catalog %s: %v", catalogPath, err)
			}
			defer cat.Close()
			// The address is taken before anything starts, so that a busy
			// port is reported at once rather than when the indexer stops.
			var ln net.Listener
			if httpAddr != "" {
				if ln, err = net.Listen("tcp", httpAddr); err != nil {
					return fail(exitInvalid, "--http: %v", err)
				}
				defer ln.Close()
			}
			nc, js, st, err := sf.connectWithStore(cmd.Context(), "indexer", log)
			if err != nil {
				return err
			}
			return serve(cmd, log, nc, func(ctx context.Context) error {
				if ln == nil {
					return indexer.Run(ctx, indexer.Config{JS: js, Store: st, Catalog: cat, Concurrency: sf.concurrency, Log: log})
				}
				// An API that stops serving stops the indexer too: a role
				// that runs but cannot be reached would look healthy.
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				apiErr := make(chan error, 1)
				go func() { apiErr <- serveAPI(ctx, ln, cat, nc, log); cancel() }()
				err := indexer.Run(ctx, indexer.Config{JS: js, Store: st, Catalog: cat, Concurrency: sf.concurrency, Log: log})
				cancel()
				if aerr := <-apiErr; aerr != nil {
					return aerr // the cause; the indexer's error is only that it was stopped
				}
				return err
			})
		},
	}
	sf.register(cmd.Flags(), true)
	cmd.Flags().StringVar(&catalogPath, "catalog", filepath.Join("bench-data", "catalog.db"), "the SQLite catalog file")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve the results API on this address (e.g. :8080)")
	return cmd
}

func newRunnerCommand() *cobra.Command {
	var (
		r  runFlags
		sf serviceFlags
		pf poolFlags
	)
	cmd := &cobra.Command{
		Use:   "runner (--endpoint URL (--rate R | --concurrency N) (--requests N | --duration D) | --pool P [--labels k=v,...]) [--nats URL] [--s3-endpoint URL] [flags]",
		Short: "Benchmark an engine into the pipeline, or serve a pool's fleet jobs",
		Long: `runner is 'bench run' as a pipeline role: it measures the engine the same way,
uploads each load point's trace to S3 (traces/sha256/<hex>.parquet, its
sha256 checked by the server), then publishes the unsigned envelope, which
points at the trace, to BENCH_UNSIGNED for the signer.

It keeps a journal in --out: a runner that is killed or restarted with the
same flags resumes, skipping the points it finished and publishing again
any envelope whose publication it did not see confirmed (message ids make
that harmless). Use a fresh --out for a new run.

With --pool it is a long-running service on a GPU host instead: it
advertises its labels (gpu_model, gpu_count, cpu_model and host from the
hardware fingerprint, plus --labels), takes the pool's jobs ('bench
submit') whose required labels it has, launches the job's engine when the
job says how (and stops it after, keeping its log in S3), runs the job's
load points, publishes the envelopes linked to the job, and records
progress in the job's record ('bench jobs'). A job whose runner dies goes
to another runner after --job-ack-wait; SIGTERM hands running jobs back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pf.pool != "" {
				if cmd.Flags().Changed("endpoint") || cmd.Flags().Changed("rate") || cmd.Flags().Changed("concurrency") {
					return fail(exitInvalid, "--pool serves queued jobs, which say what to measure; --endpoint, --rate and --concurrency describe a single run: give one or the other")
				}
				return runPool(cmd, &sf, &pf, &r)
			}
			cfg, err := r.config(cmd)
			if err != nil {
				return err
			}
			log, err := sf.logger(cmd, "runner")
			if err != nil {
				return err
			}
			nc, js, st, err := sf.connectWithStore(cmd.Context(), "runner", log)
			if err != nil {
				return err
			}
			defer nc.Close()
			cfg.PublishTo(js, st, nil)
			cfg.Resume = true
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			results, err := runner.Run(ctx, cfg)
			for _, res := range results {
				printRunSummary(cmd.OutOrStdout(), &res, false)
				fmt.Fprintf(cmd.OutOrStdout(), "published: %s\n", res.ContentHash)
			}
			if flushErr := nc.FlushTimeout(5 * time.Second); err == nil && flushErr != nil {
				err = flushErr
			}
			if errors.Is(err, runner.ErrJournalMismatch) {
				return fail(exitInvalid, "%v", err)
			}
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			if ctx.Err() != nil {
				return fail(exitFailed, "interrupted: run again with the same flags to resume")
			}
			return nil
		},
	}
	r.register(cmd.Flags(), "results")
	sf.register(cmd.Flags(), true)
	pf.register(cmd.Flags())
	return cmd
}

// roleList parses --roles.
func roleList(s string) ([]pipeline.Role, error) {
	if s == "" || s == "all" {
		return pipeline.AllRoles, nil
	}
	if s == "none" {
		return []pipeline.Role{}, nil
	}
	var roles []pipeline.Role
	for _, r := range strings.Split(s, ",") {
		switch role := pipeline.Role(strings.TrimSpace(r)); role {
		case pipeline.RoleSigner, pipeline.RoleVerifier, pipeline.RoleIndexer:
			roles = append(roles, role)
		default:
			return nil, fmt.Errorf("--roles: unknown role %q (signer, verifier, indexer, all or none)", r)
		}
	}
	return roles, nil
}

// deadLetterRecord is a dead letter as 'bench rejected --json' prints it: the
// bus message form of schemas/bus-message.v1.schema.json (stream, subject,
// headers, body), with the stream sequence. The payload is body when it is
// JSON, payload when it is other text, payload_base64 otherwise.
func deadLetterRecord(m jetstream.Msg, meta *jetstream.MsgMetadata) map[string]any {
	rec := map[string]any{"stream": bus.StreamRejected, "subject": m.Subject(), "headers": m.Headers()}
	if meta != nil {
		rec["sequence"] = meta.Sequence.Stream
	}
	switch data := m.Data(); {
	case json.Valid(data):
		rec["body"] = json.RawMessage(data)
	case utf8.Valid(data):
		rec["payload"] = string(data)
	default:
		rec["payload_base64"] = data
	}
	return rec
}

func newRejectedCommand() *cobra.Command {
	var (
		nf      natsFlags
		stage   string
		jsonOut bool
		limit   int
	)
	cmd := &cobra.Command{
		Use:   "rejected [--stage signer|verifier|indexer] [--json] [--nats URL]",
		Short: "List the dead letters: what the pipeline refused, and why",
		Long: `rejected lists the messages on the dead-letter stream (BENCH_REJECTED), oldest
first: when, which stage, the envelope's content hash (when it had one) and
the reason. With --json each is one JSON object per line in the bus message
form of schemas/bus-message.v1.schema.json: stream, subject, sequence,
headers, and the payload as body when it is JSON (whitespace compacted), as
payload when it is other text, as payload_base64 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nc, js, err := nf.connectJS()
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			cfg := jetstream.OrderedConsumerConfig{}
			if stage != "" {
				cfg.FilterSubjects = []string{bus.RejectedSubject(stage)}
			}
			stream, err := js.Stream(ctx, bus.StreamRejected)
			if err != nil {
				return fail(exitFailed, "the dead-letter stream %s: %v (is this the pipeline's NATS?)", bus.StreamRejected, err)
			}
			info, err := stream.Info(ctx)
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			if info.State.Msgs == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no dead letters")
				return nil
			}
			cons, err := stream.OrderedConsumer(ctx, cfg)
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false) // reasons and payloads are shown as they are
			n := 0
			for n < limit {
				m, err := cons.Next(jetstream.FetchMaxWait(time.Second))
				if err != nil {
					break // no more within a second: the end of the stream
				}
				meta, _ := m.Metadata()
				h := m.Headers()
				n++
				if jsonOut {
					if err := enc.Encode(deadLetterRecord(m, meta)); err != nil {
						return fail(exitFailed, "%v", err)
					}
					if meta != nil && meta.NumPending == 0 {
						break
					}
					continue
				}
				hash := h.Get(bus.HdrContentHash)
				if len(hash) > 12 {
					hash = hash[:12]
				}
				if hash == "" {
					hash = "-"
				}
				fmt.Fprintf(w, "%s  %-8s  %-12s  %s\n", h.Get(bus.HdrRejectedAt), h.Get(bus.HdrStage), hash, h.Get(bus.HdrReason))
				if meta != nil && meta.NumPending == 0 {
					break
				}
			}
			return nil
		},
	}
	nf.register(cmd.Flags())
	cmd.Flags().StringVar(&stage, "stage", "", "only this stage's dead letters (signer, verifier, indexer)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "one JSON object per dead letter, with headers and payload")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many")
	return cmd
}

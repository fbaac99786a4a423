package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/internal/api/wire"
	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/logging"
	"github.com/inferencebench/bench/internal/pipeline"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/verify"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/simengine"
)

func newDemoCommand() *cobra.Command {
	var (
		dataDir  string
		keep     bool
		requests int
		rate     float64
		timeout  time.Duration
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "demo [--data-dir DIR] [--requests N] [--rate R]",
		Short: "Run the whole pipeline once on a simulated engine and print the verified result",
		Long: `demo shows the pipeline end to end in one process, with nothing to install:

  1. starts 'bench up' in-process: embedded NATS with JetStream, embedded S3
     (versitygw), a SQLite catalog, a fresh signer key, the signer, verifier
     and indexer roles, and the results API on a free port;
  2. starts the simulated OpenAI-compatible engine (TTFT 40 ms, TPOT 8 ms);
  3. runs a short open-loop benchmark against it as a runner: the trace goes
     to S3, the unsigned envelope onto the bus;
  4. waits until the result is verified and queryable, fetches it from the
     results API byte for byte, verifies it again against the pinned key,
     and prints it.

It exits 0 once the result verified, 1 if the pipeline rejected it (with the
reason). The data directory is temporary unless --data-dir or --keep is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			log, err := logging.New(logging.Options{Level: logLevel, Out: cmd.ErrOrStderr()})
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			if dataDir == "" {
				if dataDir, err = os.MkdirTemp("", "bench-demo-"); err != nil {
					return fail(exitFailed, "%v", err)
				}
				if !keep {
					defer os.RemoveAll(dataDir)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()

			step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
			step("starting the pipeline (embedded NATS JetStream, S3, SQLite catalog; signer, verifier, indexer)")
			p, err := pipeline.Start(ctx, pipeline.Options{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", S3Listen: "127.0.0.1:0", Log: log})
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			defer p.Close()
			fmt.Fprintf(out, "    data %s\n    S3   %s\n    API  %s\n    signer key %s\n", dataDir, p.S3Config().Endpoint, p.HTTPURL(),
				devkey.KeyID(p.SignerPublicKey()))

			step("starting the simulated engine")
			engineURL, stopEngine, err := startDemoEngine(ctx)
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			defer stopEngine()
			fmt.Fprintf(out, "    %s\n", engineURL)

			// Subscribe before publishing, so neither outcome is missed.
			outcome, err := watchOutcome(ctx, p.JetStream())
			if err != nil {
				return fail(exitFailed, "%v", err)
			}

			step("benchmarking it: %d requests at %g req/s, traces to S3, envelope to the bus", requests, rate)
			cfg := runner.Config{
				Endpoint: engineURL, Stream: true, OutDir: dataDir + "/results", Seed: 42,
				Points:      []load.Spec{{Rate: rate, Requests: requests}},
				Dataset:     runner.DatasetConfig{Output: dataset.Lengths{Mean: 64}},
				SLOTemplate: "llm.standard", ModelRevision: "0000000",
				Progress: cmd.ErrOrStderr(), ProgressTTY: logging.IsTerminal(cmd.ErrOrStderr()),
			}
			cfg.Hardware.GitCommit = gitCommit
			cfg.PublishTo(p.JetStream(), p.Store(), nil)
			results, err := runner.Run(ctx, cfg)
			if err != nil {
				return fail(exitFailed, "the benchmark: %v", err)
			}
			hash := results[0].ContentHash
			fmt.Fprintf(out, "    published %s\n", hash)

			step("waiting for the signer, the verifier and the indexer")
			start := time.Now()
			var got demoOutcome
			for got.hash != hash {
				select {
				case got = <-outcome:
				case <-ctx.Done():
					return fail(exitFailed, "no result after %v: %v", timeout, ctx.Err())
				}
			}
			if got.rejected != "" {
				return fail(exitFailed, "the pipeline rejected the result (%s): %s", got.stage, got.rejected)
			}
			fmt.Fprintf(out, "    verified and cataloged in %v\n", time.Since(start).Round(time.Millisecond))

			step("fetching it from the results API and verifying it again")
			body, _, err := httpGetEnvelope(ctx, p.HTTPURL()+wire.ResultsPath+"/"+hash)
			if err != nil {
				return fail(exitFailed, "fetching %s from the results API: %v", hash, err)
			}
			env, err := envelope.Parse(body)
			if err != nil {
				return fail(exitFailed, "the API served an invalid envelope: %v", err)
			}
			pol := &verify.Policy{}
			pol.AddDevKey("the demo signer", p.SignerPublicKey())
			res, err := pol.Verify(env)
			if err != nil {
				return fail(exitFailed, "the served envelope does not verify: %v", err)
			}
			if res.ContentHash != hash {
				return fail(exitFailed, "the API served %s for %s", res.ContentHash, hash)
			}
			fmt.Fprintf(out, "    GET %s%s/%s: %d bytes, content hash matches, signature OK (%s)\n",
				p.HTTPURL(), wire.ResultsPath, hash[:12], len(body), res.TrustedBy)
			r := results[0]
			r.Envelope = env
			printRunSummary(out, &r, true)
			traces, _ := env.Distributions.Get("traces")
			fmt.Fprintf(out, "\nverified result %s\n  model %s on %s %s, traces %s\n", hash, env.Model.ID, env.Engine.Name, env.Engine.Version, traces)
			if keep {
				fmt.Fprintf(out, "  data kept in %s (run 'bench up --data-dir %s' to query it)\n", dataDir, dataDir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "", "keep the pipeline's data here (default: a temporary directory, removed)")
	f.BoolVar(&keep, "keep", false, "keep the temporary data directory")
	f.IntVar(&requests, "requests", 60, "requests in the benchmark")
	f.Float64Var(&rate, "rate", 20, "open-loop arrivals per second")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	f.StringVar(&logLevel, "log-level", "warn", "the pipeline's log level (trace, debug, info, warn, error)")
	return cmd
}

func startDemoEngine(ctx context.Context) (string, func(), error) {
	eng, err := simengine.New(simengine.Options{TTFT: 40 * time.Millisecond, TPOT: 8 * time.Millisecond, Jitter: 0.1, Seed: 1})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { eng.Serve(ctx, ln); close(done) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

// demoOutcome is what became of an envelope: cataloged (rejected empty) or
// dead-lettered by stage with a reason.
type demoOutcome struct {
	hash, stage, rejected string
}

// watchOutcome follows the results and the dead-letter streams from now on.
func watchOutcome(ctx context.Context, js jetstream.JetStream) (<-chan demoOutcome, error) {
	ch := make(chan demoOutcome, 16)
	for _, stream := range []string{bus.StreamResults, bus.StreamRejected} {
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err != nil {
			return nil, err
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			h := m.Headers()
			o := demoOutcome{hash: h.Get(bus.HdrContentHash), stage: h.Get(bus.HdrStage)}
			if stream == bus.StreamRejected {
				o.rejected = h.Get(bus.HdrReason)
			}
			select {
			case ch <- o:
			case <-ctx.Done():
			}
		})
		if err != nil {
			return nil, err
		}
		go func() { <-ctx.Done(); cc.Stop() }()
	}
	return ch, nil
}

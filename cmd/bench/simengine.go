package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/services/runner/simengine"
)

func newSimEngineCommand() *cobra.Command {
	var (
		addr                     string
		opts                     simengine.Options
		ttftMS, tpotMS, prefillU float64
		errorKinds, usage        string
	)
	cmd := &cobra.Command{
		Use:   "sim-engine --addr HOST:PORT [--ttft-ms N] [--tpot-ms N] [flags]",
		Short: "Serve a simulated OpenAI-compatible engine (for tests and demos)",
		Long: `sim-engine serves /v1/chat/completions, /v1/completions, /v1/models, /health and
/version like an inference engine, with a latency model instead of a model:

  time to first token = ttft + prefill-per-token x prompt tokens (+ batch wait)
  per output token    = tpot x (1 + decode-growth x (active streams - 1))

with at most --max-batch streams decoding at once, optional jitter, injected
errors (HTTP 500, an error payload inside the stream, a truncated stream, a
stall), usage placed as different engines place it, and optional server-side
ground-truth timestamps ("x_sim") for measuring a client's accuracy. Envelopes
measured against it say engine "simulated". It runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.TTFT = time.Duration(ttftMS * float64(time.Millisecond))
			opts.TPOT = time.Duration(tpotMS * float64(time.Millisecond))
			opts.PrefillPerToken = time.Duration(prefillU * float64(time.Microsecond))
			if errorKinds != "" {
				opts.ErrorKinds = strings.Split(errorKinds, ",")
			}
			opts.Usage = simengine.UsageMode(usage)
			eng, err := simengine.New(opts)
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fail(exitInvalid, "listening on %s: %v", addr, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "simulated engine on http://%s (ttft %v, tpot %v); Ctrl-C to stop\n", ln.Addr(), opts.TTFT, opts.TPOT)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := eng.Serve(ctx, ln); err != nil {
				return fail(exitFailed, "%v", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8000", "address to listen on")
	f.StringVar(&opts.Model, "model", "simulated-model", "model id to serve")
	f.Float64Var(&ttftMS, "ttft-ms", 50, "time to first token, before prefill, in milliseconds")
	f.Float64Var(&prefillU, "prefill-us-per-token", 0, "added to the time to first token per prompt token, in microseconds")
	f.Float64Var(&tpotMS, "tpot-ms", 10, "time per output token with one active stream, in milliseconds")
	f.Float64Var(&opts.DecodeGrowth, "decode-growth", 0, "per-token time grows by this fraction per additional active stream")
	f.IntVar(&opts.MaxBatch, "max-batch", 0, "at most this many streams decode at once; the rest queue (0: unlimited)")
	f.Float64Var(&opts.Jitter, "jitter", 0, "multiply each delay by a uniform factor in [1-j, 1+j]")
	f.Float64Var(&opts.ErrorRate, "error-rate", 0, "fraction of requests that fail")
	f.StringVar(&errorKinds, "error-kinds", "", "failures to inject: http_500,error_payload,truncate,stall (default all but stall)")
	f.IntVar(&opts.OutputTokens, "output-tokens", 128, "output length when a request gives no max_tokens")
	f.StringVar(&usage, "usage", "usage_chunk", "where streams report usage: usage_chunk, final_chunk, zeros_then_final, none")
	f.BoolVar(&opts.RoleChunk, "role-chunk", true, "start each stream with a role-only chunk, as vLLM does")
	f.BoolVar(&opts.GroundTruth, "ground-truth", false, "add server-side timestamps (x_sim) to every chunk")
	f.Uint64Var(&opts.Seed, "seed", 1, "seeds jitter and error injection")
	return cmd
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/inferencebench/bench/internal/logging"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/metrics"
	"github.com/inferencebench/bench/services/runner/openai"
)

// gitCommit is set at link time by the Makefile (-X main.gitCommit=...), for
// binaries built without VCS stamping.
var gitCommit string

// runFlags are the flags that describe a benchmark: `bench run` writes
// its envelopes to a directory, `bench runner` publishes them too.
type runFlags struct {
	cfg                      runner.Config
	rates, concurrencies     string
	arrival                  string
	burstiness               float64
	maxInFlight              int
	requests                 int
	duration                 time.Duration
	datasetSpec              string
	inputLen, outputLen      int
	inputRange, outputRange  float64
	ignoreEOS, noStream      bool
	extraBody, sloSpec, api  string
	imageDigest, gitOverride string
	quiet                    bool
}

func (r *runFlags) register(f *pflag.FlagSet, defaultOut string) {
	f.StringVar(&r.cfg.Endpoint, "endpoint", "", "the server's base URL, e.g. http://localhost:8000 (with or without /v1)")
	f.StringVar(&r.cfg.Model, "model", "", "model id to request (default: the first the server lists at /v1/models)")
	f.StringVar(&r.cfg.ModelRevision, "model-revision", "", "the model's revision, a git sha or Hugging Face revision (7-40 characters)")
	f.StringVar(&r.cfg.APIKey, "api-key", "", "bearer token for the server (default $OPENAI_API_KEY)")
	f.StringVar(&r.api, "api", "chat", "chat (/v1/chat/completions) or completions (/v1/completions)")
	f.BoolVar(&r.noStream, "no-stream", false, "send non-streaming requests (TTFT then equals end-to-end latency)")
	f.StringVar(&r.rates, "rate", "", "open loop: arrivals per second; comma-separated values sweep")
	f.StringVar(&r.concurrencies, "concurrency", "", "closed loop: concurrent streams; comma-separated values sweep")
	f.IntVar(&r.maxInFlight, "max-concurrency", 0, "open loop: cap on requests in flight (arrivals wait for a slot)")
	f.StringVar(&r.arrival, "arrival", "poisson", "open-loop arrivals: poisson, gamma or constant")
	f.Float64Var(&r.burstiness, "burstiness", 1, "gamma shape: below 1 burstier than Poisson, above 1 smoother")
	f.IntVar(&r.requests, "requests", 0, "requests per load point")
	f.DurationVar(&r.duration, "duration", 0, "length of each load point (e.g. 60s)")
	f.IntVar(&r.cfg.Warmup, "warmup", 0, "leave the first N requests of each point out of the metrics")
	f.DurationVar(&r.cfg.WarmupDuration, "warmup-duration", 0, "leave requests scheduled in the first D out of the metrics")
	f.IntVar(&r.cfg.Cooldown, "cooldown", 0, "leave the last N requests of each point out of the metrics")
	f.DurationVar(&r.cfg.CooldownDuration, "cooldown-duration", 0, "leave requests scheduled in the last D out of the metrics")
	f.Uint64Var(&r.cfg.Seed, "seed", 42, "seeds the schedule and the prompts: same seed, same run")
	f.IntVar(&r.cfg.Repeat, "repeat", 1, "run the whole sweep this many times (one envelope per point each time)")
	f.StringVar(&r.datasetSpec, "dataset", "synthetic", "synthetic (built in), random, or sharegpt:PATH")
	f.IntVar(&r.inputLen, "input-len", 256, "random dataset: mean prompt length in tokens")
	f.Float64Var(&r.inputRange, "input-len-range", 0, "random dataset: prompt lengths uniform within ±this fraction of the mean")
	f.IntVar(&r.outputLen, "output-len", 0, "max_tokens per request (default 128; ShareGPT: the recorded answer's length)")
	f.Float64Var(&r.outputRange, "output-len-range", 0, "random dataset: output lengths uniform within ±this fraction")
	f.BoolVar(&r.ignoreEOS, "ignore-eos", false, "ask the engine to generate exactly max_tokens (vLLM, SGLang: ignore_eos)")
	f.StringVar(&r.extraBody, "extra-body", "", "JSON object merged into every request body")
	f.StringVar(&r.cfg.SLOTemplate, "slo-template", "llm.standard", "SLO template: llm.standard, llm.relaxed or none (scaled to the GPU class)")
	f.StringVar(&r.sloSpec, "slo", "", "custom SLO replacing the template, e.g. 'ttft_ms<=200,tpot_ms<=50'")
	f.DurationVar(&r.cfg.Timeout, "timeout", 5*time.Minute, "per-request timeout")
	f.StringVar(&r.cfg.OutDir, "out", defaultOut, "directory for envelopes and traces")
	f.StringVar(&r.cfg.SuiteID, "suite-id", "", "suite id (default llm.inference.<dataset>)")
	f.StringVar(&r.cfg.SuiteVersion, "suite-version", "1.0.0", "suite version (semver)")
	f.StringVar(&r.cfg.Engine, "engine", "", "engine name, when the server does not say (vllm, sglang, tgi, llama.cpp, ollama)")
	f.StringVar(&r.cfg.EngineVersion, "engine-version", "", "engine version, when the server does not say")
	f.StringVar(&r.cfg.EngineImageDigest, "engine-image-digest", "", "OCI digest of the engine's container image")
	f.StringVar(&r.cfg.Quantization, "quantization", "", "the model's precision or quantization format (bf16, fp8, awq-int4, ...)")
	f.StringVar(&r.imageDigest, "image-digest", "", "OCI digest of the image this runner executes in")
	f.StringVar(&r.gitOverride, "git-commit", "", "the runner's source revision, when the binary was built without one")
	f.BoolVarP(&r.quiet, "quiet", "q", false, "no progress display")
}

// config checks the flags and returns the runner configuration they
// describe; its errors are usage errors (exit 2).
func (r *runFlags) config(cmd *cobra.Command) (runner.Config, error) {
	if r.cfg.Endpoint == "" {
		return runner.Config{}, fail(exitInvalid, "--endpoint is required (e.g. http://localhost:8000)")
	}
	if (r.rates == "") == (r.concurrencies == "") {
		return runner.Config{}, fail(exitInvalid, "give --rate (open loop) or --concurrency (closed loop), not both; cap an open loop with --max-concurrency")
	}
	if r.requests == 0 && r.duration == 0 {
		return runner.Config{}, fail(exitInvalid, "give a bound: --requests N, --duration D, or both")
	}
	points, err := loadPoints(r.rates, r.concurrencies, r.arrival, r.burstiness, r.maxInFlight, r.requests, r.duration)
	if err != nil {
		return runner.Config{}, fail(exitInvalid, "%v", err)
	}
	r.cfg.Points = points
	r.cfg.API = openai.API(r.api)
	if r.cfg.API != openai.Chat && r.cfg.API != openai.Completions {
		return runner.Config{}, fail(exitInvalid, "--api %q: want chat or completions", r.api)
	}
	r.cfg.Stream = !r.noStream
	kind, path, _ := strings.Cut(r.datasetSpec, ":")
	r.cfg.Dataset = runner.DatasetConfig{Kind: kind, Path: path,
		Input: dataset.Lengths{Mean: r.inputLen, Range: r.inputRange}, Output: dataset.Lengths{Mean: r.outputLen, Range: r.outputRange}}
	if kind == "sharegpt" && path == "" {
		return runner.Config{}, fail(exitInvalid, "--dataset sharegpt:PATH needs the path of a ShareGPT JSON file")
	}
	if r.extraBody != "" {
		if err := json.Unmarshal([]byte(r.extraBody), &r.cfg.Extra); err != nil {
			return runner.Config{}, fail(exitInvalid, "--extra-body: not a JSON object: %v", err)
		}
	}
	if r.ignoreEOS {
		if r.cfg.Extra == nil {
			r.cfg.Extra = map[string]any{}
		}
		r.cfg.Extra["ignore_eos"] = true
	}
	switch r.sloSpec {
	case "", "none":
	default:
		if r.cfg.SLO, err = metrics.ParseSLO(r.sloSpec); err != nil {
			return runner.Config{}, fail(exitInvalid, "--slo: %v", err)
		}
	}
	if r.cfg.SLOTemplate == "none" {
		r.cfg.SLOTemplate = ""
	}
	if r.cfg.APIKey == "" {
		r.cfg.APIKey = os.Getenv("OPENAI_API_KEY")
	}
	r.cfg.Hardware.ImageDigest = r.imageDigest
	r.cfg.Hardware.GitCommit = gitCommit
	if r.gitOverride != "" {
		r.cfg.Hardware.GitCommit = r.gitOverride
	}
	if !r.quiet {
		r.cfg.Progress, r.cfg.ProgressTTY = cmd.ErrOrStderr(), logging.IsTerminal(cmd.ErrOrStderr())
	}
	if r.cfg.Repeat < 1 {
		return runner.Config{}, fail(exitInvalid, "--repeat %d: want 1 or more", r.cfg.Repeat)
	}
	return r.cfg, nil
}

func newRunCommand() *cobra.Command {
	var (
		r       runFlags
		signKey string
	)
	cmd := &cobra.Command{
		Use:   "run --endpoint URL [--model M] (--rate R | --concurrency N) (--requests N | --duration D) [flags]",
		Short: "Benchmark an OpenAI-compatible engine and write envelopes with their traces",
		Long: `run measures an OpenAI-compatible inference server (vLLM, SGLang, TGI, llama.cpp,
ollama, or 'bench sim-engine') and writes, for each load point, an unsigned
envelope <out>/<content_hash[:12]>.json and the per-request Parquet trace
<out>/<sha256[:16]>.parquet that the envelope binds by hash.

Load is open loop (--rate: arrivals on a seeded Poisson, gamma or constant
schedule, whatever the server's state; --max-concurrency caps requests in
flight, and the wait shows in latency from the schedule) or closed loop
(--concurrency: N streams back to back). Comma-separated rates or
concurrencies make a sweep, one envelope per point. --warmup/--cooldown
exclude the first/last requests from the metrics.

Every metric's definition is in docs/metrics.md. With no --model the server's
/v1/models is asked. Without a GPU the envelope carries gpus: [] and a
warning; nothing unmeasured is ever invented.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := r.config(cmd)
			if err != nil {
				return err
			}
			if signKey != "" {
				if cfg.SignKey, err = devkey.LoadPrivateKey(signKey); err != nil {
					return fail(exitInvalid, "--sign-key: %v", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			results, err := runner.Run(ctx, cfg)
			for _, res := range results {
				printRunSummary(cmd.OutOrStdout(), &res, cfg.SignKey != nil)
			}
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			if ctx.Err() != nil {
				return fail(exitFailed, "interrupted: the envelopes above cover what was measured until then")
			}
			return nil
		},
	}
	r.register(cmd.Flags(), "results")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "sign each envelope with this dev key (standalone use; in the pipeline the signer signs)")
	return cmd
}

func loadPoints(rates, concurrencies, arrival string, burstiness float64, maxInFlight, requests int, duration time.Duration) ([]load.Spec, error) {
	base := load.Spec{Arrival: load.Arrival(arrival), Burstiness: burstiness, Requests: requests, Duration: duration}
	var points []load.Spec
	switch {
	case rates != "":
		for _, s := range strings.Split(rates, ",") {
			r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || r <= 0 || math.IsInf(r, 0) {
				return nil, fmt.Errorf("--rate %q: want positive numbers of requests per second", s)
			}
			p := base
			p.Rate, p.Concurrency = r, maxInFlight
			points = append(points, p)
		}
	case concurrencies != "":
		for _, s := range strings.Split(concurrencies, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || c <= 0 {
				return nil, fmt.Errorf("--concurrency %q: want positive integers", s)
			}
			p := base
			p.Concurrency = c
			points = append(points, p)
		}
	default:
		return nil, errors.New("give --rate or --concurrency")
	}
	for i := range points {
		if err := points[i].Validate(); err != nil {
			return nil, err
		}
	}
	return points, nil
}

func printRunSummary(w io.Writer, r *runner.Result, signed bool) {
	s := &r.Summary
	kind := "unsigned"
	if signed {
		kind = "signed"
	}
	fmt.Fprintf(w, "\nenvelope: %s (%s)\ntraces:   %s\n", r.EnvelopePath, kind, r.TracePath)
	fmt.Fprintf(w, "requests: %d measured, %d ok, %d failed over %s s\n", s.Requests, s.OK, s.Errors, num(s.DurationS))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tp50\tp90\tp99\tmean\t")
	row := func(name string, p metrics.Percentiles) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, num(p.P50), num(p.P90), num(p.P99), num(p.Mean))
	}
	row("ttft_ms (first chunk)", s.TTFT)
	row("ttft_token_ms", s.TTFTToken)
	row("tpot_ms", s.TPOT)
	row("itl_ms", s.ITL)
	row("e2e_ms", s.Total)
	row("ttft_from_schedule_ms", s.TTFTFromSchedule)
	row("e2e_from_schedule_ms", s.E2EFromSchedule)
	row("send_delay_ms", s.SendDelay)
	tw.Flush()
	fmt.Fprintf(w, "throughput: %s tok/s out, %s req/s; goodput at SLO %s req/s (%s); ok rate %s\n",
		num(s.ThroughputTokPerS), num(s.ReqPerSAll), num(s.GoodputAtSLO), orNone(s.Resolved), num(s.OKRate))
	if s.Energy != nil && s.Energy.EnergyMeasured {
		fmt.Fprintf(w, "energy: %s J, %s J/token, power avg %s W peak %s W\n", num(s.Energy.Joules), num(s.JoulesPerToken), num(s.Energy.AvgW), num(s.Energy.PeakW))
	}
	if n := len(r.Envelope.Warnings); n > 0 {
		fmt.Fprintf(w, "warnings (%d, also in the envelope):\n", n)
		for _, warn := range r.Envelope.Warnings {
			fmt.Fprintf(w, "  - %s\n", warn)
		}
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func orNone(s string) string {
	if s == "" {
		return "no SLO"
	}
	return s
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
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

func newRunCommand() *cobra.Command {
	var (
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
		signKey                  string
		imageDigest, gitOverride string
		quiet                    bool
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
			if cfg.Endpoint == "" {
				return fail(exitInvalid, "--endpoint is required (e.g. http://localhost:8000)")
			}
			if (rates == "") == (concurrencies == "") {
				return fail(exitInvalid, "give --rate (open loop) or --concurrency (closed loop), not both; cap an open loop with --max-concurrency")
			}
			if requests == 0 && duration == 0 {
				return fail(exitInvalid, "give a bound: --requests N, --duration D, or both")
			}
			points, err := loadPoints(rates, concurrencies, arrival, burstiness, maxInFlight, requests, duration)
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			cfg.Points = points
			cfg.API = openai.API(api)
			if cfg.API != openai.Chat && cfg.API != openai.Completions {
				return fail(exitInvalid, "--api %q: want chat or completions", api)
			}
			cfg.Stream = !noStream
			kind, path, _ := strings.Cut(datasetSpec, ":")
			cfg.Dataset = runner.DatasetConfig{Kind: kind, Path: path,
				Input: dataset.Lengths{Mean: inputLen, Range: inputRange}, Output: dataset.Lengths{Mean: outputLen, Range: outputRange}}
			if kind == "sharegpt" && path == "" {
				return fail(exitInvalid, "--dataset sharegpt:PATH needs the path of a ShareGPT JSON file")
			}
			if extraBody != "" {
				if err := json.Unmarshal([]byte(extraBody), &cfg.Extra); err != nil {
					return fail(exitInvalid, "--extra-body: not a JSON object: %v", err)
				}
			}
			if ignoreEOS {
				if cfg.Extra == nil {
					cfg.Extra = map[string]any{}
				}
				cfg.Extra["ignore_eos"] = true
			}
			switch sloSpec {
			case "", "none":
			default:
				if cfg.SLO, err = metrics.ParseSLO(sloSpec); err != nil {
					return fail(exitInvalid, "--slo: %v", err)
				}
			}
			if cfg.SLOTemplate == "none" {
				cfg.SLOTemplate = ""
			}
			if cfg.APIKey == "" {
				cfg.APIKey = os.Getenv("OPENAI_API_KEY")
			}
			if signKey != "" {
				if cfg.SignKey, err = devkey.LoadPrivateKey(signKey); err != nil {
					return fail(exitInvalid, "--sign-key: %v", err)
				}
			}
			cfg.Hardware.ImageDigest = imageDigest
			cfg.Hardware.GitCommit = gitCommit
			if gitOverride != "" {
				cfg.Hardware.GitCommit = gitOverride
			}
			if !quiet {
				cfg.Progress, cfg.ProgressTTY = cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr())
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			results, err := runner.Run(ctx, cfg)
			for _, r := range results {
				printRunSummary(cmd.OutOrStdout(), &r, cfg.SignKey != nil)
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
	f := cmd.Flags()
	f.StringVar(&cfg.Endpoint, "endpoint", "", "the server's base URL, e.g. http://localhost:8000 (with or without /v1)")
	f.StringVar(&cfg.Model, "model", "", "model id to request (default: the first the server lists at /v1/models)")
	f.StringVar(&cfg.ModelRevision, "model-revision", "", "the model's revision, a git sha or Hugging Face revision (7-40 characters)")
	f.StringVar(&cfg.APIKey, "api-key", "", "bearer token for the server (default $OPENAI_API_KEY)")
	f.StringVar(&api, "api", "chat", "chat (/v1/chat/completions) or completions (/v1/completions)")
	f.BoolVar(&noStream, "no-stream", false, "send non-streaming requests (TTFT then equals end-to-end latency)")
	f.StringVar(&rates, "rate", "", "open loop: arrivals per second; comma-separated values sweep")
	f.StringVar(&concurrencies, "concurrency", "", "closed loop: concurrent streams; comma-separated values sweep")
	f.IntVar(&maxInFlight, "max-concurrency", 0, "open loop: cap on requests in flight (arrivals wait for a slot)")
	f.StringVar(&arrival, "arrival", "poisson", "open-loop arrivals: poisson, gamma or constant")
	f.Float64Var(&burstiness, "burstiness", 1, "gamma shape: below 1 burstier than Poisson, above 1 smoother")
	f.IntVar(&requests, "requests", 0, "requests per load point")
	f.DurationVar(&duration, "duration", 0, "length of each load point (e.g. 60s)")
	f.IntVar(&cfg.Warmup, "warmup", 0, "leave the first N requests of each point out of the metrics")
	f.DurationVar(&cfg.WarmupDuration, "warmup-duration", 0, "leave requests scheduled in the first D out of the metrics")
	f.IntVar(&cfg.Cooldown, "cooldown", 0, "leave the last N requests of each point out of the metrics")
	f.DurationVar(&cfg.CooldownDuration, "cooldown-duration", 0, "leave requests scheduled in the last D out of the metrics")
	f.Uint64Var(&cfg.Seed, "seed", 42, "seeds the schedule and the prompts: same seed, same run")
	f.StringVar(&datasetSpec, "dataset", "synthetic", "synthetic (built in), random, or sharegpt:PATH")
	f.IntVar(&inputLen, "input-len", 256, "random dataset: mean prompt length in tokens")
	f.Float64Var(&inputRange, "input-len-range", 0, "random dataset: prompt lengths uniform within ±this fraction of the mean")
	f.IntVar(&outputLen, "output-len", 0, "max_tokens per request (default 128; ShareGPT: the recorded answer's length)")
	f.Float64Var(&outputRange, "output-len-range", 0, "random dataset: output lengths uniform within ±this fraction")
	f.BoolVar(&ignoreEOS, "ignore-eos", false, "ask the engine to generate exactly max_tokens (vLLM, SGLang: ignore_eos)")
	f.StringVar(&extraBody, "extra-body", "", "JSON object merged into every request body")
	f.StringVar(&cfg.SLOTemplate, "slo-template", "llm.standard", "SLO template: llm.standard, llm.relaxed or none (scaled to the GPU class)")
	f.StringVar(&sloSpec, "slo", "", "custom SLO replacing the template, e.g. 'ttft_ms<=200,tpot_ms<=50'")
	f.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "per-request timeout")
	f.StringVar(&cfg.OutDir, "out", "results", "directory for envelopes and traces")
	f.StringVar(&signKey, "sign-key", "", "sign each envelope with this dev key (standalone use)")
	f.StringVar(&cfg.SuiteID, "suite-id", "", "suite id (default llm.inference.<dataset>)")
	f.StringVar(&cfg.SuiteVersion, "suite-version", "1.0.0", "suite version (semver)")
	f.StringVar(&cfg.Engine, "engine", "", "engine name, when the server does not say (vllm, sglang, tgi, llama.cpp, ollama)")
	f.StringVar(&cfg.EngineVersion, "engine-version", "", "engine version, when the server does not say")
	f.StringVar(&cfg.EngineImageDigest, "engine-image-digest", "", "OCI digest of the engine's container image")
	f.StringVar(&cfg.Quantization, "quantization", "", "the model's precision or quantization format (bf16, fp8, awq-int4, ...)")
	f.StringVar(&imageDigest, "image-digest", "", "OCI digest of the image this runner executes in")
	f.StringVar(&gitOverride, "git-commit", "", "the runner's source revision, when the binary was built without one")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress display")
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
	fmt.Fprintf(w, "requests: %d measured, %d ok, %d failed over %.2f s\n", s.Requests, s.OK, s.Errors, s.DurationS)
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

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Package runner measures an OpenAI-compatible inference engine and writes
// what it measured as unsigned envelopes with their Parquet traces: one
// envelope and one trace per load point of a sweep.
//
// Run is the whole job: it identifies the model and the engine, collects the
// hardware fingerprint and software provenance, offers load (open or closed
// loop), records every request, summarises the measurement window, and
// writes <out>/<content_hash[:12]>.json beside <out>/<trace_sha256[:16]>.parquet.
package runner

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/services/runner/clock"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/hwinfo"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/metrics"
	"github.com/inferencebench/bench/services/runner/openai"
	"github.com/inferencebench/bench/services/runner/pacer"
	"github.com/inferencebench/bench/services/runner/trace"
)

// DatasetConfig chooses the prompts.
type DatasetConfig struct {
	// Kind is "synthetic" (built in), "random" or "sharegpt".
	Kind string
	// Path is the ShareGPT JSON file.
	Path string
	// Input and Output are the random dataset's token lengths; Output.Mean
	// is also the max_tokens of synthetic prompts and, when set, of ShareGPT
	// ones (otherwise the recorded answer's length is used).
	Input, Output dataset.Lengths
}

// Config is one benchmark: an engine, a workload and one or more load points.
type Config struct {
	Endpoint string // the server's base URL, with or without /v1
	APIKey   string
	// Model is the model id to request; "" asks the server (/v1/models).
	Model         string
	ModelRevision string // the model's revision (7 to 40 characters); "" records "unknown" with a warning
	API           openai.API
	Stream        bool
	// Extra is merged into every request body (e.g. {"ignore_eos": true}).
	Extra     map[string]any
	extraJSON json.RawMessage
	// Engine and EngineVersion override what the server says about itself.
	Engine, EngineVersion string
	EngineImageDigest     string
	Quantization          string // the quantization format (bf16, fp8, awq-int4, ...); "" for none

	// Points are the load points of a sweep: one envelope each.
	Points []load.Spec
	// Warmup and Cooldown exclude the first and last requests of each point
	// from the metrics (by count, by time, or both).
	Warmup, Cooldown                 int
	WarmupDuration, CooldownDuration time.Duration

	Dataset DatasetConfig
	Seed    uint64
	// SLOTemplate is "llm.standard", "llm.relaxed" or "" (none); SLO, when
	// set, replaces the template's predicates. Both are scaled to the
	// hardware class.
	SLOTemplate string
	SLO         []metrics.Predicate
	Timeout     time.Duration // per request; 0 = none

	SuiteID, SuiteVersion string
	OutDir                string
	// SignKey, when set, signs each envelope (dev-key) before it is written.
	SignKey ed25519.PrivateKey
	// Hardware configures the fingerprint and provenance collection.
	Hardware hwinfo.Options
	// Progress receives a one-line progress display; nil for none.
	Progress io.Writer
	// ProgressTTY redraws the line in place instead of printing a line per update.
	ProgressTTY bool

	// StoreTrace, when set, uploads each load point's trace file (whose
	// sha256 is given) and returns the URI the envelope records in
	// distributions.traces; unset, the envelope names the local file.
	StoreTrace func(ctx context.Context, path, sha256 string) (uri string, err error)
	// Publish, when set, receives each envelope once it is written to OutDir
	// (e.g. to send it to the pipeline). An error ends the run.
	Publish func(ctx context.Context, env *envelope.Envelope, contentHash string) error
	// Resume keeps a journal (journal.jsonl) in OutDir and, when one from
	// the same run is there, resumes it: finished load points are skipped
	// and envelopes whose publication was not confirmed are published
	// again. Without it every Run measures every point.
	Resume bool
	// Checkpoint, when set, keeps the run's progress instead of the journal
	// (a fleet job keeps it where any runner can take the job over).
	Checkpoint Checkpoint
	// OnPoint, when set, is told when load point i (from 0) of n starts.
	OnPoint func(i, n int)
	// EngineConfigHash, when set, is engine.config_hash (a runner that
	// launches the engine hashes its launch configuration); otherwise it
	// is derived from what the engine reports and the request settings.
	EngineConfigHash string
	// Repeat runs the whole sweep this many times (default 1), one envelope
	// per point each time: run-to-run variance, or a steady stream of
	// results.
	Repeat int
}

// finishTimeout bounds uploading and publishing a load point's results
// after its context was cancelled: an interrupted run still delivers what
// it measured, but does not hang on an unreachable store.
const finishTimeout = 2 * time.Minute

// Result is one load point's outcome.
type Result struct {
	Point        load.Spec
	Envelope     *envelope.Envelope
	ContentHash  string
	EnvelopePath string
	TracePath    string
	TraceSHA256  string
	Summary      metrics.Summary
	Records      []trace.Record
}

// Run performs the benchmark and writes one envelope and one trace per load
// point. Stopping ctx stops the load; what was measured up to then is still
// written, with the interruption recorded as a warning.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.Resume && cfg.Checkpoint == nil {
		j, err := openJournal(cfg.OutDir, &cfg)
		if err != nil {
			return nil, err
		}
		defer j.close()
		cfg.Checkpoint = j
	}
	client, err := openai.New(cfg.Endpoint, openai.Options{APIKey: cfg.APIKey, Timeout: cfg.Timeout, MaxConns: cfg.maxConns()})
	if err != nil {
		return nil, err
	}
	var warnings []string
	if cfg.Model == "" {
		models, err := client.Models(ctx)
		if err != nil {
			return nil, fmt.Errorf("no --model given and the server's model list is unavailable: %w", err)
		}
		if len(models) == 0 {
			return nil, errors.New("no --model given and the server lists no models")
		}
		cfg.Model = models[0]
		if len(models) > 1 {
			warnings = append(warnings, fmt.Sprintf("the server serves %d models; measured %s (choose with --model)", len(models), cfg.Model))
		}
	}
	info := client.Identify(ctx)
	if cfg.Engine != "" {
		info.Name = cfg.Engine
	}
	if cfg.EngineVersion != "" {
		info.Version = cfg.EngineVersion
	}
	if info.Name == "" {
		info.Name = "openai-compatible"
		warnings = append(warnings, "the engine did not identify itself (no vLLM, SGLang, TGI, llama.cpp or ollama version endpoint answered): engine.name is \"openai-compatible\"; give --engine")
	}
	if info.Version == "" {
		info.Version = "unknown"
		warnings = append(warnings, "the engine's version is unknown: give --engine-version")
	}
	if cfg.ModelRevision == "" {
		cfg.ModelRevision = "unknown"
		warnings = append(warnings, "the model revision is unknown: give --model-revision (a git sha or Hugging Face revision)")
	}
	hw, err := hwinfo.Collect(ctx, cfg.Hardware)
	if err != nil {
		return nil, fmt.Errorf("collecting the hardware fingerprint: %w", err)
	}
	warnings = append(warnings, hw.Warnings...)

	slo, class, resolved := cfg.slo(&hw.Fingerprint)
	if w := unclassifiedGPU(&hw.Fingerprint, class); w != "" {
		warnings = append(warnings, w)
	}

	var results []Result
	for i, point := range cfg.Points {
		if ctx.Err() != nil {
			break
		}
		if cp := cfg.Checkpoint; cp != nil {
			data, published, ok, err := cp.Finished(ctx, i)
			if err != nil {
				return results, fmt.Errorf("load point %d (%s): reading the checkpoint: %w", i+1, describe(point), err)
			}
			if ok {
				if err := cfg.republish(ctx, i, data, published); err != nil {
					return results, fmt.Errorf("load point %d (%s), finished before: %w", i+1, describe(point), err)
				}
				continue
			}
		}
		if cfg.OnPoint != nil {
			cfg.OnPoint(i, len(cfg.Points))
		}
		res, err := runPoint(ctx, &cfg, client, point, i, info, &hw, slo, class, resolved, warnings)
		if err != nil {
			return results, fmt.Errorf("load point %d (%s): %w", i+1, describe(point), err)
		}
		results = append(results, res)
	}
	return results, nil
}

// republish publishes again an envelope that an earlier, interrupted
// attempt wrote but whose publication it did not see confirmed.
func (cfg *Config) republish(ctx context.Context, i int, data []byte, published bool) error {
	if published || cfg.Publish == nil {
		return nil
	}
	env, err := envelope.Parse(data)
	if err != nil {
		return fmt.Errorf("the checkpointed envelope: %w", err)
	}
	if err := cfg.Publish(ctx, env, env.ContentHash()); err != nil {
		return fmt.Errorf("publishing the checkpointed envelope %s: %w", env.ContentHash(), err)
	}
	return cfg.Checkpoint.Published(ctx, i)
}

func (cfg *Config) setDefaults() error {
	if cfg.Endpoint == "" {
		return errors.New("an endpoint is required")
	}
	if len(cfg.Points) == 0 {
		return errors.New("no load point: give a rate or a concurrency")
	}
	if cfg.Repeat > 1 {
		sweep := cfg.Points
		cfg.Points = make([]load.Spec, 0, len(sweep)*cfg.Repeat)
		for range cfg.Repeat {
			cfg.Points = append(cfg.Points, sweep...)
		}
		cfg.Repeat = 1
	}
	for i := range cfg.Points {
		p := &cfg.Points[i]
		if p.Seed == 0 {
			p.Seed = cfg.Seed
		}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("load point %d: %w", i+1, err)
		}
	}
	if cfg.API == "" {
		cfg.API = openai.Chat
	}
	if len(cfg.Extra) > 0 {
		var err error
		if cfg.extraJSON, err = openai.EncodeExtra(cfg.Extra); err != nil {
			return err
		}
	}
	if cfg.Dataset.Kind == "" {
		cfg.Dataset.Kind = "synthetic"
	}
	if cfg.Dataset.Output.Mean <= 0 && cfg.Dataset.Kind != "sharegpt" {
		cfg.Dataset.Output.Mean = 128
	}
	if cfg.Dataset.Input.Mean <= 0 {
		cfg.Dataset.Input.Mean = 256
	}
	if cfg.SuiteID == "" {
		cfg.SuiteID = "llm.inference." + cfg.Dataset.Kind
	}
	if cfg.SuiteVersion == "" {
		cfg.SuiteVersion = "1.0.0"
	}
	if cfg.OutDir == "" {
		cfg.OutDir = "."
	}
	// Absolute, so that a process-wide change of directory (the embedded S3
	// server makes one) cannot move the results mid-run.
	abs, err := filepath.Abs(cfg.OutDir)
	if err != nil {
		return err
	}
	cfg.OutDir = abs
	if cfg.SLOTemplate != "" && cfg.SLO == nil {
		if _, ok := metrics.Templates[cfg.SLOTemplate]; !ok {
			return fmt.Errorf("unknown SLO template %q (llm.standard, llm.relaxed)", cfg.SLOTemplate)
		}
	}
	return os.MkdirAll(cfg.OutDir, 0o755)
}

// maxConns sizes the keep-alive pool to the load: the concurrency, or for
// open loop enough connections for two seconds of arrivals in flight.
func (cfg *Config) maxConns() int {
	n := 64
	for _, p := range cfg.Points {
		if p.Concurrency > n {
			n = p.Concurrency
		}
		if p.Rate > 0 && p.Concurrency == 0 {
			n = max(n, min(4096, int(p.Rate*2)))
		}
	}
	return n
}

// slo resolves the SLO predicates for the machine's hardware class.
func (cfg *Config) slo(hw *envelope.HardwareFingerprint) ([]metrics.Predicate, string, string) {
	base := cfg.SLO
	if base == nil {
		base = metrics.Templates[cfg.SLOTemplate]
	}
	if base == nil {
		return nil, "", ""
	}
	gpu := ""
	if len(hw.GPUs) > 0 {
		gpu = hw.GPUs[0].Model
	}
	class := metrics.Classify(gpu, hw.CPU.Model)
	scaled := metrics.Scale(base, class)
	return scaled, class.Key, metrics.FormatResolved(scaled)
}

// unclassifiedGPU returns a warning when the machine has a GPU but its SLO
// class is the CPU's: the reference's rule, kept so that envelopes compare,
// but a reader of compliance_rate should know whose thresholds it used.
func unclassifiedGPU(hw *envelope.HardwareFingerprint, class string) string {
	if class != "cpu" || len(hw.GPUs) == 0 {
		return ""
	}
	return fmt.Sprintf("the GPU %q is in none of the reference's hardware classes: the SLO thresholds are scaled as for a CPU (factor %g)",
		hw.GPUs[0].Model, metrics.Classify("", "").Factor)
}

func describe(p load.Spec) string {
	switch {
	case p.Rate > 0 && p.Concurrency > 0:
		return fmt.Sprintf("%g req/s, at most %d in flight", p.Rate, p.Concurrency)
	case p.Rate > 0:
		return fmt.Sprintf("%g req/s", p.Rate)
	default:
		return fmt.Sprintf("%d concurrent", p.Concurrency)
	}
}

func runPoint(ctx context.Context, cfg *Config, client *openai.Client, point load.Spec, idx int, info openai.EngineInfo,
	hw *hwinfo.Result, slo []metrics.Predicate, class, resolved string, baseWarnings []string) (Result, error) {
	warnings := append([]string(nil), baseWarnings...)
	runID, err := envelope.NewRunID()
	if err != nil {
		return Result{}, err
	}
	startWall := time.Now().UTC()

	// The schedule decides how many prompts are needed; a closed loop with a
	// duration bound draws from a pool and cycles.
	var arrivals []time.Duration
	n := point.Requests
	if point.OpenLoop() {
		if arrivals, err = point.Arrivals(); err != nil {
			return Result{}, err
		}
		n = len(arrivals)
	}
	if n == 0 {
		n = 4096
	}
	ds, err := cfg.prompts(n, point.Seed)
	if err != nil {
		return Result{}, err
	}
	warnings = append(warnings, ds.Warnings...)

	meter := hwinfo.NewEnergyMeter(hwinfo.MeterOptions{NVML: cfg.Hardware.NVML})
	meterErr := meter.Start(ctx)

	prog := newProgress(cfg.Progress, cfg.ProgressTTY, idx+1, len(cfg.Points), describe(point), point)
	request := func(i int) *openai.Request {
		p := ds.Prompts[i%len(ds.Prompts)]
		return &openai.Request{API: cfg.API, Model: cfg.Model, Prompt: p.Text, MaxTokens: p.OutputTokens, Stream: cfg.Stream, ExtraJSON: cfg.extraJSON}
	}
	var records []trace.Record
	if point.OpenLoop() {
		records = openLoop(ctx, client, arrivals, point.Concurrency, request, prog.done)
	} else {
		records = closedLoop(ctx, client, point, request, prog.done)
	}
	prog.finish()

	energy, stopErr := meter.Stop()
	var energyMetrics *metrics.Energy
	switch {
	case meterErr != nil:
		warnings = append(warnings, "energy and power not measured: "+meterErr.Error())
	case stopErr != nil:
		warnings = append(warnings, "energy and power not measured: "+stopErr.Error())
	case !energy.Measured:
		warnings = append(warnings, energy.Warnings...)
	default:
		warnings = append(warnings, energy.Warnings...)
		energyMetrics = &metrics.Energy{EnergyMeasured: energy.EnergyMeasured, Joules: energy.TotalJoules,
			PowerMeasured: energy.PowerMeasured, AvgW: energy.AvgPowerW, PeakW: energy.PeakPowerW}
	}
	if ctx.Err() != nil {
		warnings = append(warnings, fmt.Sprintf("the run was interrupted after %d requests", len(records)))
	}
	assignPhases(records, cfg)

	sum := metrics.Summarize(records, metrics.Options{SLO: slo, HardwareClass: class, Resolved: resolved, Energy: energyMetrics})
	if sum.Errors > 0 {
		var parts []string
		for c, k := range sum.ErrorsByClass {
			parts = append(parts, fmt.Sprintf("%s: %d", c, k))
		}
		sort.Strings(parts)
		warnings = append(warnings, fmt.Sprintf("%d of %d measured requests failed (%s)", sum.Errors, sum.Requests, strings.Join(parts, ", ")))
	}
	if sum.ChunkCountedOK > 0 {
		warnings = append(warnings, fmt.Sprintf("%d of %d successful requests were streamed without usage figures: their output tokens are counted as content chunks, which undercounts chunks of several tokens", sum.ChunkCountedOK, sum.OK))
	}
	if sum.UncountedOK > 0 {
		warnings = append(warnings, fmt.Sprintf("%d of %d successful requests came without usage figures and nothing to count instead (a non-streaming response): their output tokens are unknown, left out of output_tokens_total and the token throughput", sum.UncountedOK, sum.OK))
	}

	// The traces first: the envelope binds their hash.
	pending := filepath.Join(cfg.OutDir, "."+runID+".parquet")
	sha, err := trace.WriteFile(pending, trace.Metadata{RunID: runID}, records)
	if err != nil {
		return Result{}, fmt.Errorf("writing the trace: %w", err)
	}
	traceName := sha[:16] + ".parquet"
	tracePath := filepath.Join(cfg.OutDir, traceName)
	if err := os.Rename(pending, tracePath); err != nil {
		return Result{}, err
	}

	traceRef := traceName
	finishCtx, cancelFinish := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancelFinish()
	if cfg.StoreTrace != nil {
		uri, err := cfg.StoreTrace(finishCtx, tracePath, sha)
		if err != nil {
			return Result{}, fmt.Errorf("storing the trace %s: %w", tracePath, err)
		}
		traceRef = uri
	}

	sent := make([]string, 0, len(records))
	for i := range records {
		sent = append(sent, ds.Prompts[int(records[i].Index)%len(ds.Prompts)].Text)
	}
	env := &envelope.Envelope{
		SuiteID:      cfg.SuiteID,
		SuiteVersion: cfg.SuiteVersion,
		RunID:        runID,
		Timestamp:    startWall,
		Model: envelope.Model{
			ID: cfg.Model, Revision: cfg.ModelRevision, Provider: info.Name, EndpointHash: endpointHash(client.Base()),
		},
		Engine: envelope.Engine{
			Name: info.Name, Version: info.Version, ConfigHash: engineConfigHash(info, cfg), ImageDigest: cfg.EngineImageDigest,
		},
		HardwareFingerprint: hw.Fingerprint,
		SoftwareProvenance:  hw.Provenance,
		Dataset:             envelope.Dataset{ID: ds.ID, Hash: dataset.Hash(sent)},
		Seed:                new(big.Int).SetUint64(point.Seed),
		DriverOptions:       driverOptions(cfg, point, len(records)),
		Metrics:             sum.Metrics(),
		SLOTemplate:         cfg.sloName(),
		Warnings:            dedupe(warnings),
	}
	if cfg.Quantization != "" {
		env.Quantization = &envelope.Quantization{Format: cfg.Quantization}
	}
	env.Distributions.Set("traces", traceRef)
	env.Distributions.Set("traces_sha256", sha)
	if err := env.Validate(); err != nil {
		return Result{}, fmt.Errorf("the envelope does not validate (a bug): %w", err)
	}
	hash := env.ContentHash()
	if cfg.SignKey != nil {
		if _, err := devkey.Sign(env, cfg.SignKey); err != nil {
			return Result{}, err
		}
	}
	envPath := filepath.Join(cfg.OutDir, hash[:12]+".json")
	if err := WriteFileAtomic(envPath, env.MarshalIndent(), 0o644); err != nil {
		return Result{}, err
	}
	if cp := cfg.Checkpoint; cp != nil {
		if err := cp.Written(finishCtx, idx, env, hash, envPath); err != nil {
			return Result{}, fmt.Errorf("recording the envelope in the checkpoint: %w", err)
		}
	}
	if cfg.Publish != nil {
		if err := cfg.Publish(finishCtx, env, hash); err != nil {
			return Result{}, fmt.Errorf("publishing the envelope %s (kept at %s): %w", hash, envPath, err)
		}
		if cp := cfg.Checkpoint; cp != nil {
			if err := cp.Published(finishCtx, idx); err != nil {
				return Result{}, fmt.Errorf("recording the publication in the checkpoint: %w", err)
			}
		}
	}
	return Result{Point: point, Envelope: env, ContentHash: hash, EnvelopePath: envPath, TracePath: tracePath, TraceSHA256: sha, Summary: sum, Records: records}, nil
}

func (cfg *Config) sloName() string {
	if cfg.SLO != nil {
		return "custom"
	}
	return cfg.SLOTemplate
}

func (cfg *Config) prompts(n int, seed uint64) (dataset.Dataset, error) {
	switch cfg.Dataset.Kind {
	case "synthetic":
		return dataset.Synthetic(n, seed, cfg.Dataset.Output.Mean), nil
	case "random":
		return dataset.Random(n, seed, cfg.Dataset.Input, cfg.Dataset.Output), nil
	case "sharegpt":
		f := dataset.DefaultShareGPTFilter
		f.OutputTokens = cfg.Dataset.Output.Mean
		return dataset.ShareGPT(cfg.Dataset.Path, n, seed, f)
	}
	return dataset.Dataset{}, fmt.Errorf("unknown dataset %q (synthetic, random, sharegpt)", cfg.Dataset.Kind)
}

// openLoop sends request i at start+arrivals[i] whatever the engine's state,
// each on its own goroutine. With a cap, an arrival waits for a free slot:
// ScheduledNS stays the arrival time, so the wait shows in latency from the
// schedule.
func openLoop(ctx context.Context, client *openai.Client, arrivals []time.Duration, capInFlight int,
	request func(int) *openai.Request, done func(*trace.Record)) []trace.Record {
	records := make([]trace.Record, len(arrivals))
	var slots chan struct{}
	if capInFlight > 0 {
		slots = make(chan struct{}, capInFlight)
	}
	start := clock.Now() + int64(20*time.Millisecond) // a lead so that the first arrival is not late
	var wg sync.WaitGroup
	dispatched := make(chan int)
	// Go timers alone would make every arrival ~0.3 ms late: the dispatcher
	// finishes each wait by yielding (package pacer).
	go func() {
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		n := 0
		defer func() { dispatched <- n }()
		for i, off := range arrivals {
			due := start + int64(off)
			if !pacer.YieldUntil(ctx, timer, clock.Now, due) {
				return
			}
			if slots != nil {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			rec := &records[i]
			rec.Index, rec.ScheduledNS = int64(i), due
			req := request(i)
			n++
			wg.Go(func() {
				client.Do(ctx, req, rec)
				if slots != nil {
					<-slots
				}
				done(rec)
			})
		}
	}()
	n := <-dispatched
	wg.Wait()
	return records[:n]
}

// closedLoop keeps point.Concurrency requests in flight: each stream sends
// its next request as soon as the previous one ends, until the request
// count or the duration is reached.
func closedLoop(ctx context.Context, client *openai.Client, point load.Spec,
	request func(int) *openai.Request, done func(*trace.Record)) []trace.Record {
	var next atomic.Int64
	deadline := int64(0)
	if point.Duration > 0 {
		deadline = clock.Now() + int64(point.Duration)
	}
	var mu sync.Mutex
	var records []trace.Record
	var wg sync.WaitGroup
	for range point.Concurrency {
		wg.Go(func() {
			var mine []trace.Record
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if point.Requests > 0 && i >= int64(point.Requests) {
					break
				}
				now := clock.Now()
				if deadline > 0 && now >= deadline {
					break
				}
				rec := trace.Record{Index: i, ScheduledNS: now}
				client.Do(ctx, request(int(i)), &rec)
				done(&rec)
				mine = append(mine, rec)
			}
			mu.Lock()
			records = append(records, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Slice(records, func(a, b int) bool { return records[a].Index < records[b].Index })
	return records
}

// assignPhases marks warm-up and cool-down requests, by count and by time
// from the first and last scheduled request.
func assignPhases(records []trace.Record, cfg *Config) {
	if len(records) == 0 {
		return
	}
	first, last := records[0].ScheduledNS, records[0].ScheduledNS
	for i := range records {
		first, last = min(first, records[i].ScheduledNS), max(last, records[i].ScheduledNS)
	}
	n := len(records)
	for i := range records {
		r := &records[i]
		switch {
		case i < cfg.Warmup || (cfg.WarmupDuration > 0 && r.ScheduledNS < first+int64(cfg.WarmupDuration)):
			r.Phase = trace.PhaseWarmup
		case i >= n-cfg.Cooldown || (cfg.CooldownDuration > 0 && r.ScheduledNS > last-int64(cfg.CooldownDuration)):
			r.Phase = trace.PhaseCooldown
		default:
			r.Phase = trace.PhaseMeasure
		}
	}
}

// endpointHash binds the envelope to the endpoint without publishing its
// address: sha256 of the base URL without credentials, query or fragment.
func endpointHash(base string) string {
	u, err := url.Parse(base)
	if err == nil {
		u.User, u.RawQuery, u.Fragment = nil, "", ""
		base = u.String()
	}
	sum := sha256.Sum256([]byte(base))
	return hex.EncodeToString(sum[:])
}

// engineConfigHash is the sha256 of the canonical JSON of what is known of
// the engine's configuration: its name and version, what its info endpoint
// returned, and the extra request parameters every request carried.
func engineConfigHash(info openai.EngineInfo, cfg *Config) string {
	if cfg.EngineConfigHash != "" {
		return cfg.EngineConfigHash
	}
	members := []canonjson.Member{
		{Key: "name", Value: canonjson.StringValue(info.Name)},
		{Key: "version", Value: canonjson.StringValue(info.Version)},
	}
	if len(info.Raw) > 0 {
		if v, err := canonjson.Parse(info.Raw); err == nil {
			members = append(members, canonjson.Member{Key: "server_info", Value: v})
		}
	}
	if len(cfg.Extra) > 0 {
		if v, err := toValue(cfg.Extra); err == nil {
			members = append(members, canonjson.Member{Key: "request_extra", Value: v})
		}
	}
	sum := sha256.Sum256(canonjson.Canonical(canonjson.ObjectValue(members)))
	return hex.EncodeToString(sum[:])
}

// driverOptions records how the load was driven, so that the run can be
// repeated and compared.
func driverOptions(cfg *Config, p load.Spec, sent int) canonjson.Value {
	opts := map[string]any{
		"mode":          map[bool]string{true: "open_loop", false: "closed_loop"}[p.OpenLoop()],
		"api":           string(cfg.API),
		"stream":        cfg.Stream,
		"requests_sent": sent,
		"dataset":       cfg.Dataset.Kind,
		"client":        clientVersion(),
	}
	if p.OpenLoop() {
		opts["rate_per_s"] = p.Rate
		opts["arrival"] = string(p.ArrivalOrDefault())
		if p.Arrival == load.Gamma {
			opts["burstiness"] = p.Burstiness
		}
		if p.Concurrency > 0 {
			opts["max_in_flight"] = p.Concurrency
		}
	} else {
		opts["concurrency"] = p.Concurrency
	}
	if p.Requests > 0 {
		opts["requests"] = p.Requests
	}
	if p.Duration > 0 {
		opts["duration_s"] = p.Duration.Seconds()
	}
	if cfg.Warmup > 0 {
		opts["warmup_requests"] = cfg.Warmup
	}
	if cfg.WarmupDuration > 0 {
		opts["warmup_s"] = cfg.WarmupDuration.Seconds()
	}
	if cfg.Cooldown > 0 {
		opts["cooldown_requests"] = cfg.Cooldown
	}
	if cfg.CooldownDuration > 0 {
		opts["cooldown_s"] = cfg.CooldownDuration.Seconds()
	}
	if cfg.Timeout > 0 {
		opts["request_timeout_s"] = cfg.Timeout.Seconds()
	}
	if cfg.Dataset.Kind == "random" {
		opts["input_tokens_mean"], opts["input_tokens_range"] = cfg.Dataset.Input.Mean, cfg.Dataset.Input.Range
	}
	if cfg.Dataset.Output.Mean > 0 {
		opts["output_tokens_mean"], opts["output_tokens_range"] = cfg.Dataset.Output.Mean, cfg.Dataset.Output.Range
	}
	if len(cfg.Extra) > 0 {
		opts["request_extra"] = cfg.Extra
	}
	v, err := toValue(opts)
	if err != nil {
		panic("runner: driver options: " + err.Error())
	}
	return v
}

// toValue converts plain Go values (maps, slices, strings, numbers, bools)
// to a canonjson.Value.
func toValue(x any) (canonjson.Value, error) {
	switch v := x.(type) {
	case nil:
		return canonjson.NullValue(), nil
	case string:
		return canonjson.StringValue(v), nil
	case bool:
		return canonjson.BoolValue(v), nil
	case int:
		return canonjson.IntValue(int64(v)), nil
	case int64:
		return canonjson.IntValue(v), nil
	case float64:
		return canonjson.FloatValue(v), nil
	case []any:
		elems := make([]canonjson.Value, len(v))
		for i := range v {
			e, err := toValue(v[i])
			if err != nil {
				return canonjson.Value{}, err
			}
			elems[i] = e
		}
		return canonjson.ArrayValue(elems), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		members := make([]canonjson.Member, 0, len(v))
		for _, k := range keys {
			e, err := toValue(v[k])
			if err != nil {
				return canonjson.Value{}, err
			}
			members = append(members, canonjson.Member{Key: k, Value: e})
		}
		return canonjson.ObjectValue(members), nil
	}
	return canonjson.Value{}, fmt.Errorf("unsupported value %T", x)
}

func clientVersion() string {
	v := "inferencebench-go"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v += "/" + bi.Main.Version
	}
	return v
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// WriteFileAtomic replaces path with data so that readers see the old file
// or the new one, never a mix: a crash mid-write leaves the original intact.
// The bench command writes its files with it too.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

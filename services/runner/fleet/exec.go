package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope/canonjson"
	"github.com/inferencebench/bench/services/runner"
	"github.com/inferencebench/bench/services/runner/dataset"
	"github.com/inferencebench/bench/services/runner/hwinfo"
	"github.com/inferencebench/bench/services/runner/load"
	"github.com/inferencebench/bench/services/runner/metrics"
	"github.com/inferencebench/bench/services/runner/openai"
)

// EngineLogPrefix is where the logs of engines runners launch are kept
// (content-addressed, like traces).
const EngineLogPrefix = "engine-logs"

// RunnerExecutor runs jobs with the benchmark runner: it launches the
// job's engine when the job says how, measures every load point, uploads
// the traces and publishes the envelopes into the pipeline (linked to the
// job), then stops the engine and keeps its log in the object store.
type RunnerExecutor struct {
	JS      jetstream.JetStream
	Objects *objstore.Store
	// WorkDir holds each attempt's envelopes, traces and engine log.
	WorkDir  string
	Hardware hwinfo.Options
	Log      zerolog.Logger
}

// Execute implements Executor.
func (x *RunnerExecutor) Execute(ctx context.Context, job *Job, run *Run) error {
	spec := &job.Spec
	run.Objects = x.Objects
	dir := filepath.Join(x.WorkDir, job.ID, fmt.Sprintf("attempt-%d", len(run.Status().Attempts)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	endpoint, configHash := spec.Engine.Endpoint, ""
	var eng *Engine
	if spec.Engine.Launch != "" {
		ready, _ := time.ParseDuration(spec.Engine.ReadyTimeout)
		logPath := filepath.Join(dir, "engine.log")
		var err error
		eng, err = StartEngine(ctx, EngineLaunch{Command: spec.Engine.Launch, Model: spec.Model.ID, Rev: spec.Model.Revision,
			Env: spec.Engine.Env, ReadyTimeout: ready, LogPath: logPath})
		defer x.keepLog(run, logPath)
		if err != nil {
			return fmt.Errorf("starting the engine: %w", err)
		}
		defer eng.Stop(0)
		endpoint, configHash = eng.URL, LaunchConfigHash(&spec.Engine)
		x.Log.Info().Str("job", job.ID).Str("url", eng.URL).Msg("engine ready")
	}
	if endpoint == "" {
		return errNoEngine
	}
	cfg, err := spec.RunnerConfig(endpoint)
	if err != nil {
		return err
	}
	cfg.OutDir, cfg.Hardware, cfg.EngineConfigHash = dir, x.Hardware, configHash
	cfg.PublishTo(x.JS, x.Objects, run.Header())
	cfg.Checkpoint = run
	cfg.OnPoint = func(i, n int) { run.Progress(ctx, i+1, n) }
	if _, err := runner.Run(ctx, cfg); err != nil {
		return err
	}
	if eng != nil && eng.Exited() {
		return fmt.Errorf("the engine exited during the run; its log ends:\n%s", tail(eng.LogPath, 20))
	}
	return ctx.Err()
}

// keepLog uploads an engine's log and records its URI in the job.
func (x *RunnerExecutor) keepLog(run *Run, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	key, _, err := x.Objects.PutContent(ctx, EngineLogPrefix, data, "text/plain")
	if err != nil {
		x.Log.Warn().Err(err).Msg("keeping the engine log")
		return
	}
	run.AddEngineLog(ctx, x.Objects.URI(key))
}

// LaunchConfigHash is engine.config_hash for an engine a runner launches:
// the sha256 of the canonical JSON of its launch configuration (command,
// environment, name, version, quantization).
func LaunchConfigHash(e *EngineSpec) string {
	env := make([]canonjson.Member, 0, len(e.Env))
	for k, v := range e.Env {
		env = append(env, canonjson.Member{Key: k, Value: canonjson.StringValue(v)})
	}
	v := canonjson.ObjectValue([]canonjson.Member{
		{Key: "launch", Value: canonjson.StringValue(e.Launch)},
		{Key: "env", Value: canonjson.ObjectValue(env)},
		{Key: "name", Value: canonjson.StringValue(e.Name)},
		{Key: "version", Value: canonjson.StringValue(e.Version)},
		{Key: "quantization", Value: canonjson.StringValue(e.Quantization)},
	})
	sum := sha256.Sum256(canonjson.Canonical(v))
	return hex.EncodeToString(sum[:])
}

// RunnerConfig is the benchmark the spec describes, against endpoint.
func (s *Spec) RunnerConfig(endpoint string) (runner.Config, error) {
	cfg := runner.Config{
		Endpoint: endpoint, Model: s.Model.ID, ModelRevision: s.Model.Revision,
		API: openai.API(s.API), Stream: !s.NoStream, Extra: s.Extra,
		Engine: s.Engine.Name, EngineVersion: s.Engine.Version, Quantization: s.Engine.Quantization,
		Warmup: s.Warmup, Cooldown: s.Cooldown, Seed: s.Seed,
		SLOTemplate: s.SLOTemplate, SuiteID: s.SuiteID, SuiteVersion: s.SuiteVersion,
	}
	if cfg.API == "" {
		cfg.API = openai.Chat
	}
	if cfg.SLOTemplate == "none" {
		cfg.SLOTemplate = ""
	}
	if s.SLO != "" {
		slo, err := metrics.ParseSLO(s.SLO)
		if err != nil {
			return cfg, fmt.Errorf("slo: %w", err)
		}
		cfg.SLO = slo
	}
	if s.Timeout != "" {
		d, err := time.ParseDuration(s.Timeout)
		if err != nil {
			return cfg, fmt.Errorf("timeout %q: %w", s.Timeout, err)
		}
		cfg.Timeout = d
	}
	if s.Dataset.IgnoreEOS {
		extra := map[string]any{"ignore_eos": true}
		for k, v := range s.Extra {
			extra[k] = v
		}
		cfg.Extra = extra
	}
	kind, path, _ := strings.Cut(s.Dataset.Spec, ":")
	cfg.Dataset = runner.DatasetConfig{Kind: kind, Path: path,
		Input:  dataset.Lengths{Mean: s.Dataset.InputLen, Range: s.Dataset.InputRange},
		Output: dataset.Lengths{Mean: s.Dataset.OutputLen, Range: s.Dataset.OutputRange}}
	for _, p := range s.Points {
		var d time.Duration
		if p.Duration != "" {
			var err error
			if d, err = time.ParseDuration(p.Duration); err != nil {
				return cfg, fmt.Errorf("duration %q: %w", p.Duration, err)
			}
		}
		cfg.Points = append(cfg.Points, load.Spec{Rate: p.Rate, Concurrency: p.Concurrency, Arrival: load.Arrival(p.Arrival),
			Burstiness: p.Burstiness, Requests: p.Requests, Duration: d, Seed: s.Seed})
	}
	return cfg, nil
}

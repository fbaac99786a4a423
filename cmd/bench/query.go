package main

// The query verbs: what a person runs against a running pipeline.
//
//	bench results   list cataloged results through the HTTP API
//	bench watch     follow the results stream on NATS as results arrive
//	bench fetch     download one envelope (file, http(s), s3, catalog) and verify it
//
// natsFlags and s3Flags are the connection flags the pipeline role commands
// share with these verbs, so that every command spells and documents them
// the same way.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/inferencebench/bench/internal/api/wire"
	"github.com/inferencebench/bench/internal/bus"
	"github.com/inferencebench/bench/internal/catalog"
	"github.com/inferencebench/bench/internal/objstore"
	"github.com/inferencebench/bench/pkg/envelope"
	"github.com/inferencebench/bench/pkg/envelope/devkey"
	"github.com/inferencebench/bench/pkg/envelope/verify"
)

// Where a local `bench up` listens, and the environment variables that
// point every command of a shell session somewhere else. A flag given on
// the command line wins over its variable, which wins over the default.
const (
	defaultAPIURL  = "http://127.0.0.1:8080"
	defaultNATSURL = nats.DefaultURL // nats://127.0.0.1:4222

	envAPI         = "BENCH_API"
	envNATS        = "BENCH_NATS"
	envNATSCreds   = "BENCH_NATS_CREDS"
	envNATSTLSCA   = "BENCH_NATS_TLS_CA"
	envNATSTLSCert = "BENCH_NATS_TLS_CERT"
	envNATSTLSKey  = "BENCH_NATS_TLS_KEY"
	envS3Endpoint  = "BENCH_S3_ENDPOINT"
	envS3AccessKey = "BENCH_S3_ACCESS_KEY"
	envS3SecretKey = "BENCH_S3_SECRET_KEY"
	envS3Region    = "BENCH_S3_REGION"
	envS3TLS       = "BENCH_S3_TLS"
)

// Metrics shown by `bench results` and `bench watch`, in this order: the
// ones people compare runs by.
var shownMetrics = []string{"ttft_p50_ms", "tpot_p50_ms", "throughput_tok_per_s", "goodput_at_slo"}

// flagOrEnv returns the flag's value when it was given, else the
// environment variable's when set, else the flag's default. Defaults from
// the environment are resolved here rather than baked into the flag
// defaults, so that --help never prints a secret taken from the
// environment.
func flagOrEnv(fs *pflag.FlagSet, name, value, env string) string {
	if fs != nil && fs.Changed(name) {
		return value
	}
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return v
	}
	return value
}

// ---------------------------------------------------------------------------
// The HTTP API's address (results, fetch bench:<hash>)

// apiURLFlag is the --api flag: the base URL of the results API.
type apiURLFlag struct {
	url string
	fs  *pflag.FlagSet
}

func (a *apiURLFlag) register(fs *pflag.FlagSet) {
	a.fs = fs
	fs.StringVar(&a.url, "api", defaultAPIURL, "base URL of the results API, as served by 'bench up' (env "+envAPI+")")
}

// base returns the API's base URL without a trailing slash, checked, so
// that a typo fails as a usage error rather than as an unreachable server.
func (a *apiURLFlag) base() (string, error) {
	raw := strings.TrimRight(flagOrEnv(a.fs, "api", a.url, envAPI), "/")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("--api %q: want an http:// or https:// base URL such as %s", raw, defaultAPIURL)
	}
	return raw, nil
}

// apiError reads a non-200 answer of the API: its JSON error message when
// it has one (every error of internal/api does), else the status line.
func apiError(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e wire.ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := strings.TrimSpace(string(body)); s != "" && len(s) < 200 {
		return resp.Status + ": " + s
	}
	return resp.Status
}

// unreachableAPI is the error of a results API that did not answer.
func unreachableAPI(base string, err error) error {
	return fail(exitFailed, "cannot reach the results API at %s: %v\n"+
		"  start the pipeline with 'bench up', or point --api (or $%s) at a running API", base, err, envAPI)
}

// ---------------------------------------------------------------------------
// Times given on the command line

// parseWhen reads a --since/--until value: an RFC 3339 time, or an age
// ("90m", "24h", "7d") meaning that long before now, because "the last day"
// is what people usually mean and typing today's date in RFC 3339 is
// tedious.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	var age time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || n > 100*365 {
			return time.Time{}, fmt.Errorf("--%s %q: not a number of days", flag, v)
		}
		age = time.Duration(n * 24 * float64(time.Hour))
	} else {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-03-14T15:09:26Z) or an age such as 90m, 24h or 7d", flag, v)
		}
		age = d
	}
	return now.Add(-age), nil
}

// ---------------------------------------------------------------------------
// bench results

func newResultsCommand() *cobra.Command {
	var (
		apiFlag                                            apiURLFlag
		model, engine, suite, gpu, dataset, job, batch, hh string
		since, until, order                                string
		limit, offset                                      int
		jsonOut                                            bool
		timeout                                            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "results [--model M] [--engine E] [--suite S] [--gpu G] [--since T] [--until T] [--order ORDER] [--limit N] [--json]",
		Short: "List verified results from the catalog",
		Long: `results lists the results the pipeline has verified and cataloged, newest
first, by asking the HTTP API of a running pipeline ('bench up' serves it on
` + defaultAPIURL + `; --api or $` + envAPI + ` points elsewhere).

Filters are exact matches (--model, --engine, --suite, --gpu, --dataset, --job,
--batch) or a content hash prefix (--hash). --since is inclusive and --until
exclusive; both take an RFC 3339 time (2026-03-14T15:09:26Z) or an age such as
90m, 24h or 7d. --order is one of
  timestamp        the run's time, newest first (the default)
  verified_at      when the verifier accepted it, newest first
  metric:NAME      a metric's value, largest first (results without it come last)
with a leading + for ascending order: --order +metric:ttft_p50_ms lists the
fastest time to first token first.

The table shows one row per result: the content hash (first 12 digits; give
it to 'bench fetch bench:HASH' to download and re-verify the envelope), the
run's time (UTC), model, engine, GPUs, ttft_p50_ms, tpot_p50_ms,
throughput_tok_per_s, goodput_at_slo ("-" when the run did not report it) and
the signer (dev key id or keyless identity). --json prints the API's answer
instead: {"results": [...], "count": total, "limit": N, "offset": N}.

Exit status: 0 listed (also when nothing matched); 1 the API could not be
reached or failed; 2 bad flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := apiFlag.base()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			if limit < 1 || limit > 10000 {
				return fail(exitInvalid, "--limit %d: want 1 to 10000", limit)
			}
			if offset < 0 {
				return fail(exitInvalid, "--offset %d: must not be negative", offset)
			}
			q := url.Values{}
			for name, v := range map[string]string{"model": model, "engine": engine, "suite": suite, "gpu": gpu,
				"dataset": dataset, "job": job, "batch": batch, "hash": hh, "order": order} {
				if v != "" {
					q.Set(name, v)
				}
			}
			now := time.Now()
			for _, w := range []struct{ flag, value string }{{"since", since}, {"until", until}} {
				if w.value == "" {
					continue
				}
				t, err := parseWhen(w.flag, w.value, now)
				if err != nil {
					return fail(exitInvalid, "%v", err)
				}
				q.Set(w.flag, t.UTC().Format(time.RFC3339Nano))
			}
			q.Set("limit", strconv.Itoa(limit))
			q.Set("offset", strconv.Itoa(offset))

			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// Encode escapes '+' in --order as %2B, so ascending order
			// survives the query string.
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.ResultsPath+"?"+q.Encode(), nil)
			if err != nil {
				return fail(exitInvalid, "--api: %v", err)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := (&http.Client{Transport: queryHTTPTransport}).Do(req)
			if err != nil {
				return unreachableAPI(base, err)
			}
			defer resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusBadRequest:
				return fail(exitInvalid, "the results API refused the query: %s", apiError(resp))
			case resp.StatusCode != http.StatusOK:
				return fail(exitFailed, "the results API at %s failed: %s", base, apiError(resp))
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return fail(exitFailed, "reading the answer of the results API at %s: %v", base, err)
			}
			var lr wire.ListResponse
			if err := json.Unmarshal(body, &lr); err != nil {
				return fail(exitFailed, "the answer of %s is not a results listing (is --api the results API?): %v", base, err)
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				var buf bytes.Buffer
				if err := json.Indent(&buf, body, "", "  "); err != nil {
					return fail(exitFailed, "formatting the answer: %v", err)
				}
				buf.WriteByte('\n')
				_, err := out.Write(buf.Bytes())
				return err
			}
			if len(lr.Results) == 0 {
				if lr.Count > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "no results at offset %d (%d match in all)\n", offset, lr.Count)
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), "no results match")
				}
				return nil
			}
			printResultsTable(out, lr.Results)
			if shown := lr.Offset + len(lr.Results); shown < lr.Count {
				fmt.Fprintf(cmd.ErrOrStderr(), "showing %d-%d of %d; the next page: --offset %d\n", lr.Offset+1, shown, lr.Count, shown)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	apiFlag.register(fs)
	fs.StringVar(&model, "model", "", "only this model id (exact)")
	fs.StringVar(&engine, "engine", "", "only this engine name (exact), e.g. vllm")
	fs.StringVar(&suite, "suite", "", "only this suite id (exact)")
	fs.StringVar(&gpu, "gpu", "", `only this GPU model (exact), e.g. "NVIDIA H100 80GB HBM3"`)
	fs.StringVar(&dataset, "dataset", "", "only this dataset id (exact)")
	fs.StringVar(&job, "job", "", "only results of this fleet job")
	fs.StringVar(&batch, "batch", "", "only results of this fleet batch")
	fs.StringVar(&hh, "hash", "", "only results whose content hash starts with this")
	fs.StringVar(&since, "since", "", "only runs at or after this time: RFC 3339, or an age such as 24h or 7d")
	fs.StringVar(&until, "until", "", "only runs before this time: RFC 3339, or an age such as 24h or 7d")
	fs.StringVar(&order, "order", "", "timestamp (default), verified_at or metric:NAME; prefix + for ascending")
	fs.IntVar(&limit, "limit", 100, "at most this many results (1 to 10000)")
	fs.IntVar(&offset, "offset", 0, "skip this many results first (paging)")
	fs.BoolVar(&jsonOut, "json", false, "print the API's JSON answer instead of a table")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "give up on the API after this long")
	return cmd
}

// printResultsTable prints the results as an aligned table.
func printResultsTable(w io.Writer, results []wire.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HASH\tTIME\tMODEL\tENGINE\tGPU\tTTFT_P50_MS\tTPOT_P50_MS\tTHROUGHPUT_TOK_PER_S\tGOODPUT_AT_SLO\tSIGNER")
	for _, r := range results {
		cols := []string{
			r.ContentHash[:min(12, len(r.ContentHash))],
			r.Timestamp.UTC().Format(time.RFC3339),
			clip(r.ModelID, 40),
			clip(strings.TrimSpace(r.EngineName+" "+r.EngineVersion), 30),
			gpuLabel(r.GPUCount, r.GPUModel),
		}
		for _, m := range shownMetrics {
			cols = append(cols, metricCell(r.Metrics, m))
		}
		cols = append(cols, clip(signerLabel(r.SignatureMethod, r.SignerKeyID, r.SignerIdentity), 60))
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
}

func gpuLabel(count int, model string) string {
	switch {
	case count == 0 && model == "":
		return "-"
	case count <= 1:
		return clip(model, 44)
	default:
		return fmt.Sprintf("%dx %s", count, clip(model, 44))
	}
}

func metricCell(m map[string]float64, name string) string {
	v, ok := m[name]
	if !ok {
		v = math.NaN() // num prints "-"
	}
	return num(v)
}

// signerLabel names who signed: the keyless identity when there is one,
// else the dev key id.
func signerLabel(method, keyID, identity string) string {
	switch {
	case identity != "":
		return identity
	case keyID != "":
		return "key " + keyID
	case method != "":
		return method
	default:
		return "-"
	}
}

// ---------------------------------------------------------------------------
// NATS connection flags

// natsFlags are the flags that say how to reach NATS: the server URL and,
// for a secured cluster, credentials and TLS material. Every command that
// talks to the bus (watch, and the pipeline roles) registers the same set.
type natsFlags struct {
	url, creds, tlsCA, tlsCert, tlsKey string
	fs                                 *pflag.FlagSet
}

func (n *natsFlags) register(fs *pflag.FlagSet) {
	n.fs = fs
	fs.StringVar(&n.url, "nats", defaultNATSURL, "NATS server URL; several, comma-separated, for a cluster (env "+envNATS+")")
	fs.StringVar(&n.creds, "nats-creds", "", "NATS credentials file (JWT and NKey seed, as 'nsc' writes it) (env "+envNATSCreds+")")
	fs.StringVar(&n.tlsCA, "nats-tls-ca", "", "PEM file of the CA that signed the NATS server's certificate (env "+envNATSTLSCA+")")
	fs.StringVar(&n.tlsCert, "nats-tls-cert", "", "PEM client certificate, for servers that require TLS client authentication (env "+envNATSTLSCert+"; needs --nats-tls-key)")
	fs.StringVar(&n.tlsKey, "nats-tls-key", "", "PEM private key of --nats-tls-cert (env "+envNATSTLSKey+")")
}

// serverURL is the URL connect dials, with any user or token in it hidden,
// for messages.
func (n *natsFlags) serverURL() string {
	return redactURLs(flagOrEnv(n.fs, "nats", n.url, envNATS))
}

// connect dials NATS with the flags' settings and then extra (handlers,
// reconnect policy: what suits the calling command; a pipeline role passes
// bus.ServiceOptions(name, log), whose name replaces "bench"). It fails at once,
// without retrying, when no server answers, so that a wrong URL is reported
// rather than waited on. Errors caused by the flags themselves are
// *natsFlagError.
func (n *natsFlags) connect(extra ...nats.Option) (*nats.Conn, error) {
	serverURL := flagOrEnv(n.fs, "nats", n.url, envNATS)
	creds := flagOrEnv(n.fs, "nats-creds", n.creds, envNATSCreds)
	ca := flagOrEnv(n.fs, "nats-tls-ca", n.tlsCA, envNATSTLSCA)
	cert := flagOrEnv(n.fs, "nats-tls-cert", n.tlsCert, envNATSTLSCert)
	key := flagOrEnv(n.fs, "nats-tls-key", n.tlsKey, envNATSTLSKey)

	opts := []nats.Option{nats.Name("bench")}
	// The files are checked here so that a typo in a path is named as
	// such, not reported as a failed TLS handshake or authorisation.
	for _, f := range []struct{ flag, path string }{
		{"--nats-creds", creds}, {"--nats-tls-ca", ca}, {"--nats-tls-cert", cert}, {"--nats-tls-key", key},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, &natsFlagError{fmt.Errorf("%s: %w", f.flag, err)}
		}
	}
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	if ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	switch {
	case cert != "" && key != "":
		opts = append(opts, nats.ClientCert(cert, key))
	case cert != "" || key != "":
		return nil, &natsFlagError{errors.New("--nats-tls-cert and --nats-tls-key go together: give both or neither")}
	}
	nc, err := nats.Connect(serverURL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(serverURL), err)
	}
	return nc, nil
}

// connectJS is connect followed by jetstream.New, its errors already mapped
// to exit codes: a fault in the flags is a usage error (exit 2), a server
// that does not answer a failure (exit 1) with a hint where to look. Every
// command that talks to the bus connects through it.
func (n *natsFlags) connectJS(extra ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := n.connect(extra...)
	if err != nil {
		var fe *natsFlagError
		if errors.As(err, &fe) {
			return nil, nil, fail(exitInvalid, "%v", err)
		}
		return nil, nil, fail(exitFailed, "%v\n  is NATS with JetStream running there? 'bench up' starts one; --nats (or $%s) points elsewhere", err, envNATS)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fail(exitFailed, "JetStream on %s: %v", n.serverURL(), err)
	}
	return nc, js, nil
}

// natsFlagError is a connect error caused by the flags themselves (a
// missing file, a certificate without its key), not by the server: commands
// report it as a usage error (exit 2) rather than as an unreachable bus.
type natsFlagError struct{ err error }

func (e *natsFlagError) Error() string { return e.err.Error() }
func (e *natsFlagError) Unwrap() error { return e.err }

// redactURLs hides the user part (a user and password, or a token) of each
// comma-separated URL, so that messages can name the server safely.
func redactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.User == nil {
			continue
		}
		u.User = url.User("REDACTED")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// ---------------------------------------------------------------------------
// bench watch

func newWatchCommand() *cobra.Command {
	var (
		nf                          natsFlags
		suite, model, engine, since string
		all, jsonOut                bool
	)
	cmd := &cobra.Command{
		Use:   "watch [--nats URL] [--suite S] [--model M] [--engine E] [--since T | --all] [--json]",
		Short: "Follow verified results as the pipeline publishes them",
		Long: `watch subscribes to the pipeline's results stream (` + bus.StreamResults + ` on NATS,
subjects ` + bus.SubjectResults + `.<suite>.<content_hash>) and prints one line per
result until interrupted (Ctrl-C or SIGTERM end it with status 0):

  TIME  HASH  SUITE  MODEL  ENGINE  GPU  metric=value...  signer=...

TIME is the run's (UTC), HASH the content hash's first 12 digits. --json
prints each envelope as one line of JSON instead (the published envelope with
its white space removed, which does not change its content hash), for piping
into jq or a program.

By default only results published from now on are shown; --since T replays
those published at or after T (an RFC 3339 time or an age such as 24h or 7d;
this is when the pipeline published them, not when they ran), --all replays
the whole stream first. The stream is read with an ordered consumer, which
the server forgets when watch ends: watching leaves nothing behind.

--suite filters on the server (by subject); --model and --engine are exact
matches checked here. The stream carries only envelopes the pipeline's
verifier accepted; to re-check one under your own trust policy, run
'bench fetch bench:HASH --dev-public-key KEY.pub'.

The server is nats://127.0.0.1:4222 (a local 'bench up'), or --nats /
$` + envNATS + `; --nats-creds, --nats-tls-ca and --nats-tls-cert/--nats-tls-key
reach a secured cluster. A lost connection is re-established (and reported on
standard error) without losing or repeating results.

Exit status: 0 interrupted; 1 NATS could not be reached or the results stream
does not exist; 2 bad flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
			from := "new results"
			switch {
			case all && since != "":
				return fail(exitInvalid, "--since and --all contradict each other: give one")
			case all:
				cfg.DeliverPolicy, from = jetstream.DeliverAllPolicy, "the whole stream"
			case since != "":
				t, err := parseWhen("since", since, time.Now())
				if err != nil {
					return fail(exitInvalid, "%v", err)
				}
				cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
				from = "results published since " + t.UTC().Format(time.RFC3339)
			}
			if suite != "" {
				// bus.Token makes the suite one subject token, so the
				// subject filter is exact up to Token's substitutions; the
				// suite id itself is compared again after parsing.
				cfg.FilterSubjects = []string{bus.EnvelopeSubject(bus.SubjectResults, suite, "*")}
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			nc, js, err := nf.connectJS(
				// A watch runs until interrupted: keep reconnecting rather
				// than give up after nats.go's default of 60 attempts.
				nats.MaxReconnects(-1),
				nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
					if err != nil && ctx.Err() == nil {
						fmt.Fprintf(stderr, "bench watch: disconnected from NATS (%v); reconnecting...\n", err)
					}
				}),
				nats.ReconnectHandler(func(c *nats.Conn) {
					fmt.Fprintf(stderr, "bench watch: reconnected to %s\n", c.ConnectedUrlRedacted())
				}),
			)
			if err != nil {
				return err
			}
			defer nc.Close()
			cons, err := js.OrderedConsumer(ctx, bus.StreamResults, cfg)
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, jetstream.ErrStreamNotFound):
				return fail(exitFailed, "NATS at %s has no %s stream: is the pipeline running there ('bench up')?", nf.serverURL(), bus.StreamResults)
			case err != nil:
				return fail(exitFailed, "subscribing to %s on %s: %v", bus.StreamResults, nf.serverURL(), err)
			}
			msgs, err := cons.Messages(jetstream.WithMessagesErrOnMissingHeartbeat(false)) // it pulls again by itself
			if err != nil {
				return fail(exitFailed, "subscribing to %s on %s: %v", bus.StreamResults, nf.serverURL(), err)
			}
			defer msgs.Stop()
			fmt.Fprintf(stderr, "watching %s on %s: %s (Ctrl-C to stop)\n", bus.StreamResults, nf.serverURL(), from)

			out := cmd.OutOrStdout()
			for {
				msg, err := msgs.Next(jetstream.NextContext(ctx))
				if ctx.Err() != nil {
					return nil // interrupted: the normal way to end
				}
				if err != nil {
					return fail(exitFailed, "reading %s on %s: %v", bus.StreamResults, nf.serverURL(), err)
				}
				env, err := envelope.Parse(msg.Data())
				if err != nil {
					fmt.Fprintf(stderr, "bench watch: skipping %s: not a valid envelope: %v\n", msg.Subject(), err)
					continue
				}
				if (suite != "" && env.SuiteID != suite) || (model != "" && env.Model.ID != model) ||
					(engine != "" && env.Engine.Name != engine) {
					continue
				}
				if jsonOut {
					var line bytes.Buffer
					if err := json.Compact(&line, msg.Data()); err != nil {
						fmt.Fprintf(stderr, "bench watch: skipping %s: %v\n", msg.Subject(), err)
						continue
					}
					line.WriteByte('\n')
					if _, err := out.Write(line.Bytes()); err != nil {
						return fail(exitFailed, "writing: %v", err)
					}
					continue
				}
				if _, err := io.WriteString(out, watchLine(env, msg.Headers())); err != nil {
					return fail(exitFailed, "writing: %v", err)
				}
			}
		},
	}
	fs := cmd.Flags()
	nf.register(fs)
	fs.StringVar(&suite, "suite", "", "only this suite id (exact; filtered by the server)")
	fs.StringVar(&model, "model", "", "only this model id (exact)")
	fs.StringVar(&engine, "engine", "", "only this engine name (exact), e.g. vllm")
	fs.StringVar(&since, "since", "", "first replay results published at or after this time: RFC 3339, or an age such as 24h or 7d")
	fs.BoolVar(&all, "all", false, "first replay every result the stream holds")
	fs.BoolVar(&jsonOut, "json", false, "print each envelope as one line of JSON")
	return cmd
}

// watchLine is one result as `bench watch` prints it. Metrics the run did
// not report are left out rather than shown as placeholders.
func watchLine(env *envelope.Envelope, h nats.Header) string {
	var b strings.Builder
	hash := h.Get(bus.HdrContentHash)
	if hash == "" {
		hash = env.ContentHash()
	}
	gpuModel := ""
	if gpus := env.HardwareFingerprint.GPUs; len(gpus) > 0 {
		gpuModel = gpus[0].Model
	}
	fields := []string{
		env.Timestamp.UTC().Format(time.RFC3339),
		hash[:min(12, len(hash))],
		env.SuiteID,
		env.Model.ID,
		env.Engine.Name + " " + env.Engine.Version,
		gpuLabel(len(env.HardwareFingerprint.GPUs), gpuModel),
	}
	for _, m := range shownMetrics {
		if v, ok := env.Metrics.Float(m); ok {
			fields = append(fields, m+"="+num(v))
		}
	}
	fields = append(fields, "signer="+watchSigner(env, h))
	b.WriteString(strings.Join(fields, "  "))
	b.WriteByte('\n')
	return b.String()
}

// watchSigner is the signer the verifier recorded (Bench-Signer), or for a
// dev-key envelope without it, the id of the key it carries.
func watchSigner(env *envelope.Envelope, h nats.Header) string {
	if s := h.Get(bus.HdrSignerID); s != "" {
		return s
	}
	if sig := env.Signature; sig != nil {
		if pub, err := devkey.EmbeddedKey(sig); err == nil {
			return "key " + devkey.KeyID(pub)
		}
		return sig.Method
	}
	return "-"
}

// ---------------------------------------------------------------------------
// S3 connection flags

// s3Flags are the flags that say how to reach S3-compatible object storage.
// The bucket is not among them: fetch takes it from the s3:// URI, and the
// pipeline roles name their own.
type s3Flags struct {
	endpoint, accessKey, secretKey, region string
	tls                                    bool
	fs                                     *pflag.FlagSet
}

func (s *s3Flags) register(fs *pflag.FlagSet) {
	s.fs = fs
	fs.StringVar(&s.endpoint, "s3-endpoint", "", "S3 endpoint, host:port or http(s)://host:port (env "+envS3Endpoint+")")
	fs.StringVar(&s.accessKey, "s3-access-key", "", "S3 access key id (env "+envS3AccessKey+")")
	fs.StringVar(&s.secretKey, "s3-secret-key", "", "S3 secret key (env "+envS3SecretKey+", which other users cannot read in the process list)")
	fs.StringVar(&s.region, "s3-region", "", "S3 region (env "+envS3Region+"; default "+objstore.DefaultRegion+")")
	fs.BoolVar(&s.tls, "s3-tls", false, "use https for an endpoint given as host:port (env "+envS3TLS+"=true)")
}

// config returns the objstore configuration for bucket.
func (s *s3Flags) config(bucket string) (objstore.Config, error) {
	cfg := objstore.Config{
		Endpoint:  flagOrEnv(s.fs, "s3-endpoint", s.endpoint, envS3Endpoint),
		Bucket:    bucket,
		AccessKey: flagOrEnv(s.fs, "s3-access-key", s.accessKey, envS3AccessKey),
		SecretKey: flagOrEnv(s.fs, "s3-secret-key", s.secretKey, envS3SecretKey),
		Region:    flagOrEnv(s.fs, "s3-region", s.region, envS3Region),
		Secure:    s.tls,
	}
	if s.fs == nil || !s.fs.Changed("s3-tls") {
		if v := os.Getenv(envS3TLS); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, fmt.Errorf("$%s=%q: want true or false", envS3TLS, v)
			}
			cfg.Secure = b
		}
	}
	if cfg.Endpoint == "" {
		return cfg, fmt.Errorf("no S3 endpoint: give --s3-endpoint or set $%s", envS3Endpoint)
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return cfg, fmt.Errorf("S3 credentials: give both the access key (--s3-access-key, $%s) and the secret key (--s3-secret-key, $%s), or neither",
			envS3AccessKey, envS3SecretKey)
	}
	return cfg, nil
}

// ---------------------------------------------------------------------------
// bench fetch

// queryHTTPTransport is the HTTP transport of fetch and results; nil is
// http.DefaultTransport (proxy settings from the environment, system CAs).
// Tests replace it to trust a test server's certificate.
var queryHTTPTransport http.RoundTripper

// catalogRefPrefix marks a catalog reference: "bench:<content hash or prefix>".
const catalogRefPrefix = "bench:"

func newFetchCommand() *cobra.Command {
	var (
		trust    trustFlags
		s3       s3Flags
		apiFlag  apiURLFlag
		out      string
		noVerify bool
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "fetch URI [--out PATH] [--dev-public-key PEM | --policy FILE | ...] [--no-verify]",
		Short: "Download an envelope and verify it",
		Long: `fetch downloads one envelope and verifies it exactly as 'bench verify' does, so
that a result found in the catalog, a bucket or a web page can be checked under
your own trust policy without trusting whoever stored or served it.

URI is one of
  bench:HASH            a result in the catalog, by content hash or a unique
                        prefix of at least 8 digits (as 'bench results' shows),
                        fetched from the results API (--api or $` + envAPI + `);
                        the envelope must have that content hash
  s3://BUCKET/KEY       an object in S3-compatible storage (--s3-endpoint,
                        --s3-access-key, --s3-secret-key, --s3-region, --s3-tls,
                        or $` + envS3Endpoint + ` and the other BENCH_S3_ variables)
  https://URL           a plain GET (http:// too: the signature, not the
                        transport, is what makes the envelope trustworthy)
  PATH                  a local file ("-" for standard input)
At most ` + strconv.Itoa(envelope.DefaultMaxSize) + ` bytes are read: no envelope is larger.

Trust is given as for 'bench verify': --dev-public-key (repeatable), --policy,
--require-issuer, --require-identity-pattern. On success the OK block is
printed (on standard error when the envelope itself goes to standard output).
--out PATH writes the envelope there, byte for byte as downloaded, and only
once it has verified; --out - writes it to standard output. Without --out,
fetch only verifies.

--no-verify skips verification (and says so on standard error); it needs
--out, since there is nothing else to do.

Exit status: 0 verified (and written); 1 signature or policy failure, or the
catalog returned a different envelope than asked for; 2 the envelope could not
be obtained or loaded (not found, unreachable, too large, not an envelope) or
bad flags.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			uri := args[0]
			stderr := cmd.ErrOrStderr()
			if noVerify && out == "" {
				return fail(exitInvalid, "--no-verify without --out does nothing: give --out PATH, or --out - for standard output")
			}
			// The trust flags are checked before downloading, so that a
			// policy typo does not cost a download first.
			var pol *verify.Policy
			if !noVerify {
				p, warnings, err := trust.policy()
				if err != nil {
					return fail(exitInvalid, "%v", err)
				}
				for _, w := range warnings {
					fmt.Fprintln(stderr, "warning:", w)
				}
				pol = p
			}

			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			src := fetchSource{api: &apiFlag, s3: &s3, stdin: cmd.InOrStdin()}
			data, wantPrefix, err := src.get(ctx, uri)
			if err != nil {
				return err
			}

			if noVerify {
				fmt.Fprintf(stderr, "warning: --no-verify: %s was NOT verified; do not trust its content until 'bench verify' accepts it\n", uri)
				return writeFetched(cmd, out, data)
			}
			env, err := envelope.Parse(data)
			if err != nil {
				return fail(exitInvalid, "%s is not a valid envelope: %v", uri, err)
			}
			if wantPrefix != "" && !strings.HasPrefix(env.ContentHash(), wantPrefix) {
				// A valid signature proves who signed it, not that it is
				// the result that was asked for.
				return fail(exitFailed, "%s: the results API returned the envelope %s, which is not the one asked for", uri, env.ContentHash())
			}
			res, err := pol.Verify(env)
			if err != nil {
				printFailure(stderr, uri, res, err)
				return silentExit(exitFailed)
			}
			okTo := cmd.OutOrStdout()
			if out == "-" {
				okTo = stderr
			}
			printSuccess(okTo, uri, env, res)
			return writeFetched(cmd, out, data)
		},
	}
	fs := cmd.Flags()
	trust.register(fs)
	fs.StringVarP(&out, "out", "o", "", "write the envelope here once verified (- for standard output; default: verify only)")
	fs.BoolVar(&noVerify, "no-verify", false, "do not verify: write the envelope as downloaded (needs --out)")
	apiFlag.register(fs)
	s3.register(fs)
	fs.DurationVar(&timeout, "timeout", time.Minute, "give up on the download after this long")
	return cmd
}

// writeFetched writes the envelope where --out says: nowhere (""), standard
// output ("-"), or a file, replaced atomically so that a reader never sees
// half an envelope.
func writeFetched(cmd *cobra.Command, out string, data []byte) error {
	switch out {
	case "":
		return nil
	case "-":
		if _, err := cmd.OutOrStdout().Write(data); err != nil {
			return fail(exitFailed, "writing to standard output: %v", err)
		}
		return nil
	}
	if err := writeFileAtomic(out, data, 0o644); err != nil {
		return fail(exitFailed, "writing %s: %v", out, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", out, len(data))
	return nil
}

// fetchSource downloads envelopes for fetch.
type fetchSource struct {
	api   *apiURLFlag
	s3    *s3Flags
	stdin io.Reader
}

// get returns the bytes uri names, at most envelope.DefaultMaxSize of them.
// For a catalog reference it also returns the content hash prefix asked
// for, which the envelope must have. Its errors are exit errors: 2 for
// anything that kept the envelope from being obtained.
func (f *fetchSource) get(ctx context.Context, uri string) (data []byte, wantPrefix string, err error) {
	switch {
	case strings.HasPrefix(uri, catalogRefPrefix):
		return f.getCatalog(ctx, uri)
	case strings.HasPrefix(uri, "s3://"):
		data, err = f.getS3(ctx, uri)
	case strings.HasPrefix(uri, "https://"), strings.HasPrefix(uri, "http://"):
		data, _, err = httpGetEnvelope(ctx, uri)
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			err = fail(exitInvalid, "%s: %v", uri, err)
		}
	default:
		data, err = f.getFile(uri)
	}
	return data, "", err
}

// getCatalog fetches bench:<hash> from the results API.
func (f *fetchSource) getCatalog(ctx context.Context, uri string) ([]byte, string, error) {
	ref := strings.ToLower(strings.TrimPrefix(uri, catalogRefPrefix))
	if len(ref) < catalog.MinPrefixLen || len(ref) > 64 || !catalog.IsHex(ref) {
		return nil, "", fail(exitInvalid, "%s: want bench: followed by a content hash or a prefix of at least %d hex digits", uri, catalog.MinPrefixLen)
	}
	base, err := f.api.base()
	if err != nil {
		return nil, "", fail(exitInvalid, "%v", err)
	}
	data, hdr, err := httpGetEnvelope(ctx, base+wire.ResultsPath+"/"+ref)
	var unreachable *unreachableError
	switch {
	case errors.As(err, &unreachable):
		return nil, "", fail(exitInvalid, "%s: cannot reach the results API at %s: %v\n"+
			"  start the pipeline with 'bench up', or point --api (or $%s) at a running API", uri, base, unreachable.err, envAPI)
	case err != nil:
		return nil, "", fail(exitInvalid, "%s: %v", uri, err)
	}
	if got := hdr.Get(wire.HeaderContentHash); got != "" && !strings.HasPrefix(got, ref) {
		return nil, "", fail(exitFailed, "%s: the results API returned the envelope %s, which is not the one asked for", uri, got)
	}
	return data, ref, nil
}

// getS3 reads s3://bucket/key through internal/objstore, which also checks
// the bytes against the sha256 the server stored when they were written.
func (f *fetchSource) getS3(ctx context.Context, uri string) ([]byte, error) {
	bucket, key, err := objstore.ParseURI(uri)
	if err != nil {
		return nil, fail(exitInvalid, "%v", err)
	}
	cfg, err := f.s3.config(bucket)
	if err != nil {
		return nil, fail(exitInvalid, "%s: %v", uri, err)
	}
	cfg.MaxObjectBytes = envelope.DefaultMaxSize
	// A person is waiting: fail within seconds rather than after
	// minio-go's default of 10 retries.
	cfg.MaxRetries = 3
	store, err := objstore.New(ctx, cfg)
	if err != nil {
		return nil, fail(exitInvalid, "%s: %v", uri, err)
	}
	data, err := store.Get(ctx, key)
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		return nil, fail(exitInvalid, "%s: no such object (endpoint %s)", uri, store.Endpoint())
	case errors.Is(err, objstore.ErrTooLarge):
		return nil, fail(exitInvalid, "%s: larger than the %d-byte envelope limit: not an envelope", uri, envelope.DefaultMaxSize)
	case err != nil:
		return nil, fail(exitInvalid, "%v", err)
	}
	return data, nil
}

// getFile reads a local file, or standard input for "-".
func (f *fetchSource) getFile(path string) ([]byte, error) {
	var r io.Reader = f.stdin
	if path != "-" {
		fh, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fail(exitInvalid, "envelope not found: %s (fetch takes a file path, https://..., s3://BUCKET/KEY or bench:HASH)", path)
		}
		if err != nil {
			return nil, fail(exitInvalid, "reading %s: %v", path, err)
		}
		defer fh.Close()
		r = fh
	}
	data, err := readLimited(r)
	if err != nil {
		return nil, fail(exitInvalid, "reading %s: %v", path, err)
	}
	return data, nil
}

// readLimited reads r whole, refusing more than envelope.DefaultMaxSize
// bytes without reading further.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, envelope.DefaultMaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > envelope.DefaultMaxSize {
		return nil, fmt.Errorf("larger than the %d-byte envelope limit: not an envelope", envelope.DefaultMaxSize)
	}
	return data, nil
}

// unreachableError is a request that got no HTTP answer at all.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// httpGetEnvelope GETs rawURL and returns the body (bounded as readLimited)
// and the response headers. Anything but 200 is an error carrying the
// server's own message.
func httpGetEnvelope(ctx context.Context, rawURL string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fail(exitInvalid, "%s: %v", rawURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: queryHTTPTransport}).Do(req)
	if err != nil {
		return nil, nil, &unreachableError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s", apiError(resp))
	}
	if resp.ContentLength > envelope.DefaultMaxSize {
		return nil, nil, fmt.Errorf("%d bytes, more than the %d-byte envelope limit: not an envelope", resp.ContentLength, envelope.DefaultMaxSize)
	}
	data, err := readLimited(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	return data, resp.Header, nil
}

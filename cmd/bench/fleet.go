package main

// The fleet verbs: submit a matrix, follow and cancel its jobs, and the
// runner's pool mode that runs them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/inferencebench/bench/internal/logging"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/inferencebench/bench/services/runner/fleet"
	"github.com/inferencebench/bench/services/runner/hwinfo"
)

// poolFlags are the runner's pool-mode flags.
type poolFlags struct {
	pool, id, labels, workDir string
	ackWait                   time.Duration
	jobs                      int
}

func (p *poolFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&p.pool, "pool", "", "serve this pool's fleet jobs (a long-running service) instead of one run")
	fs.StringVar(&p.id, "id", "", "this runner's name in job records (default host-pid)")
	fs.StringVar(&p.labels, "labels", "", "labels to offer besides the hardware's, e.g. rack=a3,tier=spot")
	fs.StringVar(&p.workDir, "work-dir", filepath.Join("bench-data", "jobs"), "where job attempts keep their envelopes, traces and engine logs")
	fs.DurationVar(&p.ackWait, "job-ack-wait", time.Minute, "a job whose runner stops responding goes to another runner after this long")
	fs.IntVar(&p.jobs, "jobs", 1, "jobs to run at once")
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels %q: want key=value pairs separated by commas", kv)
		}
		out[k] = v
	}
	return out, nil
}

// runPool is `bench runner --pool`.
func runPool(cmd *cobra.Command, sf *serviceFlags, pf *poolFlags, r *runFlags) error {
	if !fleet.ValidPool(pf.pool) {
		return fail(exitInvalid, "--pool %q: letters, digits, '-' and '_' only", pf.pool)
	}
	extra, err := parseLabels(pf.labels)
	if err != nil {
		return fail(exitInvalid, "%v", err)
	}
	log, err := sf.logger(cmd, "runner")
	if err != nil {
		return err
	}
	hwOpts := hwinfo.Options{ImageDigest: r.imageDigest, GitCommit: gitCommit}
	if r.gitOverride != "" {
		hwOpts.GitCommit = r.gitOverride
	}
	hw, err := hwinfo.Collect(cmd.Context(), hwOpts)
	if err != nil {
		return fail(exitFailed, "the hardware fingerprint: %v", err)
	}
	labels := fleet.HardwareLabels(&hw.Fingerprint)
	maps.Copy(labels, extra)
	workDir, err := filepath.Abs(pf.workDir)
	if err != nil {
		return fail(exitInvalid, "--work-dir: %v", err)
	}
	nc, js, st, err := sf.connectWithStore(cmd.Context(), "runner", log)
	if err != nil {
		return err
	}
	store, err := fleet.OpenStore(cmd.Context(), js)
	if err != nil {
		nc.Close()
		return fail(exitFailed, "%v", err)
	}
	w, err := fleet.NewWorker(fleet.WorkerConfig{JS: js, Store: store, Pool: pf.pool, ID: pf.id, Labels: labels,
		Concurrency: pf.jobs, AckWait: pf.ackWait, Log: log,
		Executor: &fleet.RunnerExecutor{JS: js, Objects: st, WorkDir: workDir, Hardware: hwOpts, Log: log}})
	if err != nil {
		nc.Close()
		return fail(exitInvalid, "%v", err)
	}
	log.Info().Str("pool", pf.pool).Str("runner", w.ID()).Interface("labels", labels).Msg("serving the pool's jobs")
	return serve(cmd, log, nc, w.Run)
}

func newSubmitCommand() *cobra.Command {
	var (
		nf           natsFlags
		maxAttempts  int
		allowUnknown bool
		dryRun       bool
		jsonOut      bool
	)
	cmd := &cobra.Command{
		Use:   "submit MATRIX.yaml [--dry-run] [--max-attempts N] [--nats URL]",
		Short: "Submit a matrix of benchmark jobs to the fleet",
		Long: `submit expands a matrix file (models × engines × datasets × load groups ×
seeds × repeats; see docs/fleet.md) into jobs and queues each on its pool's
subject, where 'bench runner --pool' services take them. A job's id is the
hash of its canonical spec, so submitting the same file again is harmless:
jobs that exist keep their state, and nothing runs twice.

The file is checked first: every problem is reported with its line and
field, and nothing is queued. Jobs for a pool no live runner serves, or
with labels no live runner of the pool has, are refused unless
--allow-unknown-pool. Follow the batch with 'bench jobs BATCH --watch'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			m, err := fleet.ParseMatrix(args[0], data)
			if err != nil {
				return fail(exitInvalid, "the matrix is not valid:\n%v", err)
			}
			jobs, err := m.Expand()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			w := cmd.OutOrStdout()
			if dryRun {
				for _, j := range jobs {
					fmt.Fprintf(w, "%s  %-8s %-40s %-10s %s, %d points, seed %d, repeat %d\n", j.ID[:12], j.Spec.Pool, j.Spec.Model.ID,
						j.Spec.Engine.Name, j.Spec.Dataset.Spec, len(j.Spec.Points), j.Spec.Seed, j.Spec.Repeat)
				}
				fmt.Fprintf(w, "%d jobs in pools %s (not submitted: --dry-run)\n", len(jobs), strings.Join(fleet.Pools(jobs), ", "))
				return nil
			}
			nc, js, err := nf.connectJS()
			if err != nil {
				return err
			}
			defer nc.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			// The streams and buckets are the pipeline's to create, with its
			// replicas and retention: a client that created them here, with
			// defaults, would scale a cluster's streams back to one replica.
			store, err := fleet.OpenStore(ctx, js)
			if err != nil {
				return fail(exitFailed, "%v: is the pipeline running at %s ('bench up', or any role started with --nats; they create the streams)?", err, nf.serverURL())
			}
			attempts := m.MaxAttempts
			if cmd.Flags().Changed("max-attempts") || attempts == 0 {
				attempts = maxAttempts
			}
			res, err := fleet.Submit(ctx, js, store, jobs, fleet.SubmitOptions{Name: m.Batch, Source: filepath.Base(args[0]),
				MaxAttempts: attempts, AllowUnknownPool: allowUnknown})
			if errors.Is(err, fleet.ErrUnknownPool) {
				return fail(exitInvalid, "%v\n  start 'bench runner --pool P' on the hosts first, or give --allow-unknown-pool to queue the jobs anyway", err)
			}
			if err != nil {
				return fail(exitFailed, "%v", err)
			}
			if jsonOut {
				return json.NewEncoder(w).Encode(map[string]any{"batch": res.Batch, "queued": res.Queued, "existing": res.Existing})
			}
			fmt.Fprintf(w, "batch %s (%s): %d jobs, %d queued, %d submitted before; pools %s\n", res.Batch.ID, res.Batch.Name,
				len(jobs), res.Queued, res.Existing, strings.Join(fleet.Pools(jobs), ", "))
			fmt.Fprintf(w, "follow it: bench jobs %s --watch\n", res.Batch.ID)
			return nil
		},
	}
	nf.register(cmd.Flags())
	cmd.Flags().IntVar(&maxAttempts, "max-attempts", 3, "failed attempts (errors, lost runners) before a job fails for good (overrides the file's max_attempts)")
	cmd.Flags().BoolVar(&allowUnknown, "allow-unknown-pool", false, "queue jobs even when no live runner can take them yet")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the file and list the jobs without submitting them")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the batch record as JSON")
	return cmd
}

func openFleet(cmd *cobra.Command, nf *natsFlags) (*fleet.Store, jetstream.JetStream, func(), error) {
	nc, js, err := nf.connectJS()
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := fleet.OpenStore(cmd.Context(), js)
	if err != nil {
		nc.Close()
		return nil, nil, nil, fail(exitFailed, "%v", err)
	}
	return store, js, nc.Close, nil
}

func newJobsCommand() *cobra.Command {
	var (
		nf      natsFlags
		watch   bool
		jsonOut bool
		all     bool
	)
	cmd := &cobra.Command{
		Use:   "jobs [BATCH] [--watch] [--json]",
		Short: "Show fleet jobs: a batch's table and summary, live with --watch",
		Long: `jobs shows the jobs of a batch (its id, an id prefix, or its name; default the
newest batch; --all for every job), one row each: state, runner, progress,
attempts, envelopes. With --watch it redraws as the fleet reports (on a
terminal; a line per change elsewhere) until every job is done, failed or
cancelled, then prints the batch summary.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, _, closeNC, err := openFleet(cmd, &nf)
			if err != nil {
				return err
			}
			defer closeNC()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var batch *fleet.Batch
			if !all {
				ref := ""
				if len(args) == 1 {
					ref = args[0]
				}
				b, err := store.FindBatch(ctx, ref)
				if err != nil {
					return fail(exitInvalid, "%v", err)
				}
				batch = &b
			}
			w := cmd.OutOrStdout()
			if !watch {
				jobs, err := store.Jobs(ctx, batch)
				if err != nil {
					return fail(exitFailed, "%v", err)
				}
				if jsonOut {
					return json.NewEncoder(w).Encode(map[string]any{"batch": batch, "summary": fleet.Summarize(jobs), "jobs": jobs})
				}
				printJobs(w, batch, jobs)
				return nil
			}
			return watchJobs(ctx, w, store, batch, logging.IsTerminal(w))
		},
	}
	nf.register(cmd.Flags())
	cmd.Flags().BoolVar(&watch, "watch", false, "follow the batch live until it finishes")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "the records as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "every job, of every batch")
	return cmd
}

func printJobs(w io.Writer, batch *fleet.Batch, jobs []fleet.Status) {
	if batch != nil {
		fmt.Fprintf(w, "batch %s (%s), submitted %s\n", batch.ID, batch.Name, batch.Submitted.Local().Format(time.DateTime))
	}
	// A batch of thousands of jobs gets a table of the interesting ones:
	// running and failed first, then the rest, up to maxRows.
	rows := jobs
	if len(jobs) > maxRows {
		rows = make([]fleet.Status, 0, maxRows)
		for _, pass := range [][]fleet.State{{fleet.Running, fleet.Failed}, {fleet.Queued, fleet.Cancelled, fleet.Done}} {
			for _, j := range jobs {
				if len(rows) < maxRows && slices.Contains(pass, j.State) {
					rows = append(rows, j)
				}
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tRUNNER\tPROGRESS\tATTEMPTS\tENVELOPES\tMODEL\tENGINE\tPOOL\t")
	for _, j := range rows {
		progress := fmt.Sprintf("%d/%d", len(j.Points), len(j.Spec.Points))
		if j.State == fleet.Running && j.Progress.Point > 0 {
			progress = fmt.Sprintf("%d/%d (point %d)", len(j.Points), len(j.Spec.Points), j.Progress.Point)
		}
		runner := j.Runner
		if runner == "" {
			runner = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t\n", j.ID[:12], j.State, runner, progress, len(j.Attempts),
			len(j.Points), j.Spec.Model.ID, j.Spec.Engine.Name, j.Spec.Pool)
	}
	tw.Flush()
	if len(rows) < len(jobs) {
		fmt.Fprintf(w, "(%d more jobs not shown; --json lists them all)\n", len(jobs)-len(rows))
	}
	s := fleet.Summarize(jobs)
	fmt.Fprintf(w, "%d jobs: %d queued, %d running, %d done, %d failed, %d cancelled; %d envelopes\n",
		s.Total, s.Queued, s.Running, s.Done, s.Failed, s.Cancelled, s.Envelopes)
	reasons := 0
	for _, j := range jobs {
		if (j.State == fleet.Failed || j.State == fleet.Cancelled) && reasons < maxRows {
			fmt.Fprintf(w, "  %s %s: %s\n", j.ID[:12], j.State, j.Reason)
			reasons++
		}
	}
}

// maxRows bounds the rows of a jobs table.
const maxRows = 200

// watchJobs follows the jobs bucket and redraws the batch until it is
// finished (or ctx ends).
func watchJobs(ctx context.Context, w io.Writer, store *fleet.Store, batch *fleet.Batch, tty bool) error {
	watcher, err := store.Watch(ctx)
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	defer watcher.Stop()
	inBatch := map[string]bool{}
	if batch != nil {
		for _, id := range batch.Jobs {
			inBatch[id] = true
		}
	}
	jobs := map[string]fleet.Status{}
	// Counts kept as records change, so that a batch of 100,000 jobs does
	// not cost a pass over every job per update.
	var sum fleet.Summary
	caughtUp := false
	lastDraw := time.Time{}
	draw := func(final bool) {
		list := make([]fleet.Status, 0, len(jobs))
		for _, j := range jobs {
			list = append(list, j)
		}
		order := map[string]int{}
		if batch != nil {
			for i, id := range batch.Jobs {
				order[id] = i
			}
		}
		sort.Slice(list, func(a, b int) bool {
			if oa, ob := order[list[a].ID], order[list[b].ID]; oa != ob {
				return oa < ob
			}
			return list[a].ID < list[b].ID
		})
		if tty && !final {
			fmt.Fprint(w, "\033[H\033[2J")
			printJobs(w, batch, list)
			return
		}
		if final {
			printJobs(w, batch, list)
			return
		}
		fmt.Fprintf(w, "%s  %d jobs: %d queued, %d running, %d done, %d failed, %d cancelled\n", time.Now().Format(time.TimeOnly),
			sum.Total, sum.Queued, sum.Running, sum.Done, sum.Failed, sum.Cancelled)
	}
	finished := func() bool {
		if batch != nil && len(jobs) < len(batch.Jobs) {
			return false
		}
		return len(jobs) > 0 && sum.Finished()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			draw(true)
			return nil
		case <-tick.C:
			if caughtUp && time.Since(lastDraw) > 5*time.Second && !tty {
				draw(false)
				lastDraw = time.Now()
			}
		case e, ok := <-watcher.Updates():
			if !ok {
				return fail(exitFailed, "the jobs bucket watch ended")
			}
			if e == nil {
				caughtUp = true
			} else if id, isJob := strings.CutPrefix(e.Key(), "job."); isJob && (batch == nil || inBatch[id]) {
				if old, ok := jobs[id]; ok {
					sum.Add(&old, -1)
					delete(jobs, id)
				}
				var st fleet.Status
				if e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &st) == nil {
					jobs[id] = st
					sum.Add(&st, 1)
				}
			}
			if !caughtUp {
				continue
			}
			if finished() {
				draw(true)
				return nil
			}
			if tty && time.Since(lastDraw) > 200*time.Millisecond || !tty && time.Since(lastDraw) > 5*time.Second {
				draw(false)
				lastDraw = time.Now()
			}
		}
	}
}

func newCancelCommand() *cobra.Command {
	var (
		nf     natsFlags
		batch  string
		reason string
	)
	cmd := &cobra.Command{
		Use:   "cancel (JOB... | --batch BATCH) [--reason TEXT]",
		Short: "Cancel fleet jobs: queued ones never run, running ones are stopped",
		Long: `cancel marks jobs cancelled in their records: a queued job is dropped when a
runner picks it up, a running one is stopped by its runner (which watches
its record), and the engine it launched is stopped. Finished jobs are left
as they are. JOB is a job id or a prefix of at least 8 digits.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (batch == "") == (len(args) == 0) {
				return fail(exitInvalid, "give job ids or --batch, not both")
			}
			store, _, closeNC, err := openFleet(cmd, &nf)
			if err != nil {
				return err
			}
			defer closeNC()
			ctx := cmd.Context()
			ids := args
			if batch != "" {
				b, err := store.FindBatch(ctx, batch)
				if err != nil {
					return fail(exitInvalid, "%v", err)
				}
				ids = b.Jobs
			} else {
				all, err := store.Jobs(ctx, nil)
				if err != nil {
					return fail(exitFailed, "%v", err)
				}
				for i, ref := range ids {
					if ids[i], err = resolveJob(all, ref); err != nil {
						return fail(exitInvalid, "%v", err)
					}
				}
			}
			w := cmd.OutOrStdout()
			for _, id := range ids {
				st, err := store.Cancel(ctx, id, reason)
				if err != nil {
					return fail(exitFailed, "%v", err)
				}
				fmt.Fprintf(w, "%s  %s\n", id[:12], st.State)
			}
			return nil
		},
	}
	nf.register(cmd.Flags())
	cmd.Flags().StringVar(&batch, "batch", "", "cancel every unfinished job of this batch")
	cmd.Flags().StringVar(&reason, "reason", "cancelled by "+currentUser(), "recorded in the job")
	return cmd
}

func resolveJob(all []fleet.Status, ref string) (string, error) {
	if len(ref) < 8 {
		return "", fmt.Errorf("job %q: give at least 8 digits of its id", ref)
	}
	var match []string
	for _, j := range all {
		if strings.HasPrefix(j.ID, ref) {
			match = append(match, j.ID)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no job %q", ref)
	case 1:
		return match[0], nil
	default:
		return "", fmt.Errorf("job %q is ambiguous (%d jobs)", ref, len(match))
	}
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "a user"
}

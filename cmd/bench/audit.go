package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/inferencebench/bench/pkg/envelope/verify"
)

// auditRow is one envelope's audit outcome; it is also the --json row.
type auditRow struct {
	Path        string `json:"path"`
	OK          bool   `json:"ok"`
	Method      string `json:"method"`
	ModelID     string `json:"model_id"`
	ContentHash string `json:"content_hash"`
	KeyID       string `json:"key_id,omitempty"`
	// Keyless signatures: who signed, where it is logged, when.
	SignerIdentity string `json:"signer_identity,omitempty"`
	SignerIssuer   string `json:"signer_issuer,omitempty"`
	RekorLogIndex  *int64 `json:"rekor_log_index,omitempty"`
	IntegratedTime string `json:"integrated_time,omitempty"`
	// Timestamps are the verified RFC 3161 timestamps (RFC 3339, UTC).
	Timestamps []string `json:"rfc3161_timestamps,omitempty"`
	Stage      string   `json:"stage,omitempty"` // load or verify, for failures
	Reason     string   `json:"reason,omitempty"`
}

func newAuditCommand() *cobra.Command {
	var (
		trust   trustFlags
		jsonOut bool
		workers int
	)
	cmd := &cobra.Command{
		Use:   "audit DIR|FILE... [--policy FILE | --dev-public-key PEM | --trusted-root FILE --require-issuer URL --require-identity-pattern RE] [--json]",
		Short: "Verify every envelope under directories and summarise",
		Long: `audit verifies every *.json file under the given directories (recursively) and
files, on every core, under the same trust rules as 'bench verify', and prints
a table with the failures first and a summary line. With --json it prints the
rows as JSON instead (schema "inferencebench.audit.v1"): keyless rows carry
signer_identity, signer_issuer, rekor_log_index, integrated_time and
rfc3161_timestamps.

Keyless envelopes are checked offline against --trusted-root (or the policy
file's "trusted_root"), and their signer against the issuer and identity
rules; see 'bench verify --help' and docs/keyless.md.

The exit status is 0 when every envelope verified, 1 when any failed (to load
or to verify), 2 when the flags or paths could not be used.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			policy, warnings, err := trust.policy()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			for _, w := range warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			for _, p := range paths {
				if _, err := os.Stat(p); err != nil {
					return fail(exitInvalid, "%v", err)
				}
			}
			progress := newProgress(cmd.ErrOrStderr())
			rows, err := audit(cmd.Context(), paths, policy, workers, progress.tick)
			progress.done()
			if err != nil {
				return fail(exitInvalid, "%v", err)
			}
			slices.SortFunc(rows, func(a, b auditRow) int {
				if a.OK != b.OK {
					if a.OK {
						return 1
					}
					return -1
				}
				return cmp.Compare(a.Path, b.Path)
			})
			failed := 0
			for _, r := range rows {
				if !r.OK {
					failed++
				}
			}
			if jsonOut {
				if err := printAuditJSON(cmd.OutOrStdout(), rows, failed); err != nil {
					return err
				}
			} else {
				printAuditTable(cmd.OutOrStdout(), rows, failed)
			}
			if len(rows) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "bench audit: no *.json files found")
			}
			if failed > 0 {
				return silentExit(exitFailed)
			}
			return nil
		},
	}
	trust.register(cmd.Flags())
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the results as JSON")
	cmd.Flags().IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "envelopes verified in parallel")
	return cmd
}

// audit verifies every envelope under paths with a bounded pool of workers
// fed by one directory walker. onDone is called after each envelope.
func audit(ctx context.Context, paths []string, policy *verify.Policy, workers int, onDone func(total int64)) ([]auditRow, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	workers = max(workers, 1)
	files := make(chan string, 4*workers)
	results := make(chan auditRow, 4*workers)
	var walkErr error
	go func() {
		defer close(files)
		for _, root := range paths {
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() || (p != root && !strings.HasSuffix(d.Name(), ".json")) {
					return nil
				}
				select {
				case files <- p:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
				walkErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p := range files {
				results <- auditOne(p, policy)
			}
		})
	}
	go func() { wg.Wait(); close(results) }()
	var rows []auditRow
	var n atomic.Int64
	for r := range results {
		rows = append(rows, r)
		onDone(n.Add(1))
	}
	return rows, walkErr
}

func auditOne(path string, policy *verify.Policy) auditRow {
	row := auditRow{Path: path, Method: "-", ModelID: "-"}
	env, err := loadEnvelope(path)
	if err != nil {
		row.Stage, row.Reason = "load", err.Error()
		return row
	}
	row.ModelID = env.Model.ID
	res, err := policy.Verify(env)
	row.Method, row.KeyID = res.Method, res.KeyID
	row.SignerIdentity, row.SignerIssuer = res.SignerIdentity, res.SignerIssuer
	if res.RekorLogIndex >= 0 {
		idx := res.RekorLogIndex
		row.RekorLogIndex = &idx
	}
	if !res.IntegratedTime.IsZero() {
		row.IntegratedTime = res.IntegratedTime.UTC().Format(time.RFC3339)
	}
	for _, ts := range res.Timestamps {
		if ts.Kind == "rfc3161" {
			row.Timestamps = append(row.Timestamps, ts.Time.UTC().Format(time.RFC3339Nano))
		}
	}
	if len(res.ContentHash) == 64 {
		row.ContentHash = res.ContentHash
	} else {
		row.ContentHash = env.ContentHash()
	}
	if err != nil {
		row.Stage, row.Reason = "verify", failureReason(err)
		return row
	}
	row.OK = true
	return row
}

func printAuditTable(w io.Writer, rows []auditRow, failed int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tENVELOPE\tMODEL\tMETHOD\tSIGNER\tCONTENT_HASH\tREASON")
	for _, r := range rows {
		status, reason := "ok", ""
		if !r.OK {
			status, reason = "FAIL", r.Reason
		}
		signer := cmp.Or(r.SignerIdentity, r.KeyID, "-")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", status, r.Path, clip(r.ModelID, 40), r.Method, clip(signer, 60),
			r.ContentHash[:min(12, len(r.ContentHash))], clip(reason, 120))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d / %d envelopes verified (%d failed)\n", len(rows)-failed, len(rows), failed)
}

func printAuditJSON(w io.Writer, rows []auditRow, failed int) error {
	if rows == nil {
		rows = []auditRow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{
		"schema":  "inferencebench.audit.v1",
		"n_total": len(rows),
		"n_ok":    len(rows) - failed,
		"n_fail":  failed,
		"rows":    rows,
	})
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// progress prints a one-line counter on a terminal, at most five times a
// second; elsewhere it stays silent.
type progress struct {
	w       io.Writer
	enabled bool
	start   time.Time
	last    atomic.Int64 // unix nanos of the last print
	mu      sync.Mutex
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.enabled = true
		}
	}
	return p
}

func (p *progress) tick(n int64) {
	if !p.enabled {
		return
	}
	now := time.Now().UnixNano()
	if now-p.last.Load() < int64(200*time.Millisecond) {
		return
	}
	p.last.Store(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%d envelopes checked (%.0f/s)", n, float64(n)/max(elapsed, 1e-9))
}

func (p *progress) done() {
	if p.enabled && p.last.Load() != 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// Command bench is InferenceBench's one binary: the user verbs (keygen,
// hash, sign, verify, audit, schema, run, results, watch, fetch), the
// pipeline's service roles (runner, signer, verifier, indexer), and up and
// demo, which run the whole pipeline in one process.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Exit codes shared by every verb.
const (
	exitOK      = 0
	exitFailed  = 1 // a check failed: bad signature, policy rejection, a failing envelope
	exitInvalid = 2 // the input could not be used: missing file, bad JSON, schema violation, bad flags
)

// exitError carries an exit code out of a command. Its message, if any, has
// already been printed when msg is empty.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// silentExit ends the command with code, having printed everything already.
func silentExit(code int) error { return &exitError{code: code} }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "bench",
		Short: "Signed, verifiable LLM inference benchmark results",
		Long: `bench produces, signs, verifies and audits InferenceBench result envelopes:
one JSON document per benchmark run that binds its metrics to the exact model,
engine, hardware, software, dataset and seed, byte-compatible with the
reference Python implementation.

Start with 'bench demo': it runs the whole pipeline in one process (embedded
NATS JetStream, S3 and catalog; the runner, signer, verifier and indexer
roles) on a simulated engine and prints the verified result. 'bench up' runs
the same pipeline until stopped; 'bench runner' publishes benchmarks into it.

Verification is policy-first: an envelope is accepted only when its signer is
pinned (--dev-public-key, --policy) or required (--require-issuer,
--require-identity-pattern). Exit codes: 0 ok, 1 a check failed, 2 the input
could not be used.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newKeygenCommand(),
		newHashCommand(),
		newSignCommand(),
		newVerifyCommand(),
		newAuditCommand(),
		newSchemaCommand(),
		newRunCommand(),
		newSimEngineCommand(),
		newUpCommand(),
		newDemoCommand(),
		newRunnerCommand(),
		newSignerCommand(),
		newVerifierCommand(),
		newIndexerCommand(),
		newResultsCommand(),
		newWatchCommand(),
		newFetchCommand(),
		newRejectedCommand(),
		newSubmitCommand(),
		newJobsCommand(),
		newCancelCommand(),
	)
	// Flag errors are usage errors: exit 2, like every unusable input.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: exitInvalid, err: fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	return root
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "bench:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors (unknown command, wrong argument count) are usage errors.
	fmt.Fprintln(os.Stderr, "bench:", err)
	return exitInvalid
}

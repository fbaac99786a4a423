package hwinfo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Runner runs an external program and returns its standard output. It must
// return an error wrapping exec.ErrNotFound when the program is not
// installed, so that "absent" (expected on CPU-only hosts) and "failed" can
// be told apart, and it must stop when ctx ends.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner is the default Runner: the program is looked up in PATH and run
// with ctx (killed when ctx ends). A failure carries the program's last line
// of standard error, which is where nvidia-smi and dmidecode say why.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	// A child that keeps the output pipe open must not outlive the timeout.
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("run %s: %w", name, ctxErr)
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if msg := lastLine(string(exitErr.Stderr)); msg != "" {
				return nil, fmt.Errorf("run %s: %w: %s", name, err, msg)
			}
		}
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	return out, nil
}

// lastLine returns the last non-empty line of s, trimmed.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// commandReason describes a Runner error for a warning.
func commandReason(err error) string {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return "not installed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case os.Geteuid() != 0 && strings.Contains(strings.ToLower(err.Error()), "permission denied"):
		return fmt.Sprintf("needs root: %v", err)
	default:
		return err.Error()
	}
}

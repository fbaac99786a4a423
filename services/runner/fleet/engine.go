package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Engine is an inference server a runner launched for a job.
type Engine struct {
	// URL is where it serves (http://127.0.0.1:<port>).
	URL     string
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// EngineLaunch says how to start an engine.
type EngineLaunch struct {
	// Command is run by /bin/sh -c after {model}, {revision} and {port}
	// are replaced (values are shell-quoted).
	Command         string
	Model, Rev      string
	Env             map[string]string
	ReadyTimeout    time.Duration // default 10 minutes (a large model loads slowly)
	LogPath         string        // stdout and stderr go here
	StopGracePeriod time.Duration // after SIGTERM, before SIGKILL (default 30 s)
}

// StartEngine starts the engine on a free loopback port and waits until it
// answers GET /health or GET /v1/models with 200, it exits (an error with
// the log's tail), the timeout passes, or ctx ends.
func StartEngine(ctx context.Context, l EngineLaunch) (*Engine, error) {
	if l.ReadyTimeout <= 0 {
		l.ReadyTimeout = 10 * time.Minute
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	command := strings.NewReplacer("{model}", shellQuote(l.Model), "{revision}", shellQuote(l.Rev),
		"{port}", strconv.Itoa(port)).Replace(l.Command)
	logf, err := os.Create(l.LogPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "# %s\n", command)
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = os.Environ()
	for k, v := range l.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its own process group, so that stopping it stops what it started
	// (sh, then the server and its workers).
	// Pdeathsig: if the runner dies (SIGKILL included), the shell gets
	// SIGKILL too; launch commands should exec the server so that it is
	// the shell (e.g. "exec vllm serve ...").
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	e := &Engine{URL: "http://127.0.0.1:" + strconv.Itoa(port), LogPath: l.LogPath, cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child ends, not
		// the process: keep this goroutine on its thread until the engine
		// has exited, so that no thread exit elsewhere kills the engine.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			logf.Close()
			return
		}
		started <- nil
		e.err = cmd.Wait()
		logf.Close()
		close(e.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting the engine (%s): %w", command, err)
	}
	if err := e.waitReady(ctx, l.ReadyTimeout); err != nil {
		e.Stop(l.StopGracePeriod)
		return nil, err
	}
	return e, nil
}

func (e *Engine) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, path := range []string{"/health", "/v1/models"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+path, nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.exited:
			return fmt.Errorf("the engine exited before it was ready (%v); its log ends:\n%s", e.err, tail(e.LogPath, 20))
		case <-deadline.C:
			return fmt.Errorf("the engine was not ready after %v (no 200 from /health or /v1/models); its log ends:\n%s", timeout, tail(e.LogPath, 20))
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM to the engine's process group, then SIGKILL after
// grace (default 30 s), and waits until it has exited.
func (e *Engine) Stop(grace time.Duration) {
	if grace <= 0 {
		grace = 30 * time.Second
	}
	pgid := -e.cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(grace):
		syscall.Kill(pgid, syscall.SIGKILL)
		<-e.exited
	}
	// Whatever the shell left behind in the group.
	syscall.Kill(pgid, syscall.SIGKILL)
}

// Exited reports whether the engine has stopped on its own.
func (e *Engine) Exited() bool {
	select {
	case <-e.exited:
		return true
	default:
		return false
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port for the engine: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var errNoEngine = errors.New("fleet: the job names neither a launch command nor an endpoint")

package sigstorestack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Component is one server or tool of the stack, built from the Go module
// proxy at a pinned version. The versions are the newest releases that
// build with Go 1.26 (newer releases of these servers need Go 1.27).
type Component struct {
	// Name is the binary's name in the cache and in error messages.
	Name string
	// Module and Version identify the release (module@version).
	Module  string
	Version string
	// Package is the main package given to `go install`.
	Package string
}

// Components lists what the stack runs, in build order: the three servers
// first (the test needs all of them), cosign last (the largest build).
var Components = []Component{
	{Name: "fulcio", Module: "github.com/sigstore/fulcio", Version: "v1.8.8",
		Package: "github.com/sigstore/fulcio"},
	// rekor-tiles ships one main package per storage backend; posix stores
	// the log's tiles in a local directory, which is all a test needs.
	{Name: "rekor-server-posix", Module: "github.com/sigstore/rekor-tiles/v2", Version: "v2.3.0",
		Package: "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix"},
	{Name: "timestamp-server", Module: "github.com/sigstore/timestamp-authority/v2", Version: "v2.1.3",
		Package: "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server"},
	{Name: "cosign", Module: "github.com/sigstore/cosign/v3", Version: "v3.1.3",
		Package: "github.com/sigstore/cosign/v3/cmd/cosign"},
}

// CacheEnv overrides the directory where built binaries are kept.
const CacheEnv = "INFERENCEBENCH_SIGSTORE_CACHE"

// Binaries holds the paths of the built executables.
type Binaries struct {
	Fulcio, Rekor, TSA, Cosign string
}

// CacheDir returns where binaries are kept between runs: $INFERENCEBENCH_SIGSTORE_CACHE,
// else $XDG_CACHE_HOME/inferencebench/sigstore, else ~/.cache/inferencebench/sigstore.
// The cache outlives the repository checkout on purpose: CI clones afresh
// on every run but runs on the same machine, and a cold build takes minutes.
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("sigstorestack: no cache directory (set %s): %w", CacheEnv, err)
	}
	return filepath.Join(d, "inferencebench", "sigstore"), nil
}

// BuildOptions configures EnsureBuilt.
type BuildOptions struct {
	// CacheDir defaults to CacheDir().
	CacheDir string
	// Go is the go command; default: "go" on PATH, else /usr/local/go/bin/go.
	Go string
	// Log, if set, receives one line per component (cached or built, and how long).
	Log func(format string, args ...any)
	// Only limits the build to these component names (default: all).
	Only []string
}

type toolchain struct {
	goCmd, version, goos, goarch string
}

var (
	toolchainOnce sync.Once
	toolchainVal  toolchain
	toolchainErr  error
)

func findToolchain(goCmd string) (toolchain, error) {
	lookup := func() (toolchain, error) {
		if goCmd == "" {
			if p, err := exec.LookPath("go"); err == nil {
				goCmd = p
			} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
				goCmd = "/usr/local/go/bin/go"
			} else {
				return toolchain{}, errors.New("sigstorestack: the go command is not on PATH (nor at /usr/local/go/bin/go); it is needed to build the Sigstore servers")
			}
		}
		cmd := exec.Command(goCmd, "env", "GOVERSION", "GOOS", "GOARCH")
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off")
		out, err := cmd.Output()
		if err != nil {
			return toolchain{}, fmt.Errorf("sigstorestack: %s env: %w", goCmd, err)
		}
		f := strings.Fields(string(out))
		if len(f) != 3 {
			return toolchain{}, fmt.Errorf("sigstorestack: unexpected output of go env: %q", out)
		}
		return toolchain{goCmd: goCmd, version: f[0], goos: f[1], goarch: f[2]}, nil
	}
	if goCmd != "" {
		return lookup()
	}
	toolchainOnce.Do(func() { toolchainVal, toolchainErr = lookup() })
	return toolchainVal, toolchainErr
}

// binaryPath is the cache key: module@version, then platform and Go
// version, so that a toolchain upgrade rebuilds rather than reuses.
func (c Component) binaryPath(cacheDir string, tc toolchain) string {
	return filepath.Join(cacheDir, filepath.FromSlash(c.Module)+"@"+c.Version,
		tc.goos+"_"+tc.goarch+"-"+tc.version, c.Name)
}

// EnsureBuilt returns the stack's binaries, building those missing from the
// cache with `go install module/pkg@version` (sources from the Go module
// proxy). Concurrent callers (go test runs packages in parallel, CI may run
// the prebuild step beside a test) are serialised per component by a lock
// file, and a binary appears in the cache only once complete (rename).
// Building needs the module proxy (or a warm module cache), so call it
// outside the network namespace; Run and Main do.
func EnsureBuilt(ctx context.Context, opts BuildOptions) (Binaries, error) {
	tc, err := findToolchain(opts.Go)
	if err != nil {
		return Binaries{}, err
	}
	dir := opts.CacheDir
	if dir == "" {
		if dir, err = CacheDir(); err != nil {
			return Binaries{}, err
		}
	}
	paths := map[string]string{}
	for _, c := range Components {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, c.Name) {
			continue
		}
		p, err := ensureComponent(ctx, c, dir, tc, opts.Log)
		if err != nil {
			return Binaries{}, err
		}
		paths[c.Name] = p
	}
	return Binaries{
		Fulcio: paths["fulcio"],
		Rekor:  paths["rekor-server-posix"],
		TSA:    paths["timestamp-server"],
		Cosign: paths["cosign"],
	}, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func ensureComponent(ctx context.Context, c Component, cacheDir string, tc toolchain, logf func(string, ...any)) (string, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin := c.binaryPath(cacheDir, tc)
	if isExecutable(bin) {
		logf("%s: cached %s", c.Name, bin)
		return bin, nil
	}
	keyDir := filepath.Dir(bin)
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", fmt.Errorf("sigstorestack: cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(keyDir, ".lock"))
	if err != nil {
		return "", fmt.Errorf("sigstorestack: waiting for the build lock of %s@%s: %w", c.Module, c.Version, err)
	}
	defer unlock()
	if isExecutable(bin) { // another process built it while we waited
		logf("%s: cached %s (built by another process)", c.Name, bin)
		return bin, nil
	}

	gobin, err := os.MkdirTemp(keyDir, ".build-")
	if err != nil {
		return "", fmt.Errorf("sigstorestack: %w", err)
	}
	defer os.RemoveAll(gobin)

	start := time.Now()
	target := c.Package + "@" + c.Version
	cmd := exec.CommandContext(ctx, tc.goCmd, "install", "-trimpath", target)
	cmd.Dir = keyDir // outside any module or workspace
	cmd.Env = append(os.Environ(),
		"GOBIN="+gobin,
		"GOFLAGS=-mod=mod",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		// Static binaries: no C toolchain needed, and the project's
		// CGO_CFLAGS (set by the Makefile) play no part.
		"CGO_ENABLED=0",
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	logf("%s: building %s (cold builds take minutes) ...", c.Name, target)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v); pre-build with `go run ./internal/sigstorestack/cmd/prebuild` so tests find the binaries cached", err, ctx.Err())
		}
		return "", fmt.Errorf("sigstorestack: building %s@%s (go install -trimpath %s) failed after %s: %w\n--- go output (tail) ---\n%s",
			c.Module, c.Version, target, time.Since(start).Round(time.Second), err, tail(out.Bytes(), 40))
	}
	// go install names the binary after the last element of the package path.
	built := filepath.Join(gobin, filepath.Base(strings.TrimSuffix(c.Package, "/")))
	if !isExecutable(built) {
		return "", fmt.Errorf("sigstorestack: go install %s produced no binary at %s\n%s", target, built, tail(out.Bytes(), 40))
	}
	if err := os.Rename(built, bin); err != nil {
		return "", fmt.Errorf("sigstorestack: %w", err)
	}
	logf("%s: built %s in %s", c.Name, bin, time.Since(start).Round(100*time.Millisecond))
	return bin, nil
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	s := strings.TrimRight(string(b), "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// fileTail reads the last n lines of a log file, for error messages.
func fileTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	if len(b) == 0 {
		return "(log is empty)"
	}
	return tail(b, n)
}

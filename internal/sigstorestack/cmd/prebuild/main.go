// Command prebuild builds the local Sigstore stack's binaries (Fulcio,
// Rekor v2, the timestamp authority, cosign) into the cache that tests use,
// so that `make test` finds them there. CI runs it before `make test`: a
// cold build takes minutes, more than a test's budget, and then it is
// reused on every later run on the same machine.
//
//	go run ./internal/sigstorestack/cmd/prebuild [-timeout 25m]
//
// The cache is the tests' own ($INFERENCEBENCH_SIGSTORE_CACHE, else
// $XDG_CACHE_HOME/inferencebench/sigstore, else ~/.cache/...), so there is
// no flag that could make the two disagree. It prints one line per binary and exits non-zero, with the compiler's
// output, if a build fails.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/inferencebench/bench/internal/sigstorestack"
)

func main() {
	timeout := flag.Duration("timeout", 25*time.Minute, "give up after this long")
	flag.Parse()

	dir, err := sigstorestack.CacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("prebuild: "+format+"\n", args...)
	}
	if _, err := sigstorestack.EnsureBuilt(ctx, sigstorestack.BuildOptions{CacheDir: dir, Log: logf}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("prebuild: all binaries ready in %s (cache %s)\n", time.Since(start).Round(100*time.Millisecond), dir)
}

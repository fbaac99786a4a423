#!/usr/bin/env bash
# instr-per-op.sh PKG BENCH OPS_PER_ITER: instructions per operation of a Go
# benchmark, counted by valgrind's callgrind (repeatable on noisy machines,
# unlike timings). Runs the benchmark for 5 and 25 iterations and divides the
# difference, so set-up costs cancel out.
set -euo pipefail
pkg=$1 bench=$2 per=${3:-1}
bin=$(mktemp)
trap 'rm -f "$bin" callgrind.out.*' EXIT
GOTOOLCHAIN=local go test -c -o "$bin" "$pkg"
count() {
  GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" -test.run '^$' -test.bench "$bench" \
    -test.benchtime "$1x" -test.cpu 1 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
a=$(count 5); b=$(count 25)
echo "$(( (b - a) / (20 * per) )) instructions per op ($bench)"

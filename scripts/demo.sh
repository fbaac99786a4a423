#!/usr/bin/env bash
# The main job end to end on embedded defaults: benchmark a simulated
# OpenAI-compatible engine, sign the result, verify it, show that tampering
# and missing trust are caught, and audit the reference implementation's
# published envelopes.
set -euo pipefail
bench=${1:-bin/bench}
fixtures=${BENCH_REFERENCE_FIXTURES:-../shared/reference-fixtures}
work=$(mktemp -d)
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a dev signing key"
"$bench" keygen --out "$work/demo.key"

step "a simulated engine: TTFT 50 ms, 10 ms per token"
"$bench" sim-engine --addr 127.0.0.1:0 --ttft-ms 50 --tpot-ms 10 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 50); do
  grep -q "http://" "$work/sim.log" 2>/dev/null && break
  sleep 0.1
done
endpoint=$(grep -o 'http://[0-9.:]*' "$work/sim.log" | head -1)
[ -n "$endpoint" ] || { cat "$work/sim.log"; echo "the simulated engine did not start"; exit 1; }
echo "listening on $endpoint"

step "benchmark it: 200 requests at 20 req/s, signed with the dev key"
"$bench" run --endpoint "$endpoint" --rate 20 --requests 200 --output-len 32 \
  --out "$work/results" --sign-key "$work/demo.key" --model-revision 0000000
envelope=$(ls "$work"/results/*.json | head -1)

step "verify it against the pinned key"
"$bench" verify "$envelope" --dev-public-key "$work/demo.pub"

step "without trust material, verification refuses (exit 1)"
"$bench" verify "$envelope" || echo "-> exit $?"

step "tamper with one number: verification fails (exit 1)"
sed 's/"seed": 42/"seed": 43/' "$envelope" > "$work/tampered.json"
"$bench" verify "$work/tampered.json" --dev-public-key "$work/demo.pub" || echo "-> exit $?"

step "audit the reference implementation's 51 envelopes with published keys"
"$bench" audit "$fixtures/validation-runs/2026-05-18-multi-vendor-marathon" "$fixtures/dot-bench/baseline.json" \
  --dev-public-key "$fixtures/trust/cosign-2026-05-18-marathon.pub" --dev-public-key "$fixtures/dot-bench/cosign.pub" | tail -n 1

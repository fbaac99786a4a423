#!/usr/bin/env bash
# The main job end to end on embedded defaults: `bench demo` runs the whole
# pipeline in one process (embedded NATS JetStream and S3, SQLite catalog;
# runner, signer, verifier and indexer) on a simulated engine and prints the
# verified result. Then, offline: the archived envelope verifies against the
# pipeline's signer key, a tampered copy and an unpinned verification fail,
# and the reference implementation's published envelopes audit clean.
set -euo pipefail
bench=${1:-bin/bench}
fixtures=${BENCH_REFERENCE_FIXTURES:-../shared/reference-fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "the pipeline end to end: bench demo"
"$bench" demo --data-dir "$work/pipeline"

envelope=$(ls "$work"/pipeline/objects/bench/envelopes/*.json | head -1)
signer_pub="$work/pipeline/keys/signer.pub"

step "offline: the archived envelope verifies against the pipeline's signer key"
"$bench" verify "$envelope" --dev-public-key "$signer_pub"

step "without trust material, verification refuses (exit 1)"
"$bench" verify "$envelope" || echo "-> exit $?"

step "tamper with one number: verification fails (exit 1)"
sed 's/"seed":42/"seed":43/' "$envelope" > "$work/tampered.json"
"$bench" verify "$work/tampered.json" --dev-public-key "$signer_pub" || echo "-> exit $?"

step "audit the reference implementation's 51 envelopes with published keys"
"$bench" audit "$fixtures/validation-runs/2026-05-18-multi-vendor-marathon" "$fixtures/dot-bench/baseline.json" \
  --dev-public-key "$fixtures/trust/cosign-2026-05-18-marathon.pub" --dev-public-key "$fixtures/dot-bench/cosign.pub" | tail -n 1

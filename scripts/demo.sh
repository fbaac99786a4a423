#!/usr/bin/env bash
# The foundation end to end: make a dev key, sign an envelope, verify it,
# show that tampering and unpinned keys are caught, and audit the reference
# implementation's published envelopes.
set -euo pipefail
bench=${1:-bin/bench}
fixtures=${BENCH_REFERENCE_FIXTURES:-../shared/reference-fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a dev key pair"
"$bench" keygen --out "$work/demo.key"

step "an unsigned envelope (the reference's baseline, signature removed)"
python3 - "$fixtures/dot-bench/baseline.json" "$work/run.json" <<'PY'
import json, sys
env = json.load(open(sys.argv[1])); env.pop("signature")
json.dump(env, open(sys.argv[2], "w"), indent=2)
PY
"$bench" hash "$work/run.json"

step "sign it"
"$bench" sign --key "$work/demo.key" "$work/run.json"

step "verify it against the pinned key"
"$bench" verify "$work/run.json" --dev-public-key "$work/demo.pub"

step "without trust material, verification refuses (exit 1)"
"$bench" verify "$work/run.json" || echo "-> exit $?"

step "tamper with one number: verification fails (exit 1)"
sed 's/"seed": 42/"seed": 43/' "$work/run.json" > "$work/tampered.json"
"$bench" verify "$work/tampered.json" --dev-public-key "$work/demo.pub" || echo "-> exit $?"

step "audit the reference implementation's 51 envelopes with published keys"
"$bench" audit "$fixtures/validation-runs/2026-05-18-multi-vendor-marathon" "$fixtures/dot-bench/baseline.json" \
  --dev-public-key "$fixtures/trust/cosign-2026-05-18-marathon.pub" --dev-public-key "$fixtures/dot-bench/cosign.pub" | tail -n 3

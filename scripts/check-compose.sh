#!/usr/bin/env bash
# Validates deploy/compose.yaml: docker-compose parses and resolves it, and
# every bench command in it names a real verb with real flags (each is run
# with --help by the bench binary given, which rejects unknown flags).
set -euo pipefail
bench=${1:-bin/bench}
compose=deploy/compose.yaml
docker-compose -f "$compose" config -q
docker-compose -f "$compose" config | python3 -c '
import sys, yaml
cfg = yaml.safe_load(sys.stdin)
for name, svc in cfg["services"].items():
    if "inferencebench/bench" in svc.get("image", "") and svc.get("command"):
        print(name + "\t" + "\x1f".join(svc["command"]))
' | while IFS=$'\t' read -r name cmd; do
  IFS=$'\x1f' read -r -a args <<<"$cmd"
  if ! out=$("$bench" "${args[@]}" --help 2>&1 >/dev/null); then
    echo "compose service $name: bench ${args[*]}: $out"
    exit 1
  fi
  echo "ok  $name: bench ${args[*]}"
done

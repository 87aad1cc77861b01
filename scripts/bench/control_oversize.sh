#!/usr/bin/env bash
# Memory cost of oversized control requests: starts a supervisor (one
# stopped instance), prints its RSS, sends N requests just over the
# application limit (each answered too_large) and N at the limit (answered
# bad_request: unknown field), and prints the RSS after each batch.
# Usage: scripts/bench/control_oversize.sh [requests=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
N="${1:-1000}"
cmake --build "$BUILD_DIR" --target wa-supervisor wactl >/dev/null
dir="$(mktemp -d /tmp/wab.XXXXXX)"
sup=""
cleanup() {
  if [[ -n "$sup" ]]; then kill "$sup" 2>/dev/null || true; wait "$sup" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
cat >"$dir/config.json" <<JSON
{"run_dir": "$dir/run", "data_dir": "$dir/data", "instances": [{"profile": "alpha", "autostart": false}]}
JSON
"$BUILD_DIR/bin/wa-supervisor" --config "$dir/config.json" 2>"$dir/supervisor.log" &
sup=$!
wactl=("$BUILD_DIR/bin/wactl" --run-dir "$dir/run")
for _ in $(seq 100); do "${wactl[@]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
rss() { awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$sup/status"; }
# A ping padded to `bytes` bytes of JSON.
request() { printf '{"cmd":"ping","pad":"%s"}' "$(head -c "$1" /dev/zero | tr '\0' a)"; }
batch() {  # name, request file, expected error code
  local ok=0
  for _ in $(seq "$N"); do
    out="$("${wactl[@]}" call - <"$2" 2>/dev/null || true)"  # exit 2: an error reply
    [[ "$out" == *"\"code\":\"$3\""* ]] && ok=$((ok + 1))
  done
  echo "after $N $1: RSS $(rss) ($ok answered $3)"
}
echo "supervisor pid $sup, idle: RSS $(rss)"
request $((300 * 1024)) >"$dir/over.json"   # over 256 KiB, under the transport limit
request $((256 * 1024 - 64)) >"$dir/at.json" # at the limit: parsed, then refused
batch "requests of $(stat -c %s "$dir/over.json") bytes" "$dir/over.json" too_large
batch "requests of $(stat -c %s "$dir/at.json") bytes" "$dir/at.json" bad_request
"${wactl[@]}" ping >/dev/null && echo "supervisor still answers ping"

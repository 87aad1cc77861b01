#!/usr/bin/env bash
# wa-testserver load: connections held, memory per connection, 1:1 routing
# latency p50/p99 and messages routed per second, measured by bench_testserver
# (a C++ client on wa_noise + wa_binary that pairs every device through the
# real protocol and the admin socket).
#   BUILD_DIR=/path scripts/bench/testserver.sh [connections] [messages]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
CONNS=${1:-1000}
MSGS=${2:-20000}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" -j2 wa-testserver bench_testserver >/dev/null
# Each held connection is one fd on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
STATE=$(mktemp -d /tmp/wats-bench-XXXXXX)
# The load client speaks the 2024 phone-number protocol.
"$BUILD_DIR/bin/wa-testserver" serve --listen 127.0.0.1:0 --state "$STATE" --addressing pn --max-connections $((CONNS + 64)) 2>"$STATE.log" &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$STATE" "$STATE.log"; }
trap cleanup EXIT
for _ in $(seq 100); do [[ -f $STATE/ready ]] && break; sleep 0.1; done
[[ -f $STATE/ready ]] || { echo "server did not start"; cat "$STATE.log"; exit 1; }
echo "# wa-testserver bench ($(uname -m), $(nproc) cpu, fd limit $(ulimit -n)), $CONNS connections, $MSGS messages"
"$BUILD_DIR/bin/bench_testserver" --state "$STATE" --pid "$PID" --connections "$CONNS" --messages "$MSGS"

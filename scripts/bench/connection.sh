#!/usr/bin/env bash
# The connection worker against the local wa-testserver.
#   BUILD_DIR=/path scripts/bench/connection.sh [cycles]
#       connect -> `open`: socket-level reconnects measured by the worker, and
#       full instance restarts measured from the control command to `open`.
#   scripts/bench/connection.sh flood [senders] [messages_per_sender]
#       one account flooded by many senders (pre-encrypted, real Signal):
#       messages decrypted + stored + receipted per second.
#   scripts/bench/connection.sh idle [accounts]
#       per connected account: MemAvailable drop (test server's growth
#       subtracted), PSS, threads per worker, idle CPU of the whole tree and
#       wakeups per thread over BENCH_IDLE_S seconds (default 60).
#   scripts/bench/connection.sh cold-start [accounts]
#       pair them, restart the supervisor: time to all `open`, most logins/s
#       (BENCH_START='{"max_connecting":N,"jitter_ms":M}' sets `start`).
#   Both raise kernel.pid_max when run as root (and say so).
#   scripts/bench/connection.sh kill [cycles]
#       kill -9 of the connection worker -> `connection open` again, p50/p99.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
case "${1:-}" in
  idle|cold-start)
    ninja -C "$BUILD_DIR" -j1 bench_scale wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    "$BUILD_DIR/bin/bench_scale" "$BUILD_DIR/bin" "$@"
    ;;
  flood|kill)
    ninja -C "$BUILD_DIR" -j2 bench_receive wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    "$BUILD_DIR/bin/bench_receive" "$BUILD_DIR/bin" "$@"
    ;;
  *)
    CYCLES=${1:-20}
    ninja -C "$BUILD_DIR" -j2 bench_connect wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    "$BUILD_DIR/bin/bench_connect" "$BUILD_DIR/bin" "$CYCLES"
    ;;
esac

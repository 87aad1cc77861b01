#!/usr/bin/env bash
# Connect -> `open` time of a paired account against the local wa-testserver:
# socket-level reconnects measured by the worker, and full instance restarts
# measured from the control command to the `open` event.
#   BUILD_DIR=/path scripts/bench/connection.sh [cycles]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
CYCLES=${1:-20}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" -j2 bench_connect wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
"$BUILD_DIR/bin/bench_connect" "$BUILD_DIR/bin" "$CYCLES"

#!/usr/bin/env bash
# Noise transport throughput (1 KiB and 64 KiB frames, encrypt+decrypt) and
# full handshakes per second. Builds bench_noise in a Release-ish tree.
#   BUILD_DIR=/path scripts/bench/noise.sh [seconds per measurement]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SECS=${1:-2}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" -j2 bench_noise >/dev/null
echo "# noise bench ($(uname -m), $(nproc) cpu, $(openssl version | cut -d' ' -f1-2))"
"$BUILD_DIR/bin/bench_noise" "$SECS"

#!/bin/sh
# Message-layer costs: per-device fan-out encryption, 1:1 and group
# decryption, and one whole send_message with a warm device cache.
#   scripts/bench/message.sh [iterations]     (BUILD_DIR defaults to build-bench)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
iters=${1:-200}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" bench_message >/dev/null
"$build/bin/bench_message" "$iters"

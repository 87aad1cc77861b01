#!/usr/bin/env bash
# Signal encrypt/decrypt throughput including the SQLite transaction that
# every operation runs in. Builds signal_bench, then runs it.
#   BUILD_DIR (default: build)  N (default: 2000)  BENCH_DIR (default: $TMPDIR or /tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
N="${N:-2000}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" signal_bench >/dev/null
echo "machine: $(nproc) cpus, $(uname -sr)"
echo "== on disk ($BENCH_DIR, $(df -T "$BENCH_DIR" | awk 'NR==2 {print $2}')): includes fsync for FULL commits"
"$BUILD_DIR/bin/signal_bench" --n "$N" --dir "$BENCH_DIR" 2>/dev/null
# tmpfs makes fsync free: what remains is crypto + SQLite CPU cost.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  echo "== on tmpfs (/dev/shm): CPU cost only"
  "$BUILD_DIR/bin/signal_bench" --n "$N" --dir /dev/shm 2>/dev/null
fi

#!/usr/bin/env bash
# Supervision spine benchmarks: restart latency, sender fork, idle PSS,
# ping round trip (16 clients), N instances (default 200).
# Usage: scripts/bench/supervisor.sh [rounds=50] [instances=200]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${BUILD_DIR:-build}"
cmake --build "$BUILD_DIR" --target bench_supervisor >/dev/null
ulimit -n 65536 2>/dev/null || true
"$BUILD_DIR/bin/bench_supervisor" "${1:-50}" "${2:-200}"

#!/usr/bin/env bash
# Media upload and download, ours vs stock Baileys on the same file in the
# same run (bench/media/media_bench.mjs says what each row measures).
#   BUILD_DIR=/path scripts/bench/media.sh [size MB=100]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" -j2 wa-testserver wa-supervisor wa-connection wa-sender wactl >/dev/null
exec node "$ROOT/bench/media/media_bench.mjs" "$ROOT/tests/interop" "$BUILD_DIR/bin/wa-testserver" "$BUILD_DIR/bin" "${1:-100}"

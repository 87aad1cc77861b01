#!/bin/sh
# Node codec throughput (encode + decode per second), ours vs Baileys, on the
# interop corpus: `all` (incl. a 1 MiB node) and `small` (stanza-sized nodes).
#   scripts/bench/node_codec.sh [seconds]     (BUILD_DIR defaults to build-bench)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
seconds=${1:-3}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" bench_node_codec >/dev/null
dir=$(mktemp -d /tmp/node-codec.XXXXXX)
trap 'rm -rf "$dir"' EXIT
node "$root/bench/binary/baileys_codec.mjs" "$dir/corpus" "$seconds"
for set in all small; do
  "$build/bin/bench_node_codec" "$dir/corpus.$set.jsonl" "$seconds" "$set"
done

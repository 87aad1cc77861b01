#!/usr/bin/env bash
# The CPU of one wakeup of a sleeping process with hot caches, the floor under
# what an idle connection worker's wakeups cost (scripts/bench/connection.sh idle).
#   scripts/bench/wakeup.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/wa-wakeup-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 "$ROOT/bench/wakeup/wakeup_cost.c" -o "$WORK/wakeup_cost"
"$WORK/wakeup_cost"

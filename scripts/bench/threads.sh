#!/usr/bin/env bash
# Threads per process: Debian's libnng1 (pools sized by the core count) vs the
# project's rebuild of the same source (scripts/setup.sh, /opt/wa/nng), with
# the real core count and with 64 cores forced (a bind-mounted
# /sys/devices/system/cpu/online in a private mount namespace; needs root).
#   scripts/bench/threads.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/wa-threads-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SRC=$ROOT/bench/threads/nng_threads.c
cc -O2 "$SRC" -o "$WORK/debian" -lnng
cc -O2 "$SRC" -I/opt/wa/nng/include -o "$WORK/ours" /opt/wa/nng/lib/libnng.a -lpthread -latomic
echo "0-63" >"$WORK/online"
echo "| NNG build | cores seen | threads in the process |"
echo "| --- | --- | --- |"
for lib in debian ours; do
  read -r cores n < <("$WORK/$lib" "ipc://$WORK/$lib.ipc")
  echo "| $lib | $cores | $n |"
  if [[ $(id -u) -eq 0 ]]; then
    read -r cores n < <(unshare -m sh -c "mount --make-rprivate / && mount --bind '$WORK/online' /sys/devices/system/cpu/online && exec '$WORK/$lib' 'ipc://$WORK/$lib-64.ipc'")
    echo "| $lib | $cores (forced) | $n |"
  fi
done

#!/usr/bin/env bash
# One request/reply round trip between two processes: over NNG (the
# project's build, /opt/wa/nng, as the links use it) and over a bare AF_UNIX
# socket pair (the kernel's floor). CPU of both processes and wall time per
# round trip: what each of a send's four hops costs at least.
#   scripts/bench/ipc.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/wa-ipc-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 -Wall -Werror "$ROOT/bench/ipc/nng_hop.c" -I/opt/wa/nng/include -o "$WORK/nng_hop" \
  /opt/wa/nng/lib/libnng.a -lpthread -latomic
"$WORK/nng_hop" "ipc://$WORK/hop.ipc"

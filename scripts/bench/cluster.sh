#!/usr/bin/env bash
# Deployments on PostgreSQL (docs/ARCHITECTURE.md, "Cluster"), against a
# private PostgreSQL 15 cluster with its durable defaults (fsync on), on
# this machine:
#   scripts/bench/cluster.sh flood [senders] [messages_per_sender]
#       the inbound flood of connection.sh, SQLite and then PostgreSQL
#   scripts/bench/cluster.sh failover [accounts]
#       three supervisors, kill -9 of the one running the accounts: time from
#       the kill to each account `open` on another host (p50/p99), with the
#       test's checks (nothing lost or doubled, sends afterwards)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
work=$(mktemp -d /tmp/wa-bench-cluster.XXXXXX)
state=$work/pg.state
cleanup() { "$ROOT/tests/support/pg_server.sh" stop "$state" || true; rm -rf "$work"; }
trap cleanup EXIT
PG_DURABLE=1 "$ROOT/tests/support/pg_server.sh" start "$state"
head -1 "$state" >"$work/conninfo"
chmod 600 "$work/conninfo"
case "${1:-flood}" in
  flood)
    shift || true
    ninja -C "$BUILD_DIR" -j2 bench_receive wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    echo "== SQLite"
    "$BUILD_DIR/bin/bench_receive" "$BUILD_DIR/bin" flood "$@"
    echo "== PostgreSQL"
    BENCH_PG_CONNINFO_FILE=$work/conninfo "$BUILD_DIR/bin/bench_receive" "$BUILD_DIR/bin" flood "$@"
    ;;
  failover)
    ninja -C "$BUILD_DIR" -j2 process_cluster wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    WA_TEST_PG_STATE=$state WA_CLUSTER_ACCOUNTS=${2:-30} "$BUILD_DIR/bin/process_cluster" \
      -tc="cluster: three supervisors*" 2>&1 | grep -E "failover_ms|test cases|ERROR"
    ;;
  *)
    echo "usage: scripts/bench/cluster.sh flood|failover [...]" >&2
    exit 2
    ;;
esac

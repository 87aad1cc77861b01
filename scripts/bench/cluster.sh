#!/usr/bin/env bash
# Deployments on PostgreSQL (docs/ARCHITECTURE.md, "Cluster"), against a
# private PostgreSQL 15 cluster with its durable defaults (fsync on), on
# this machine:
#   scripts/bench/cluster.sh flood [senders] [messages_per_sender]
#       the inbound flood of connection.sh, SQLite and then PostgreSQL
#   scripts/bench/cluster.sh send [recipients] [messages] [concurrency]
#       send.sh's warm and cold sends (ours only), SQLite and then PostgreSQL
#   scripts/bench/cluster.sh idle [accounts]
#       connection.sh idle on PostgreSQL (accounts per host: the tree's PSS
#       per account), plus the peak PSS of the database's own backends (one
#       session per running worker)
#   scripts/bench/cluster.sh failover-baileys [accounts]
#       the same with stock Baileys clients as the peers
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
  send)
    shift || true
    echo "== SQLite"
    BENCH_SKIP_BAILEYS=1 BUILD_DIR=$BUILD_DIR "$ROOT/scripts/bench/send.sh" "${1:-50}" "${2:-1000}" "${3:-16}"
    echo "== PostgreSQL"
    BENCH_SKIP_BAILEYS=1 BUILD_DIR=$BUILD_DIR BENCH_PG_CONNINFO_FILE=$work/conninfo \
      "$ROOT/scripts/bench/send.sh" "${1:-50}" "${2:-1000}" "${3:-16}"
    ;;
  idle)
    ninja -C "$BUILD_DIR" -j1 bench_scale wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    # Each running worker holds a few sessions (docs/BENCHMARKS.md): room
    # for more than the test cluster's 600.
    /usr/lib/postgresql/15/bin/psql "$(head -1 "$state")" -qc "ALTER SYSTEM SET max_connections = 2000" >/dev/null
    "$ROOT/tests/support/pg_server.sh" pause "$state"
    "$ROOT/tests/support/pg_server.sh" resume "$state"
    postmaster=$(head -1 "$(sed -n 2p "$state")/data/postmaster.pid")
    pg_pss() {  # "kB sessions": the postmaster and every backend
      local total=0 n=0 p
      for p in $postmaster $(pgrep -P "$postmaster"); do
        total=$((total + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
        n=$((n + 1))
      done
      echo "$total $n"
    }
    read -r base base_n < <(pg_pss)
    peak_file=$work/pg_peak
    echo "$base $base_n" >"$peak_file"
    ( while [[ -f $peak_file ]]; do
        read -r now n < <(pg_pss)
        read -r best _ <"$peak_file" || best=0
        [[ $now -gt $best ]] && echo "$now $n" >"$peak_file"
        sleep 2
      done ) &
    sampler=$!
    BENCH_PG_CONNINFO_FILE=$work/conninfo "$BUILD_DIR/bin/bench_scale" "$BUILD_DIR/bin" idle "${2:-200}"
    read -r peak peak_n <"$peak_file"
    rm -f "$peak_file"
    wait "$sampler" || true
    echo "postgres processes: $base_n using PSS $base kB before, $peak_n using $peak kB at the peak with the accounts up"
    ;;
  failover-baileys)
    # The same with two stock Baileys clients as the peers (the interop test).
    ninja -C "$BUILD_DIR" -j2 wa-supervisor wa-connection wa-sender wactl wa-testserver >/dev/null
    WATS_SERVE_ARGS="--addressing pn" WA_TEST_PG_STATE=$state WA_CLUSTER_BAILEYS_ACCOUNTS=${2:-30} \
      node "$ROOT/tests/interop/testserver/cluster_with_baileys.mjs" "$ROOT/tests/interop" \
      "$BUILD_DIR/bin/wa-testserver" "$BUILD_DIR/bin" 2>&1 | grep -E "failover_ms|: ok|FAIL"
    ;;
  failover)
    ninja -C "$BUILD_DIR" -j2 process_cluster wa-supervisor wa-connection wa-sender wa-testserver >/dev/null
    WA_TEST_PG_STATE=$state WA_CLUSTER_ACCOUNTS=${2:-30} "$BUILD_DIR/bin/process_cluster" \
      -tc="cluster: three supervisors*" 2>&1 | grep -E "failover_ms|test cases|ERROR"
    ;;
  *)
    echo "usage: scripts/bench/cluster.sh flood|send|idle|failover|failover-baileys [...]" >&2
    exit 2
    ;;
esac

#!/bin/sh
# A private PostgreSQL 15 cluster for one test run (docs/ARCHITECTURE.md,
# "Cluster"): started once by the `pg.start` CTest fixture, shared by every
# test that names the fixture, stopped by `pg.stop`. It listens on a Unix
# socket in its own directory only (no TCP port to collide with anything),
# trusts local connections, and runs without fsync: tests check our
# transactions, not the disk. PG_DURABLE=1 keeps PostgreSQL's durable
# defaults (the benchmarks, scripts/bench/cluster.sh). PG_COMMIT_TS=1 has it
# record each transaction's commit time (track_commit_timestamp), so a test
# can tell when a row was committed (pg_xact_commit_timestamp(xmin)).
#
#   pg_server.sh start STATE   start a cluster; STATE (a file) gets the
#                              conninfo on line 1 and the cluster directory
#                              on line 2
#   pg_server.sh stop STATE    stop it and remove its directory
#   pg_server.sh pause|resume STATE   stop/start the server keeping its data
#                              (an outage: resume starts it again on the same
#                              data directory and socket)
set -eu
cmd=$1
state=$2
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/pg_ctl" ] || { echo "pg_server: PostgreSQL 15 is not installed (scripts/setup.sh)" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, the server runs as `postgres`.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

dir_of() { sed -n 2p "$state" 2>/dev/null || true; }

stop_dir() {
  d=$1
  [ -n "$d" ] && [ -d "$d" ] || return 0
  as_owner "$bin/pg_ctl" -D "$d/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$d"
}

case "$cmd" in
  start)
    stop_dir "$(dir_of)"  # a run that died before its clean-up
    d=$(mktemp -d /tmp/wa-pg.XXXXXX)
    mkdir -p "$d/run"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$d"
    chmod 0700 "$d"
    [ "$(id -u)" -eq 0 ] && chmod 0711 "$d"  # root's tests reach the socket directory inside
    chmod 0777 "$d/run"
    as_owner "$bin/initdb" -D "$d/data" -U wa --auth=trust -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 ||
      { cat "$d/initdb.log" >&2; exit 1; }
    cat >>"$d/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$d/run'
max_connections = 600
shared_buffers = 64MB
log_min_messages = warning
CONF
    if [ "${PG_COMMIT_TS:-0}" = 1 ]; then
      printf 'track_commit_timestamp = on\n' >>"$d/data/postgresql.conf"
    fi
    if [ "${PG_DURABLE:-0}" != 1 ]; then
      printf 'fsync = off\nfull_page_writes = off\n' >>"$d/data/postgresql.conf"
    fi
    as_owner "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null ||
      { cat "$d/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h "$d/run" -U wa wa
    printf 'host=%s/run user=wa dbname=wa\n%s\n' "$d" "$d" >"$state"
    ;;
  stop)
    stop_dir "$(dir_of)"
    rm -f "$state"
    ;;
  pause)
    d=$(dir_of)
    as_owner "$bin/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null
    ;;
  resume)
    d=$(dir_of)
    as_owner "$bin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 start >/dev/null
    ;;
  *)
    echo "usage: pg_server.sh start|stop|pause|resume STATE" >&2
    exit 2
    ;;
esac

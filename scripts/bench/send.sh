#!/usr/bin/env bash
# The send path end to end, ours vs the reference client in the same run:
# one wa-testserver, RECIPIENTS recipient accounts (each with a paired
# companion device), then
#   - our account (wa-supervisor -> wa-connection -> wa-sender) and
#   - a stock Baileys account
# each send a cold message to every recipient (new sender, usync, bundle,
# pkmsg: latency p50/p99), then MESSAGES warm sends with CONCURRENCY
# outstanding (sends acked per second). Our sender workers' PSS is sampled.
#   BUILD_DIR=/path scripts/bench/send.sh [recipients=100] [messages=2000] [concurrency=16] [max senders=recipients]
# "Warm" means sessions, device lists AND sender processes: with fewer
# senders than recipients, round-robin sends make every send fork a sender.
# BENCH_PG_CONNINFO_FILE=FILE: our account's state in PostgreSQL (scripts/
# bench/cluster.sh send); BENCH_SKIP_BAILEYS=1: ours only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RECIPIENTS=${1:-100}
MESSAGES=${2:-2000}
CONCURRENCY=${3:-16}
SENDERS=${4:-$RECIPIENTS}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$BUILD_DIR" -j2 wa-testserver wa-supervisor wa-connection wa-sender wactl bench_send >/dev/null
BIN=$BUILD_DIR/bin
WORK=$(mktemp -d /tmp/wa-send-bench-XXXXXX)
STATE=$WORK/ts
# The 2024 phone-number server: stock Baileys (the comparison) writes to the
# numbers it is given, which the LID-first default refuses between migrated
# accounts (docs/PROTOCOL.md §12.7).
"$BIN/wa-testserver" serve --listen 127.0.0.1:0 --state "$STATE" --addressing pn 2>"$WORK/ts.log" &
TS=$!
SUP=
cleanup() {
  [[ -n $SUP ]] && kill "$SUP" 2>/dev/null && wait "$SUP" 2>/dev/null
  kill "$TS" 2>/dev/null || true; wait "$TS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do [[ -f $STATE/ready ]] && break; sleep 0.1; done
[[ -f $STATE/ready ]] || { echo "server did not start"; cat "$WORK/ts.log"; exit 1; }
PREFIX=1557
"$BIN/bench_send" prepare --state "$STATE" --prefix $PREFIX --count "$RECIPIENTS"

STORE_JSON=
if [[ -n ${BENCH_PG_CONNINFO_FILE:-} ]]; then
  STORE_JSON=", \"store\": {\"engine\": \"postgres\", \"conninfo_file\": \"$BENCH_PG_CONNINFO_FILE\"}, \"cluster\": {\"host_id\": \"bench\"}"
fi
cat >"$WORK/config.json" <<JSON
{"run_dir": "$WORK/run", "data_dir": "$WORK/data",
 "server": {"url": "ws://127.0.0.1:$(cat "$STATE/port")/ws/chat", "root_public_key": "$(head -c 64 "$STATE/root.pub")"},
 "senders": {"max_per_instance": $SENDERS, "idle_ms": 60000},
 "instances": [{"profile": "bench", "autostart": true}]${STORE_JSON}}
JSON
"$BIN/wa-supervisor" --config "$WORK/config.json" 2>"$WORK/sup.log" &
SUP=$!
for _ in $(seq 100); do "$BIN/wactl" --run-dir "$WORK/run" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "# send bench ($(uname -m), $(nproc) cpu): $RECIPIENTS recipients, $MESSAGES warm sends, $CONCURRENCY outstanding, max $SENDERS senders"
"$BIN/bench_send" run --state "$STATE" --run-dir "$WORK/run" --profile bench --phone 15569990001 \
  --prefix $PREFIX --count "$RECIPIENTS" --messages "$MESSAGES" --concurrency "$CONCURRENCY" \
  --server-pid "$TS" --supervisor-pid "$SUP"
echo "load average: $(cat /proc/loadavg)"
CONN=$("$BIN/wactl" --run-dir "$WORK/run" call '{"cmd":"status","profile":"bench"}' |
  sed -n 's/.*"connection_pid":\([0-9]*\).*/\1/p')
[[ -n $CONN ]] && echo "connection worker PSS after the run: $(awk '/^Pss:/{print $2}' /proc/$CONN/smaps_rollup) kB"
[[ -n ${BENCH_SKIP_BAILEYS:-} ]] && exit 0
# The reference client on the same server, to the same recipients.
node "$ROOT/bench/message/send_baileys.mjs" "$ROOT/tests/interop" "$BIN/wa-testserver" "$STATE" 15569990002 \
  $PREFIX "$RECIPIENTS" "$MESSAGES" "$CONCURRENCY"

#!/usr/bin/env bash
# The main job, on this machine: a supervisor keeping two accounts, one of
# which crashes and is restarted (rest_for_one) while the other is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
BIN="$PWD/build/bin"

DEMO=$(mktemp -d /tmp/wa-demo.XXXXXX)
EVENTS_PID=""
cleanup() {
  [ -n "$EVENTS_PID" ] && kill "$EVENTS_PID" 2>/dev/null
  "$BIN/wactl" --run-dir "$DEMO/run" shutdown >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$DEMO"
}
trap cleanup EXIT
cat > "$DEMO/config.json" <<JSON
{
  "run_dir": "$DEMO/run",
  "data_dir": "$DEMO/data",
  "restart": {"intensity": 5, "period_s": 60, "backoff_min_ms": 200, "backoff_max_ms": 5000},
  "senders": {"max_per_instance": 4, "idle_ms": 30000},
  "instances": [{"profile": "sales"}, {"profile": "support"}]
}
JSON

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wactl() { "$BIN/wactl" --run-dir "$DEMO/run" "$@"; }
# Polls a condition (1 s budget per second of timeout) instead of sleeping blindly.
wait_for() { local t=$1; shift; for _ in $(seq $((t * 20))); do "$@" && return 0; sleep 0.05; done; return 1; }
pid_of() { wactl --json status "$1" | sed -n 's/.*"connection_pid":\([0-9]*\).*/\1/p'; }
running() { wactl --json status "$1" 2>/dev/null | grep -q '"state":"running"'; }

say "starting wa-supervisor with two accounts (sales, support)"
"$BIN/wa-supervisor" --config "$DEMO/config.json" 2> "$DEMO/supervisor.log" &
wait_for 10 running sales && wait_for 10 running support
wactl events > "$DEMO/events.jsonl" &
EVENTS_PID=$!
wactl status

say "a send runs the real path: the connection worker parks it, the supervisor forks a sender"
wactl send sales 15551234567@s.whatsapp.net "hello" || true
wactl status

SALES=$(pid_of sales); SUPPORT=$(pid_of support)
say "crashing the 'sales' connection worker (kill -9 $SALES)"
kill -9 "$SALES"
restarted() { local p; p=$(pid_of sales); [ -n "$p" ] && [ "$p" != "$SALES" ] && running sales; }
wait_for 10 restarted
wactl status
NEW=$(pid_of sales)
echo "sales: $SALES -> $NEW (restarted, its sender torn down with it); support: $SUPPORT -> $(pid_of support) (untouched)"

say "events seen meanwhile (wactl events)"
cat "$DEMO/events.jsonl"

say "orderly shutdown"
wactl shutdown

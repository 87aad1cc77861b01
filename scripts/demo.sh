#!/usr/bin/env bash
# The main job, on this machine: the local WhatsApp-compatible server, a
# supervisor keeping two accounts linked to it, a message between them, and
# a crash of one account that the other never notices (rest_for_one).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${DEMO_SKIP_SETUP:-}" != 1 ]; then
  echo "== set-up and build (the first run builds everything: several minutes; log in build/setup.log)"
  mkdir -p build
  scripts/setup.sh > build/setup.log 2>&1 || { tail -30 build/setup.log; exit 1; }
fi
BIN="${DEMO_BIN:-$PWD/build/bin}"

# DEMO_DIR: where the demo keeps its server, accounts and logs (kept
# afterwards when given; a fresh temporary directory otherwise).
if [ -n "${DEMO_DIR:-}" ]; then DEMO=$DEMO_DIR; mkdir -p "$DEMO"; else DEMO=$(mktemp -d /tmp/wa-demo.XXXXXX); fi
PIDS=()
cleanup() {
  local rc=$?
  "$BIN/wactl" --run-dir "$DEMO/run" shutdown >/dev/null 2>&1 || true
  # Every background job is a binary started directly (never a shell
  # function), so these are the real processes, not subshells around them.
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    printf '\ndemo failed (exit %s); logs kept in %s (server.log, supervisor.log, events.jsonl)\n' "$rc" "$DEMO" >&2
  elif [ -z "${DEMO_DIR:-}" ]; then
    rm -rf "$DEMO"
  fi
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wactl() { "$BIN/wactl" --run-dir "$DEMO/run" "$@"; }
# Polls a condition every 50 ms, up to $1 seconds.
wait_for() { local t=$1; shift; for _ in $(seq $((t * 20))); do "$@" && return 0; sleep 0.05; done; return 1; }
str_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -1; }
num_field() { sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p" | head -1; }
pid_of() { wactl --json status "$1" | num_field connection_pid; }
state_is() { wactl --json status "$1" 2>/dev/null | grep -q "\"state\":\"$2\""; }
has_event() { grep -q "\"profile\":\"$1\".*\"type\":\"$2\"" "$DEMO/events.jsonl" 2>/dev/null && grep "\"profile\":\"$1\"" "$DEMO/events.jsonl" | grep -q "$3"; }

say "starting wa-testserver (the local WhatsApp-compatible server)"
"$BIN/wa-testserver" serve --listen 127.0.0.1:0 --state "$DEMO/server" 2> "$DEMO/server.log" &
PIDS+=($!)
wait_for 10 test -s "$DEMO/server/port"
PORT=$(cat "$DEMO/server/port"); ROOT=$(head -c 64 "$DEMO/server/root.pub")
echo "listening on ws://127.0.0.1:$PORT/ws/chat, root key $ROOT"

cat > "$DEMO/config.json" <<JSON
{
  "run_dir": "$DEMO/run",
  "data_dir": "$DEMO/data",
  "server": {"url": "ws://127.0.0.1:$PORT/ws/chat", "root_public_key": "$ROOT",
             "media_ca_file": "$DEMO/server/media-ca.pem"},
  "media": {"allowed_roots": ["$DEMO/outbox"]},
  "restart": {"intensity": 5, "period_s": 60, "backoff_min_ms": 200, "backoff_max_ms": 5000},
  "senders": {"max_per_instance": 4, "idle_ms": 30000},
  "instances": [{"profile": "sales", "autostart": false}, {"profile": "support", "autostart": false}]
}
JSON

say "starting wa-supervisor with two accounts (sales, support)"
"$BIN/wa-supervisor" --config "$DEMO/config.json" 2> "$DEMO/supervisor.log" &
PIDS+=($!)
supervisor_up() { wactl ping >/dev/null 2>&1; }
wait_for 10 supervisor_up
"$BIN/wactl" --run-dir "$DEMO/run" events > "$DEMO/events.jsonl" &
PIDS+=($!)

pair() {  # profile phone
  local qr
  # Start the account only now, so the event subscriber sees its first QR
  # (PUB/SUB drops what is published before a subscriber is connected).
  wactl start "$1" >/dev/null
  wait_for 5 grep -q "\"profile\":\"$1\".*\"type\":\"qr\"" "$DEMO/events.jsonl" ||
    { wactl restart "$1" >/dev/null; wait_for 20 grep -q "\"profile\":\"$1\".*\"type\":\"qr\"" "$DEMO/events.jsonl"; }
  qr=$(grep "\"profile\":\"$1\"" "$DEMO/events.jsonl" | grep '"type":"qr"' | tail -1 | str_field qr)
  echo "$1: QR shown; the phone +$2 scans it"
  "$BIN/wa-testserver" scan --state "$DEMO/server" --phone "$2" --qr "$qr" >/dev/null
  wait_for 20 has_event "$1" connection '"state":"open"'
  grep "\"profile\":\"$1\"" "$DEMO/events.jsonl" | grep '"state":"open"' | tail -1
}
say "pairing both accounts by QR (wa-testserver plays the phones)"
pair sales 15550001
pair support 15550002
wactl status

say "sales sends to support: answered only when the server acknowledges the message"
wactl send sales 15550002@s.whatsapp.net "hello from sales"
got_message() { grep '"profile":"support"' "$DEMO/events.jsonl" | grep -q '"type":"message"'; }
wait_for 10 got_message
echo "support decrypted it, stored it in its inbox, then sent the delivery receipt:"
grep '"profile":"support"' "$DEMO/events.jsonl" | grep '"type":"message"' | tail -1

SALES=$(pid_of sales); SUPPORT=$(pid_of support)
say "crashing the 'sales' connection worker (kill -9 $SALES)"
kill -9 "$SALES"
restarted() { local p; p=$(pid_of sales); [ -n "$p" ] && [ "$p" != "$SALES" ] && state_is sales running; }
wait_for 10 restarted
wait_for 20 sh -c "grep '\"profile\":\"sales\"' '$DEMO/events.jsonl' | grep -c '\"state\":\"open\"' | grep -q '^2$'"
wactl status
echo "sales: $SALES -> $(pid_of sales) (restarted, logged in again without re-pairing); support: $SUPPORT -> $(pid_of support) (untouched)"
wactl send sales 15550002@s.whatsapp.net "sales is back"

say "events meanwhile (wactl events; QR codes left out)"
grep -v '"type":"qr"' "$DEMO/events.jsonl" | cut -c1-160

say "a consumer that was away replays support's durable event log (wactl events --since 0)"
two_messages() { [ "$(wactl events --profile support --since 0 --no-follow | grep -c '"type":"message"')" = 2 ]; }
wait_for 10 two_messages
# Stored copies of qr events carry no QR string; they are left out here for brevity.
wactl events --profile support --since 0 --no-follow | grep -v '"type":"qr"' | cut -c1-160

say "sales sends a document (this README) to support, which downloads and checks it"
mkdir -p "$DEMO/outbox" && cp README.md "$DEMO/outbox/README.md"
wactl send-media sales 15550002@s.whatsapp.net "$DEMO/outbox/README.md" --caption "our README"
got_document() { grep '"profile":"support"' "$DEMO/events.jsonl" | grep -q '"msg_type":"document"'; }
wait_for 10 got_document
DOC=$(grep '"profile":"support"' "$DEMO/events.jsonl" | grep '"msg_type":"document"' | tail -1)
echo "$DOC" | cut -c1-200
echo "(the event describes the file and names it; its key stays in support's store)"
wactl download support "$(echo "$DOC" | str_field id)" -o "$DEMO/outbox/README.copy"
cmp "$DEMO/outbox/README.md" "$DEMO/outbox/README.copy" && echo "identical to what sales sent"

say "orderly shutdown"
wactl shutdown

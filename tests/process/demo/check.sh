#!/bin/sh
# The demo as a person runs it (set-up skipped: the binaries are built), and
# what it must leave behind: nothing running, its logs where it said.
# usage: check.sh REPO_DIR BIN_DIR
set -u
REPO=$1; BIN=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
DIR=$(mktemp -d /tmp/wa-demo-test.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

DEMO_SKIP_SETUP=1 DEMO_BIN="$BIN" DEMO_DIR="$DIR/demo" "$REPO/scripts/demo.sh" > "$DIR/out" 2>&1 ||
  { tail -40 "$DIR/out" >&2; fail "demo exited non-zero"; }
grep -q "support decrypted it" "$DIR/out" || fail "demo output has no delivered message"

# No process may outlive the demo: every program it started names its
# directory on its command line (or has its cwd there).
left=""
for p in /proc/[0-9]*; do
  [ "$p" = "/proc/$$" ] && continue
  if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q "$DIR/demo"; then
    left="$left ${p#/proc/}:$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null | cut -c1-80)"
  fi
done
[ -z "$left" ] || fail "processes left behind:$left"

# A failing demo keeps its logs and says where they are.
DEMO_SKIP_SETUP=1 DEMO_BIN="$DIR/no-such-bin" "$REPO/scripts/demo.sh" > "$DIR/out2" 2>&1 && fail "demo with no binaries succeeded"
kept=$(sed -n 's/.*logs kept in \([^ ]*\).*/\1/p' "$DIR/out2" | head -1)
[ -n "$kept" ] && [ -d "$kept" ] || { cat "$DIR/out2" >&2; fail "failed demo did not keep its logs"; }
rm -rf "$kept"
echo "demo: ok"

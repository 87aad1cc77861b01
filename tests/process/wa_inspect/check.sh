#!/bin/sh
# wa-inspect as a person uses it: decode, encode, jid, and bad input.
# usage: check.sh /path/to/wa-inspect
set -u
BIN=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

# docs/PROTOCOL.md §4.6 worked example: the iq ping, flag byte included.
HEX=00f80a1908550429165711fa0003f801f80156
JSON='{"tag":"iq","attrs":{"id":"1","type":"get","xmlns":"w:p","to":"@s.whatsapp.net"},"content":[{"tag":"ping","attrs":{},"content":null}]}'
out=$(echo "$HEX" | "$BIN" decode) || fail "decode exited $?"
[ "$out" = "$JSON" ] || fail "decode gave $out"
out=$(echo "$JSON" | "$BIN" encode) || fail "encode exited $?"
[ "$out" = "$HEX" ] || fail "encode gave $out"
out=$(echo '{"tag":"enc","attrs":{"v":"2","type":"pkmsg"},"content":{"bytes":"010203"}}' | "$BIN" encode) || fail "encode bytes"
[ "$out" = "00f8061d51450453fc03010203" ] || fail "enc example gave $out"
out=$("$BIN" jid 123456:7@lid) || fail "jid exited $?"
echo "$out" | grep -q '"device":7' || fail "jid gave $out"

# Bad input: a message on stderr, exit 1, nothing on stdout.
for case in "decode:zz" "decode:00f8" "encode:{\"tag\":" "encode:[1,2]"; do
  mode=${case%%:*}; input=${case#*:}
  out=$(printf '%s\n' "$input" | "$BIN" "$mode" 2>/tmp/wa-inspect-err.$$); rc=$?
  [ "$rc" = 1 ] || fail "$mode '$input' exited $rc"
  [ -z "$out" ] || fail "$mode '$input' printed $out"
  [ -s /tmp/wa-inspect-err.$$ ] || fail "$mode '$input' gave no error message"
done
"$BIN" jid 'not-a-jid' >/dev/null 2>&1 && fail "bad jid accepted"
rm -f /tmp/wa-inspect-err.$$
echo "wa-inspect: ok"

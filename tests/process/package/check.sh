#!/bin/sh
# The .deb as an operator installs it: build it with CPack, install it with
# dpkg, check the service account, the layout and the configuration, run the
# demo against the installed programs (workers found under libexec), then
# purge it. Needs root and dpkg; says so and passes otherwise.
# usage: check.sh REPO_DIR BUILD_DIR
set -u
REPO=$1; BUILD=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "skipped: installing a package needs root"; exit 0; }
command -v dpkg >/dev/null || { echo "skipped: no dpkg"; exit 0; }
if dpkg-query -W -f='${Status}' wa-supervisor 2>/dev/null | grep -q "install ok"; then
  echo "skipped: a wa-supervisor package is installed on this machine; not touching it"; exit 0
fi
DIR=$(mktemp -d /tmp/wa-pkg-test.XXXXXX)
cleanup() { dpkg --purge wa-supervisor >/dev/null 2>&1; rm -rf "$DIR"; }
trap cleanup EXIT

(cd "$BUILD" && cpack -G DEB -B "$DIR/pkg" > "$DIR/cpack.log" 2>&1) || { tail -20 "$DIR/cpack.log"; fail "cpack failed"; }
DEB=$(ls "$DIR"/pkg/wa-supervisor_*.deb) || fail "no .deb produced"
dpkg -i "$DEB" > "$DIR/dpkg.log" 2>&1 || { cat "$DIR/dpkg.log"; fail "dpkg -i failed"; }

getent passwd wa-supervisor >/dev/null || fail "no wa-supervisor system user"
getent group wa-supervisor >/dev/null || fail "no wa-supervisor group"
[ -x /usr/libexec/wa-supervisor/wa-connection ] || fail "worker not under /usr/libexec/wa-supervisor"
[ -f /usr/lib/systemd/system/wa-supervisor.service ] || fail "no systemd unit"
grep -q '^ExecStart=/usr/bin/wa-supervisor ' /usr/lib/systemd/system/wa-supervisor.service || fail "unit does not start /usr/bin/wa-supervisor"
grep -q '^User=wa-supervisor' /usr/lib/systemd/system/wa-supervisor.service || fail "unit runs as root"
[ -x /usr/bin/wa-http ] || fail "no /usr/bin/wa-http"
grep -q '^ExecStart=/usr/bin/wa-http ' /usr/lib/systemd/system/wa-http.service || fail "no wa-http unit starting /usr/bin/wa-http"
[ -f /etc/wa-supervisor/config.json ] || fail "no /etc/wa-supervisor/config.json"
[ "$(stat -c %G /etc/wa-supervisor/config.json)" = wa-supervisor ] || fail "config not readable by the service's group"
/usr/bin/wactl --version | grep -q "^wactl " || fail "wactl --version"
[ -f /usr/lib/systemd/system/wa-webhooks.service ] || fail "no wa-webhooks unit"
grep -q '^ExecStart=/usr/bin/wa-webhooks ' /usr/lib/systemd/system/wa-webhooks.service || fail "wa-webhooks unit does not start /usr/bin/wa-webhooks"
/usr/bin/wa-webhooks --version | grep -q "^wa-webhooks " || fail "wa-webhooks --version"
man -w wactl >/dev/null 2>&1 || [ -f /usr/share/man/man1/wactl.1 ] || [ -f /usr/share/man/man1/wactl.1.gz ] || fail "no man page"

# The service's configuration is valid as shipped: the installed supervisor,
# as the service account, serves it (run and state dirs as systemd makes them).
install -d -m 0750 -o wa-supervisor -g wa-supervisor /run/wa-supervisor
install -d -m 0700 -o wa-supervisor -g wa-supervisor /var/lib/wa-supervisor
setpriv --reuid=wa-supervisor --regid=wa-supervisor --init-groups \
  /usr/bin/wa-supervisor --config /etc/wa-supervisor/config.json > "$DIR/service.log" 2>&1 &
SVC=$!
ok=0
for _ in $(seq 200); do
  if /usr/bin/wactl ping >/dev/null 2>&1; then ok=1; break; fi   # found through /etc/wa-supervisor/config.json
  sleep 0.05
done
[ "$ok" = 1 ] || { cat "$DIR/service.log"; kill "$SVC"; fail "root's wactl could not reach the service (run dir from the config)"; }
# The webhook deliverer, as the service account, beside it (same config file).
setpriv --reuid=wa-supervisor --regid=wa-supervisor --init-groups \
  /usr/bin/wa-webhooks --config /etc/wa-supervisor/config.json > "$DIR/webhooks.log" 2>&1 &
HOOKS=$!
ok=0
for _ in $(seq 200); do
  if grep -q "delivering webhooks" "$DIR/webhooks.log"; then ok=1; break; fi
  sleep 0.05
done
[ "$ok" = 1 ] || { cat "$DIR/webhooks.log"; kill "$HOOKS"; fail "wa-webhooks did not start as the service account"; }
/usr/bin/wactl webhook list >/dev/null || fail "wactl webhook list"
kill "$HOOKS"
wait "$HOOKS" || true
/usr/bin/wactl shutdown >/dev/null || fail "shutdown"
wait "$SVC"
rm -rf /run/wa-supervisor /var/lib/wa-supervisor

# The demo, on the installed programs.
DEMO_SKIP_SETUP=1 DEMO_BIN=/usr/bin DEMO_DIR="$DIR/demo" "$REPO/scripts/demo.sh" > "$DIR/demo.out" 2>&1 ||
  { tail -40 "$DIR/demo.out"; fail "demo on the installed binaries failed"; }
grep -q "support decrypted it" "$DIR/demo.out" || fail "demo delivered nothing"

dpkg --purge wa-supervisor > "$DIR/purge.log" 2>&1 || { cat "$DIR/purge.log"; fail "purge failed"; }
getent passwd wa-supervisor >/dev/null && fail "purge left the system user"
[ -e /usr/bin/wa-supervisor ] && fail "purge left /usr/bin/wa-supervisor"
echo "package: ok"

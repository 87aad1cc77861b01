#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: system packages, the
# reference client for interop tests, then configure and build.
# Every package the project needs is listed here and nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake ninja-build pkg-config ccache
  libuv1-dev libwebsockets-dev libssl-dev libsignal-protocol-c-dev libnng-dev
  nlohmann-json3-dev doctest-dev libsqlite3-dev zlib1g-dev
  libprotobuf-dev protobuf-compiler libqrencode-dev
  libcli11-dev libsystemd-dev libbenchmark-dev
  libcurl4-openssl-dev libmagic-dev libvips-dev
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libswscale-dev ffmpeg
  openssl ca-certificates python3
  clang-14 libclang-rt-14-dev
  nodejs npm sqlite3 procps help2man adduser
  chromium zbar-tools
  postgresql-15 libpq-dev nats-server libnats-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # node/npm may come from elsewhere on a machine (nvm, nodesource): keep those.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
    missing=("${filtered[@]}")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# NNG from Debian's own source package, rebuilt with fixed thread counts.
# Debian's libnng1 sizes its thread pools by the core count at start-up
# (2 task threads per core, 1 expiry thread per core, 4 resolvers): 14 threads
# per process here, ~90 on a 64-core host, times 5,000 connection workers.
# The same source (with Debian's patches) built with 2 task, 1 expiry and
# 1 resolver thread gives 8 per process whatever the core count
# (docs/ARCHITECTURE.md, "Threads"). Linked statically; the version follows
# the installed libnng-dev, and the stamp makes this a no-op once done.
NNG_PREFIX=/opt/wa/nng
NNG_FLAGS="-DNNG_NUM_TASKQ_THREADS=2 -DNNG_MAX_TASKQ_THREADS=2 -DNNG_RESOLV_CONCURRENCY=1"
NNG_CFLAGS="-DNNG_EXPIRE_THREADS=1"
nng_version=$(dpkg-query -W -f='${Version}' libnng-dev)
nng_stamp="$nng_version $NNG_FLAGS $NNG_CFLAGS"
if [ "$(cat "$NNG_PREFIX/.wa-stamp" 2>/dev/null)" != "$nng_stamp" ]; then
  echo "setup: building NNG $nng_version from Debian's source ($NNG_FLAGS $NNG_CFLAGS)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  nng_tmp=$(mktemp -d)
  trap 'rm -rf "$nng_tmp"' EXIT
  # deb-src entries for the mirrors this machine already uses, in a private
  # apt state (the system's package lists are left as they are).
  mkdir -p "$nng_tmp/parts" "$nng_tmp/lists/partial"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$nng_tmp/parts/$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >"$nng_tmp/sources.list"
  else
    : >"$nng_tmp/sources.list"
  fi
  apt_src=(-o "Dir::Etc::SourceList=$nng_tmp/sources.list" -o "Dir::Etc::SourceParts=$nng_tmp/parts"
           -o "Dir::State::Lists=$nng_tmp/lists" -o "APT::Sandbox::User=root")
  apt-get "${apt_src[@]}" update -qq
  # apt checks the files against the signed Sources index; dpkg-source checks
  # them against the .dsc and applies Debian's patches.
  (cd "$nng_tmp" && apt-get "${apt_src[@]}" source --download-only -qq "nng=$nng_version" &&
    { dpkg-source -x nng_*.dsc src >dpkg-source.log 2>&1 || { cat dpkg-source.log >&2; false; }; })
  cmake -S "$nng_tmp/src" -B "$nng_tmp/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS) $NNG_CFLAGS" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF -DNNG_ENABLE_TLS=OFF \
    -DNNG_TESTS=OFF -DNNG_TOOLS=OFF -DNNG_ENABLE_NNGCAT=OFF $NNG_FLAGS \
    -DCMAKE_INSTALL_PREFIX="$NNG_PREFIX" >/dev/null
  cmake --build "$nng_tmp/build" >/dev/null
  $SUDO rm -rf "$NNG_PREFIX"
  $SUDO cmake --install "$nng_tmp/build" >/dev/null
  echo "$nng_stamp" | $SUDO tee "$NNG_PREFIX/.wa-stamp" >/dev/null
  rm -rf "$nng_tmp"; trap - EXIT
fi

# Reference client (Baileys) and its Signal library for interop tests.
if [ -f tests/interop/package.json ] && { [ ! -f tests/interop/node_modules/.package-lock.json ] ||
    [ tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ]; }; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi
# The dashboard's browser test: playwright-core only (it drives Debian's
# chromium above; playwright-core downloads no browser).
if [ -f tests/browser/package.json ] && { [ ! -f tests/browser/node_modules/.package-lock.json ] ||
    [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; }; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

# Let ccache share objects between clones of the repository on one machine.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
# Warnings are errors everywhere (the same flags for demo, tests and CI, so
# switching between them never rebuilds); WA_WERROR=OFF for other compilers.
WA_WERROR="${WA_WERROR:-ON}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DWA_WERROR="$WA_WERROR" \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build build

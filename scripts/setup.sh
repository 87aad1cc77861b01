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
  openssl python3
  clang-14 libclang-rt-14-dev
  nodejs npm sqlite3 procps help2man adduser
  chromium zbar-tools
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

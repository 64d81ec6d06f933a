#!/usr/bin/env bash
# deps.sh — install what cutover needs to build and test on Debian/Ubuntu.
# Run as root (or through sudo). Safe to re-run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential pkg-config meson ninja-build python3
  libpq-dev libcurl4-openssl-dev libcjson-dev
  libcmocka-dev
  postgresql postgresql-client
  nginx
  clang libclang-rt-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian packages start a cluster and an nginx of their own; the tests
# never use them (tests/with-postgres.sh, tests/with-nginx.sh start their own).
echo "dependencies installed"

#!/usr/bin/env bash
# test_pkgconfig.sh — an app that includes only the installed header and
# links through `pkg-config cutover` builds and runs a create-user,
# create-session, look-up-session round trip in the dualwrite stage.
#
# usage: test_pkgconfig.sh BUILD_DIR SOURCE_DIR [SANITIZERS]   (under tests/with-postgres.sh)
set -euo pipefail
build=$1 src=$2 san=${3:-none}
sanflags=()
# a sanitized libcutover needs the app linked with the same runtime
if [ "$san" != none ] && [ -n "$san" ]; then sanflags=(-fsanitize="$san"); fi
tmp=$(mktemp -d /tmp/cutover-pkgconfig.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2; exit 1; }
pcdir=$(dirname "$(find "$tmp/root" -name cutover.pc | head -1)")
libdir=$(dirname "$(find "$tmp/root" -name 'libcutover.so' | head -1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/root"

# only the installed header: no source include paths
cc -std=c11 -Wall -Wextra -Werror "${sanflags[@]}" "$src/examples/app.c" $(pkg-config --cflags --libs cutover) -o "$tmp/app"
echo "built with: cc app.c $(pkg-config --cflags --libs cutover | sed "s|$tmp/root||g")"

createdb cutover_pkgconfig
DATABASE_URL="dbname=cutover_pkgconfig" "$build/cutover" migrate
export LD_LIBRARY_PATH="$libdir"
out=$(IDENTITY_STORE=dualwrite DATABASE_URL="dbname=cutover_pkgconfig" CUTOVER_JSON_ROOT="$tmp/state" \
      "$tmp/app" grace@example.com)
echo "$out"
grep -q '^registered user 1 <grace@example.com>$' <<<"$out"
grep -q '^session resolves to user 1 <grace@example.com>$' <<<"$out"
# both stores got the user and the session
test "$(psql -Atc 'select count(*) from identity.users' cutover_pkgconfig)" = 1
test "$(psql -Atc 'select count(*) from identity.sessions' cutover_pkgconfig)" = 1
grep -q 'grace@example.com' "$tmp/state/identity/users.json"
echo "1 passed, 0 failed"

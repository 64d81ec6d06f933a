#!/usr/bin/env bash
# with-postgres.sh — run a command against a throwaway PostgreSQL cluster.
#
# Makes a cluster in a temp directory (initdb as the `postgres` user when we
# are root, since initdb refuses root), listening only on a Unix socket in
# that directory, so nothing but this machine can reach it. Exports the PG*
# variables (and DATABASE_URL) for the command, plus two commands a fault
# test can run to stop and start the server:
#   CUTOVER_TEST_PG_STOP, CUTOVER_TEST_PG_START
# The cluster is stopped and removed when the command ends, whatever happens.
#
# usage: tests/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail

pgbin=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && pgbin="$d"
done
if [ -z "$pgbin" ]; then
  pgbin=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
fi
if [ ! -x "$pgbin/initdb" ]; then
  echo "with-postgres.sh: no initdb found; install the postgresql package" >&2
  exit 3
fi

base=$(mktemp -d /tmp/cutover-pg.XXXXXX)
chmod 0755 "$base"
run_as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$base"
  run_as=(runuser -u postgres --)
fi

cleanup() {
  "${run_as[@]}" "$pgbin/pg_ctl" -D "$base/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$base"
}
trap cleanup EXIT

"${run_as[@]}" "$pgbin/initdb" -D "$base/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 || {
  cat "$base/initdb.log" >&2; exit 3; }

# A port number is still needed for the socket file name; pick one from our pid.
port=$(( 20000 + ($$ % 20000) ))
opts="-c listen_addresses='' -c unix_socket_directories='$base' -p $port -c fsync=off -c max_connections=60"
start_cmd="${run_as[*]} $pgbin/pg_ctl -D $base/data -l $base/server.log -w -t 60 -o \"$opts\" start"
stop_cmd="${run_as[*]} $pgbin/pg_ctl -D $base/data -m fast -w -t 60 stop"

eval "$start_cmd" >/dev/null || { cat "$base/server.log" >&2; exit 3; }

export PGHOST="$base" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
unset PGPASSWORD PGSERVICE
export DATABASE_URL="postgresql:///postgres?host=$base&port=$port&user=postgres"
export CUTOVER_TEST_PG_STOP="$stop_cmd >/dev/null"
export CUTOVER_TEST_PG_START="$start_cmd >/dev/null"
export CUTOVER_TEST_PG_LOG="$base/server.log"

set +e
"$@"
rc=$?
set -e
exit $rc

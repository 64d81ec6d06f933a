#!/usr/bin/env bash
# demo.sh — the main job on embedded defaults, narrated.
#
# Builds cutover, starts a throwaway Postgres (tests/with-postgres.sh), fills
# a local state directory (the default ./cutover-state, in a temp working
# directory) with generated legacy users and sessions (a few of them dirty),
# applies the schema, surveys, backfills (dry run, apply, re-run), verifies,
# and walks the identity domain through its stage flips with the example
# app, printing what happens at each step. Leaves nothing behind.
#
# usage: bash examples/demo.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build"
if [ "${1:-}" != "--inside" ]; then
  [ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
  meson compile -C "$build" >/dev/null
  exec "$src/tests/with-postgres.sh" bash "$0" --inside
fi

cutover="$build/cutover"
app="$build/examples/app"
gen="$build/tests/cutover-gen-legacy"
work=$(mktemp -d /tmp/cutover-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset CUTOVER_JSON_ROOT IDENTITY_STORE
if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
run() { printf '$ %s\n' "$*"; "$@" || printf '(exit %d)\n' "$?"; }

say "Legacy state: ./cutover-state (the embedded default root), generated with some dirty records"
"$gen" --out cutover-state --users 40 --sessions-per-user 2 --dirty --seed 42
echo "(the generator also injected the ugly cases: truncated JSON, \\u0000, ids that overflow,"
echo " duplicate keys and emails, dangling sessions, wrong types; each is listed in expected-rejects.ndjson)"

say "Apply the schema to the throwaway Postgres"
run "$cutover" migrate
run "$cutover" migrate status

say "Survey the legacy state (read-only; exit 1 because some records cannot be mapped)"
run "$cutover" survey identity

say "Dry run: what the backfill would write and reject; nothing is written"
run "$cutover" backfill identity

say "Apply: batches of rows, rejects kept byte for byte with their reasons, sequence repaired"
run "$cutover" backfill identity --apply --rejects ./cutover-rejects --repair-sequences
echo "-- the first rejected record, as it was in the file, and why:"
head -c 300 cutover-rejects/identity/users.json; echo " ..."
head -1 cutover-rejects/identity/reasons.ndjson

say "Run it again: idempotent, nothing is written"
run "$cutover" backfill identity --apply --rejects ./cutover-rejects

say "The operator fixes the legacy documents (here the generator rewrites them without the bad records)"
"$gen" --out cutover-state --users 40 --sessions-per-user 2 --seed 42
run "$cutover" survey identity
run "$cutover" backfill identity --apply --rejects ./cutover-rejects

say "Verify: one line per check"
run "$cutover" verify identity

legacy=$(psql -Atc 'select email from identity.users where id = 1')
say "Stage json (the default): the app reads the legacy documents only"
run "$app" "$legacy"

say "Stage dualwrite: writes go to json first, then Postgres; reads stay on json"
IDENTITY_STORE=dualwrite run "$app" grace@example.com

say "Stage shadow: every read goes to both stores and is compared (backfilled rows agree)"
IDENTITY_STORE=shadow run "$app" "$legacy"
IDENTITY_STORE=shadow run "$app" grace@example.com

say "Stage live is refused while identity.users' id sequence is behind its max id"
echo "(grace's id came from json and was written to Postgres explicitly; nextval would collide)"
IDENTITY_STORE=live run "$app" linus@example.com
say "Repair the sequence with the SQL from the hint, then enter live"
run "$cutover" backfill identity --apply --repair-sequences
IDENTITY_STORE=live run "$app" linus@example.com

say "Stage rampdown: Postgres answers alone; json still receives every write"
IDENTITY_STORE=rampdown run "$app" barbara@example.com

say "Stage postgres: json is no longer touched"
IDENTITY_STORE=postgres run "$app" margaret@example.com

say "Where everything stands"
IDENTITY_STORE=postgres run "$cutover" status

say "A flag that is not a stage stops the app and the operator program (exit 2)"
IDENTITY_STORE=postgress run "$cutover" status

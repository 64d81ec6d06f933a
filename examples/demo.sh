#!/usr/bin/env bash
# demo.sh — the main job on embedded defaults, narrated.
#
# Builds cutover, starts a throwaway Postgres (tests/with-postgres.sh), fills
# a local state directory (the default ./cutover-state, in a temp working
# directory) with generated legacy state for all four domains (identity,
# telemetry, profile, reports; a few records of each dirty), applies the
# schema, surveys, backfills (dry run, apply, re-run), verifies, and walks
# the identity domain through its stage flips with the example app, printing
# what happens at each step. Leaves nothing behind.
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
gen() { bash "$src/tests/gen-state.sh" "$build" --out cutover-state --users 40 --seed 42 "$@"; }
work=$(mktemp -d /tmp/cutover-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset CUTOVER_JSON_ROOT IDENTITY_STORE PROFILE_STORE REPORTS_STORE TELEMETRY_STORE
if [ -t 1 ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
run() { printf '$ %s\n' "$*"; "$@" || printf '(exit %d)\n' "$?"; }

say "Legacy state: ./cutover-state (the embedded default root), generated with some dirty records"
gen --dirty
echo "(each generator also injected the ugly cases: truncated JSON, \\u0000, ids that overflow,"
echo " duplicate keys, dangling references, wrong types, a bad NDJSON line; each is listed in"
echo " expected-rejects*.ndjson)"
find cutover-state -type f -not -name 'expected-*' -not -name 'manifest*' | sort | sed -n '1,6p;$p' | sed 's/^/  /'

say "Apply the schema to the throwaway Postgres"
run "$cutover" migrate
run "$cutover" migrate status

say "Survey every domain (read-only; exit 1 because some records cannot be mapped)"
run "$cutover" survey all

say "Dry run: what the backfill would write and reject, domain by domain in dependency order; nothing is written"
run "$cutover" backfill all

say "Apply: batches of rows, rejects kept byte for byte with their reasons; the sequence repair SQL is printed"
run "$cutover" backfill all --apply --rejects ./cutover-rejects
echo "-- the first rejected record of each domain, and why:"
for d in identity telemetry profile reports; do
  printf '  %s: ' "$d"; head -1 "cutover-rejects/$d/reasons.ndjson"
done

say "Run it again: idempotent, nothing is written"
run "$cutover" backfill all --apply --rejects ./cutover-rejects

say "The operator fixes the legacy documents (here the generators rewrite them without the bad records)"
rm -rf cutover-state/telemetry/events
gen --quiet
run "$cutover" survey all
run "$cutover" backfill all --apply --rejects ./cutover-rejects

say "Verify: one line per check, every domain (the id sequences are still behind: backfill kept the legacy ids)"
run "$cutover" verify all

say "A postgres-authoritative stage is refused while a sequence is behind; the hint is the SQL that repairs it"
IDENTITY_STORE=live run "$app" linus@example.com

say "Repair the sequences (the printed setval statements), then verify again: every check passes"
run "$cutover" backfill all --apply --rejects ./cutover-rejects --repair-sequences
run "$cutover" verify all

legacy=$(psql -Atc 'select email from identity.users where id = 1')
say "Stage json (the default): the app reads the legacy documents only"
run "$app" "$legacy"

say "Stage dualwrite: writes go to json first, then Postgres; reads stay on json"
IDENTITY_STORE=dualwrite run "$app" grace@example.com

say "Stage shadow: every read goes to both stores and is compared (backfilled rows agree)"
IDENTITY_STORE=shadow run "$app" "$legacy"
IDENTITY_STORE=shadow run "$app" grace@example.com

say "Stage live: Postgres answers and is written first; json still receives every write; reads compared"
echo "(grace's id came from json; its second write moved the sequence past it, so nextval cannot collide)"
IDENTITY_STORE=live run "$app" linus@example.com

say "Stage rampdown: Postgres answers alone; json still receives every write"
IDENTITY_STORE=rampdown run "$app" barbara@example.com

say "Stage postgres: json is no longer touched"
IDENTITY_STORE=postgres run "$app" margaret@example.com

say "Where everything stands"
IDENTITY_STORE=postgres run "$cutover" status

say "A flag that is not a stage stops the app and the operator program (exit 2)"
IDENTITY_STORE=postgress run "$cutover" status

say "Going back from postgres: json-authoritative stages refuse until the JSON documents are exported"
IDENTITY_STORE=shadow run "$app" margaret@example.com
run "$cutover" export identity
run "$cutover" export identity --apply --backup ./export-backup
say "Exported: shadow opens again, and json knows the user made in postgres"
IDENTITY_STORE=shadow run "$app" margaret@example.com

#!/usr/bin/env bash
# demo.sh — the main job on embedded defaults, narrated.
#
# Builds cutover, starts a throwaway Postgres (tests/with-postgres.sh), fills
# a local state directory (the default ./cutover-state, in a temp working
# directory) with a few legacy users and sessions, applies the schema, and
# walks the identity domain through its stage flips with the example app,
# printing what happens at each step. Leaves nothing behind.
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

say "Legacy state: ./cutover-state/identity/{users,sessions}.json (the embedded default root)"
mkdir -p -m 0700 cutover-state/identity
cat > cutover-state/identity/users.json <<'JSON'
{"users": [
 {"id": 1, "email": "Ada@Example.com", "username": "ada", "display_name": "Ada Lovelace",
  "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g", "role": "admin",
  "oauth": [{"provider": "github", "subject": "1001"}], "email_verified_at": "2023-02-01T09:00:00Z",
  "disabled": false, "created_at": "2023-01-15T08:30:00Z", "updated_at": "2024-03-01T10:00:00.250Z"},
 {"id": 2, "email": "alan@example.com", "username": "alan", "display_name": "Alan Turing",
  "role": "analyst", "oauth": [{"provider": "google", "subject": "g-2"}], "email_verified_at": null,
  "disabled": false, "created_at": 1675000000000, "updated_at": 1675000000000},
 {"id": 3, "email": "edsger@example.com", "display_name": "Edsger Dijkstra",
  "password_hash": "$2b$12$0123456789012345678901uABCDEFGHIJKLMNOPQRSTUVWXYZab", "role": "viewer",
  "oauth": [], "email_verified_at": null, "disabled": true,
  "created_at": "2023-05-05T05:05:05Z", "updated_at": "2023-06-06T06:06:06Z"}
]}
JSON
cat > cutover-state/identity/sessions.json <<'JSON'
{"sessions": [
 {"token_hash": "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", "user_id": 1,
  "created_at": "2026-11-01T00:00:00Z", "expires_at": "2099-01-01T00:00:00Z", "last_seen_at": null,
  "user_agent": "Mozilla/5.0", "ip": "127.0.0.1"}
]}
JSON
chmod 0600 cutover-state/identity/*.json
echo "3 users (one with epoch-millisecond timestamps, one disabled), 1 session"

say "Apply the schema to the throwaway Postgres"
run "$cutover" migrate
run "$cutover" migrate status

say "Stage json (the default): the app reads the legacy documents only"
run "$app" ada@example.com

say "Stage dualwrite: writes go to json first, then Postgres; reads stay on json"
IDENTITY_STORE=dualwrite run "$app" grace@example.com
echo "Postgres now holds: $(psql -Atc 'select count(*) from identity.users') user(s), $(psql -Atc 'select count(*) from identity.sessions') session(s)"
echo "(legacy rows reach Postgres through \`cutover backfill\`; until then only new writes are there)"

say "Stage shadow: every read goes to both stores and the answers are compared"
IDENTITY_STORE=shadow run "$app" grace@example.com
echo "-- a legacy user Postgres has never seen is reported, by fingerprint, not by address:"
IDENTITY_STORE=shadow run "$app" ada@example.com

say "Stage live is refused while identity.users' id sequence is behind its max id"
echo "(grace got id 4 from json, written to Postgres explicitly; nextval would hand out 1)"
IDENTITY_STORE=live run "$app" linus@example.com
say "Repair the sequence with the SQL from the hint, then enter live"
run psql -Atc "SELECT setval('identity.users_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM identity.users), false);"
IDENTITY_STORE=live run "$app" linus@example.com
echo "json now holds $(grep -o '"email":"[^"]*"' cutover-state/identity/users.json | wc -l) users: Postgres assigned the id, json got the copy"

say "Stage rampdown: Postgres answers alone; json still receives every write"
IDENTITY_STORE=rampdown run "$app" barbara@example.com

say "Stage postgres: json is no longer touched"
IDENTITY_STORE=postgres run "$app" margaret@example.com

say "Where everything stands"
IDENTITY_STORE=postgres run "$cutover" status

say "A flag that is not a stage stops the app and the operator program (exit 2)"
IDENTITY_STORE=postgress run "$cutover" status

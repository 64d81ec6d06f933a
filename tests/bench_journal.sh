#!/usr/bin/env bash
# bench_journal.sh — memory and time of reading a large journal.
#
# Writes a reports journal of N entries (default 200,000) shaped like the
# router's (one failed put_report per key, the error text of a Postgres that
# is down; ~180 bytes an entry) for K distinct report ids (default N), into
# a fresh root and database, then measures with /usr/bin/time -v:
#   cutover status                  (counts the journal's distinct keys)
#   cutover reconcile reports       (dry run: reads the journal, both stores per key)
#   cutover reconcile reports --apply  (the same, then rewrites the journal)
# Neither store holds the reports, so every key already agrees and --apply
# empties the journal. Prints wall seconds and peak RSS of each.
#
# usage (from the repository root, after meson compile -C build):
#   tests/with-postgres.sh tests/bench_journal.sh build [N [K]]
set -euo pipefail

build=${1:?usage: bench_journal.sh BUILD_DIR [N [K]]}
n=${2:-200000}
k=${3:-$n}
exe="$build/cutover"
root=$(mktemp -d /tmp/cutover-bench-journal.XXXXXX)
db="bench_journal_$$"
trap 'rm -rf "$root"; dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT

createdb "$db"
export DATABASE_URL="dbname=$db" CUTOVER_JSON_ROOT="$root" CUTOVER_JOURNAL_DIR="$root/.cutover"
unset IDENTITY_STORE TELEMETRY_STORE PROFILE_STORE REPORTS_STORE CUTOVER_FLAG_PREFIX
"$exe" migrate >/dev/null
mkdir -p "$root/.cutover"
python3 - "$root/.cutover/reports.journal" "$n" "$k" <<'EOF'
import json, sys
path, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "at": "2026-03-01T12:%02d:%02d.%06dZ" % (i // 60 % 60, i % 60, i % 1000000),
            "domain": "reports", "entity": "report", "key": str(1000000 + i % k),
            "op": "update_report", "target": "postgres", "code": "unavailable",
            "error": "put_report: connection to postgres lost: server closed the connection unexpectedly",
        }, separators=(",", ":")) + "\n")
EOF
chmod 0600 "$root/.cutover/reports.journal"
printf 'journal: %d entries, %d keys, %s bytes\n' "$n" "$k" "$(stat -c %s "$root/.cutover/reports.journal")"

measure() {
  local label=$1; shift
  local out="$root/time.txt"
  set +e
  /usr/bin/time -v -o "$out" "$exe" "$@" >/dev/null 2>&1
  local rc=$?
  set -e
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$out")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$out")
  printf '%-36s exit %d  wall %s  peak RSS %d MB\n' "$label" "$rc" "$wall" "$((rss / 1024))"
}

measure "cutover status" status
measure "cutover reconcile reports" reconcile reports
measure "cutover reconcile reports --apply" reconcile reports --apply
printf 'journal after --apply: %s bytes\n' "$(stat -c %s "$root/.cutover/reports.journal")"

#!/usr/bin/env bash
# run.sh — build cutover and run the whole test suite.
#
# usage: tests/run.sh [--sanitize] [BUILD_DIR]
#   --sanitize   build with AddressSanitizer + UndefinedBehaviorSanitizer
#   BUILD_DIR    default: build (build-san with --sanitize)
#
# Each test that needs Postgres starts its own throwaway cluster
# (tests/with-postgres.sh); nothing outside this machine is contacted.
# Ends with the summary line "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

san=""
if [ "${1:-}" = "--sanitize" ]; then san=address,undefined; shift; fi
build=${1:-build${san:+-san}}

if [ ! -f "$build/build.ninja" ]; then
  if [ -n "$san" ]; then
    meson setup "$build" -Db_sanitize="$san" -Db_lundef=false -Dbuildtype=debug
  else
    meson setup "$build"
  fi
fi
meson compile -C "$build"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
meson test -C "$build" --print-errorlogs
rc=$?
set -e

python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc

#!/usr/bin/env bash
# run.sh — fuzz every harness for a bounded time; fail on a crash.
#
# usage: tests/fuzz/run.sh [BUILD_DIR] [SECONDS] [TARGET ...]
#   BUILD_DIR  a clang build with -Dfuzz=true (default build-fuzz; set up
#              here when missing: CC=clang, ASan + UBSan)
#   SECONDS    libFuzzer -max_total_time per harness (default 25)
#   TARGET     scan identity profile reports telemetry events json_doc journal
#              json_index
#              (default: all of them)
#
# Each harness starts from its seed corpus (tests/fuzz/corpus/<target>) and
# its kept crash inputs (tests/fuzz/regressions/<target>); what it learns goes
# to BUILD_DIR/fuzz-work/<target>/corpus, never into the source tree. A crash,
# leak, timeout or out-of-memory input is copied into
# tests/fuzz/regressions/<target>/ (keep it there once the bug is fixed: the
# default build replays that folder in every tests/run.sh) and the run fails.
# Reproduce one: BUILD_DIR/tests/fuzz/fuzz_<target> tests/fuzz/regressions/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/../.."
src=tests/fuzz

build=${1:-build-fuzz}
secs=${2:-25}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(scan identity profile reports telemetry events json_doc journal json_index)

if [ ! -f "$build/build.ninja" ]; then
  CC=${FUZZ_CC:-clang} meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized
fi
meson compile -C "$build" "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for t in "${targets[@]}"; do
  work="$build/fuzz-work/$t"
  mkdir -p "$work/corpus" "$work/artifacts" "$src/regressions/$t"
  rm -f "$work/artifacts"/*
  echo "== fuzz $t: $secs s"
  set +e
  "$build/tests/fuzz/fuzz_$t" "$work/corpus" "$src/corpus/$t" "$src/regressions/$t" \
    -dict="$src/json.dict" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    > "$work/log" 2>&1
  rc=$?
  set -e
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "$work/log" || true
  found=("$work/artifacts"/*)
  if [ $rc -ne 0 ] || [ -e "${found[0]}" ]; then
    failed+=("$t")
    echo "fuzz $t FAILED (exit $rc); log: $work/log"
    grep -E "ERROR|SUMMARY|fuzz check failed|runtime error" "$work/log" | head -5 || true
    for a in "${found[@]}"; do
      [ -e "$a" ] || continue
      cp "$a" "$src/regressions/$t/"
      echo "  kept $src/regressions/$t/$(basename "$a")"
      echo "  reproduce: $build/tests/fuzz/fuzz_$t $src/regressions/$t/$(basename "$a")"
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing: ${#failed[@]} of ${#targets[@]} harnesses crashed: ${failed[*]}"
  exit 1
fi
echo "fuzzing: ${#targets[@]} harnesses ran ${secs} s each without a crash"

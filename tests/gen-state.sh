#!/usr/bin/env bash
# gen-state.sh — legacy state for all four domains, consistent with each other.
#
# usage: tests/gen-state.sh BUILD_DIR --out DIR [--users N] [--seed S] [--dirty]
#                           [--scale K] [--quiet]
#
# Runs the four generators on one state root: identity (users 1..N and their
# sessions), telemetry (incidents and daily event files), profile (profiles of
# users 1..N) and reports (by users 1..N, linked to incidents 1..I). --scale
# multiplies the record counts of the other domains (default 1: N users,
# 20*N events, N/2 incidents, 2*N reports). Every generator writes its
# DIR/expected-rejects*.ndjson and DIR/manifest*.json; with --dirty each
# injects its ugly cases once. Deterministic for a seed.
set -euo pipefail
build=${1:?usage: tests/gen-state.sh BUILD_DIR --out DIR [--users N] [--seed S] [--dirty] [--scale K] [--quiet]}
shift
out="" users=50 seed=1 dirty=() scale=1 quiet=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --dirty) dirty=(--dirty); shift ;;
    --quiet) quiet=(--quiet); shift ;;
    *) echo "gen-state.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "gen-state.sh: --out DIR is required" >&2; exit 2; }
incidents=$(( users * scale / 2 > 0 ? users * scale / 2 : 1 ))
g="$build/tests"
"$g/cutover-gen-legacy" --out "$out" --users "$users" --seed "$seed" "${dirty[@]}" "${quiet[@]}"
"$g/cutover-gen-telemetry" --out "$out" --events $(( users * scale * 20 )) --incidents "$incidents" \
  --days 14 --seed "$seed" "${dirty[@]}" "${quiet[@]}"
"$g/cutover-gen-profile" --out "$out" --users "$users" --seed "$seed" "${dirty[@]}" "${quiet[@]}"
"$g/cutover-gen-reports" --out "$out" --users "$users" --incidents "$incidents" \
  --reports $(( users * scale * 2 )) --seed "$seed" "${dirty[@]}" "${quiet[@]}"

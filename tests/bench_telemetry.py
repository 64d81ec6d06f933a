#!/usr/bin/env python3
"""bench_telemetry.py — backfill --apply throughput against psql \\copy, same run.

For each size (default 1,000,000 and 5,000,000 events), generates realistic
legacy telemetry state with cutover-gen-telemetry (N events over --days daily
files, N/100 + 1 incidents) and, with --csv, the same clean rows as CSV.
Then, on one throwaway Postgres (started by tests/with-postgres.sh):

  baseline: psql \\copy of the same rows from the CSV into freshly migrated
            empty tables (same constraints, indexes and foreign key)
  cutover:  cutover backfill telemetry --apply from the legacy files into
            freshly migrated empty tables

Each is run --rounds times, alternating, each into a new database (dropped
afterwards); the median wall time is reported with rows/s, the ratio
cutover/baseline, and each process's peak RSS (from wait4's rusage).

usage: tests/with-postgres.sh python3 tests/bench_telemetry.py BUILD_DIR [--events N ...] [--rounds R]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv, env=None, stdout=subprocess.DEVNULL):
    """Run a command; return (seconds, peak RSS in KiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace")
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"bench: {' '.join(argv)} exited {code}:\n{err}")
    return dt, ru.ru_maxrss


def psql(db, sql):
    subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def fresh_db(name, cutover):
    psql("postgres", f'DROP DATABASE IF EXISTS "{name}"')
    psql("postgres", f'CREATE DATABASE "{name}"')
    env = dict(os.environ, DATABASE_URL=f"dbname={name}")
    run([cutover, "migrate"], env=env)
    return env


def rows_in(db):
    return int(subprocess.run(["psql", "-qAt", "-d", db, "-c",
                               "select (select count(*) from operations.incidents) + "
                               "(select count(*) from operations.telemetry_events)"],
                              capture_output=True, text=True, check=True).stdout.strip())


def bench(a, cutover, gen, n):
    work = tempfile.mkdtemp(prefix="cutover-bench-tel-")
    state, csv = os.path.join(work, "state"), os.path.join(work, "csv")
    run([gen, "--out", state, "--csv", csv, "--events", str(n), "--days", str(a.days), "--seed", "1", "--quiet"])
    incidents = n // 100 + 1
    rows = n + incidents
    script = os.path.join(work, "copy.sql")
    with open(script, "w") as f:
        f.write(f"\\copy operations.incidents (id, title, state, severity, opened_at, resolved_at) "
                f"from '{csv}/incidents.csv' csv header\n"
                f"\\copy operations.telemetry_events (id, occurred_at, source_ip, region, node, attack_type, "
                f"severity, payload, incident_id) from '{csv}/events.csv' csv header\n")
    base, ours = [], []
    for r in range(a.rounds):
        db = f"bench_tel_copy_{r}"
        env = fresh_db(db, cutover)
        base.append(run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", script], env=env))
        if rows_in(db) != rows:
            sys.exit(f"bench: \\copy loaded {rows_in(db)} rows, expected {rows}")
        psql("postgres", f'DROP DATABASE "{db}"')
        db = f"bench_tel_cutover_{r}"
        env = dict(fresh_db(db, cutover), CUTOVER_JSON_ROOT=state)
        ours.append(run([cutover, "backfill", "telemetry", "--apply", "--rejects", os.path.join(work, "rej")],
                        env=env))
        if rows_in(db) != rows:
            sys.exit(f"bench: cutover loaded {rows_in(db)} rows, expected {rows}")
        psql("postgres", f'DROP DATABASE "{db}"')
    subprocess.run(["rm", "-rf", work])
    tb = statistics.median(t for t, _ in base)
    to = statistics.median(t for t, _ in ours)
    mb = max(m for _, m in base) / 1024
    mo = max(m for _, m in ours) / 1024
    print(f"telemetry backfill benchmark: {n} events in {a.days} daily files, {incidents} incidents "
          f"({rows} rows), median of {a.rounds} rounds")
    print(f"{'':28}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}")
    label = "psql \\copy from CSV"
    print(f"{label:28}{tb:>10.2f}{rows / tb:>12.0f}{mb:>9.1f} MiB")
    print(f"{'cutover backfill --apply':28}{to:>10.2f}{rows / to:>12.0f}{mo:>9.1f} MiB")
    print(f"ratio (cutover throughput / \\copy throughput): {tb / to:.2f}")
    print(f"all rounds, seconds: copy {', '.join(f'{t:.2f}' for t, _ in base)}; "
          f"cutover {', '.join(f'{t:.2f}' for t, _ in ours)}")
    print(flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--events", type=int, nargs="+", default=[1000000, 5000000])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    cutover = os.path.join(a.build, "cutover")
    gen = os.path.join(a.build, "tests", "cutover-gen-telemetry")
    for n in a.events:
        bench(a, cutover, gen, n)


if __name__ == "__main__":
    main()

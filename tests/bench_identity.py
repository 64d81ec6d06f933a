#!/usr/bin/env python3
"""bench_identity.py — backfill --apply throughput against psql \\copy, same run.

Generates realistic legacy identity state (default 100,000 users, 300,000
sessions), then, on one throwaway Postgres (started by tests/with-postgres.sh):

  baseline: psql \\copy of the same rows, from CSV written by the generator,
            into freshly migrated empty tables (same constraints and indexes)
  cutover:  cutover backfill identity --apply from the legacy JSON into
            freshly migrated empty tables

Each is run --rounds times, alternating, each into a new database; the
median wall time is reported with rows/s, the ratio cutover/baseline, and
each process's peak RSS (from wait4's rusage).

usage: tests/with-postgres.sh python3 tests/bench_identity.py BUILD_DIR [--users N] [--rounds R]
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
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--users", type=int, default=100000)
    ap.add_argument("--sessions-per-user", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    cutover = os.path.join(a.build, "cutover")
    gen = os.path.join(a.build, "tests", "cutover-gen-legacy")
    work = tempfile.mkdtemp(prefix="cutover-bench-")
    state, csv = os.path.join(work, "state"), os.path.join(work, "csv")
    run([gen, "--out", state, "--csv", csv, "--users", str(a.users),
         "--sessions-per-user", str(a.sessions_per_user), "--quiet"])
    sessions = round(a.users * a.sessions_per_user)
    links = sum(1 for _ in open(os.path.join(csv, "user_oauth.csv"))) - 1
    rows = a.users + links + sessions

    copy_sql = (
        f"\\copy identity.users (id, email, username, display_name, password_hash, role, email_verified_at, "
        f"disabled, created_at, updated_at) from '{csv}/users.csv' csv header\n"
        f"\\copy identity.user_oauth (user_id, position, provider, subject) from '{csv}/user_oauth.csv' csv header\n"
        f"\\copy identity.sessions (token_hash, user_id, created_at, expires_at, last_seen_at, user_agent, ip) "
        f"from '{csv}/sessions.csv' csv header\n")
    script = os.path.join(work, "copy.sql")
    with open(script, "w") as f:
        f.write(copy_sql)

    base, ours = [], []
    for r in range(a.rounds):
        env = fresh_db(f"bench_copy_{r}", cutover)
        base.append(run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", f"bench_copy_{r}", "-f", script], env=env))
        env = dict(fresh_db(f"bench_cutover_{r}", cutover), CUTOVER_JSON_ROOT=state)
        ours.append(run([cutover, "backfill", "identity", "--apply", "--rejects", os.path.join(work, "rej")],
                        env=env))
        got = subprocess.run(["psql", "-qAt", "-d", f"bench_cutover_{r}", "-c",
                              "select (select count(*) from identity.users) + (select count(*) from "
                              "identity.user_oauth) + (select count(*) from identity.sessions)"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if int(got) != rows:
            sys.exit(f"bench: cutover loaded {got} rows, expected {rows}")

    tb = statistics.median(t for t, _ in base)
    to = statistics.median(t for t, _ in ours)
    mb = max(m for _, m in base) / 1024
    mo = max(m for _, m in ours) / 1024
    print(f"identity backfill benchmark: {a.users} users, {links} oauth links, {sessions} sessions "
          f"({rows} rows), median of {a.rounds} rounds")
    print(f"{'':28}{'seconds':>10}{'rows/s':>12}{'peak RSS':>12}")
    label = "psql \\copy from CSV"
    print(f"{label:28}{tb:>10.2f}{rows / tb:>12.0f}{mb:>9.1f} MiB")
    print(f"{'cutover backfill --apply':28}{to:>10.2f}{rows / to:>12.0f}{mo:>9.1f} MiB")
    print(f"ratio (cutover throughput / \\copy throughput): {tb / to:.2f}")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench_json_stage.py — identity in the json stage against the postgres stage, same run.

For each size, generates legacy identity state (N users, 3 sessions each)
with cutover-gen-legacy, loads the same data into a Postgres template
database (cutover migrate; cutover backfill identity --apply
--repair-sequences), then alternates, round by round, the json stage
(IDENTITY_STORE=json over a copy of the documents) and the postgres stage
(IDENTITY_STORE=postgres over a copy of the template database), driving
each with tests/bench_json_stage.c (cutover-bench-json-stage):

  lookup     lookup_session of random generated sessions
  writepair  create_user then create_session, one op per pair

with 1 and with 2 concurrent client processes (started together, each doing
up to --n ops in at most --seconds). Every run starts from pristine state
(the documents copied again, the database created again from the template),
outside the timed part. A write's floor is measured in the same rounds:
`cp` of users.json and sessions.json to a scratch directory, then `sync`
of the two copies (fsync of just those files).

Reported per size, clients and op, as medians over the rounds: the median
op time (both clients' timings pooled), aggregate ops/s (ops of all clients
over the window from the first start to the last end), ops done, and peak
RSS (the largest client's own VmHWM as the driver reports it: wait4's and
getrusage's ru_maxrss would include this python process's memory, which
Linux carries across the clients' fork and exec); for writepair the floor
and the ratio json write pair / floor.

The json runs get no DATABASE_URL: a json-stage process that has one reads
cutover.postgres_runs and refuses a database the postgres stage has opened
(docs/flags.md, "After the postgres stage"). The postgres runs get a
JSON root of their own, where the open writes its stage marker.

usage: tests/with-postgres.sh python3 tests/bench_json_stage.py BUILD_DIR
           [--users 1000 10000 100000] [--rounds 3] [--clients 1 2]
           [--ops lookup writepair] [--n 2000] [--seconds 20]
"""
import argparse
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

READY_TIMEOUT = 600   # seconds a client may take to open and warm up
STAGES = ("json", "postgres")


def die(msg):
    sys.exit(f"bench_json_stage: {msg}")


def note(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, env=None):
    """Run a command to completion; exit naming it when it fails."""
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        die(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p.stdout


def psql(db, sql):
    run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])


def restore_dir(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    run(["cp", "-a", src, dst])


def restore_db(name, template):
    psql("postgres", f'DROP DATABASE IF EXISTS "{name}"')
    psql("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def parse_line(line):
    return dict(kv.split("=", 1) for kv in line.split())


def wait_exit(pid, timeout):
    """wait4 with a deadline; kills the process when it is passed."""
    deadline = time.monotonic() + timeout
    while True:
        got, status, ru = os.wait4(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(status), ru
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            _, status, ru = os.wait4(pid, 0)
            return None, ru
        time.sleep(0.02)


def clients_run(driver, env, a, size, op, k, work):
    """k driver processes started together; returns the round's figures."""
    procs = []
    for c in range(k):
        times = os.path.join(work, f"times.{c}")
        errf = open(os.path.join(work, f"stderr.{c}"), "w+")
        argv = [driver, "--op", op, "--n", str(a.n), "--seconds", str(a.seconds), "--seed", str(a.seed),
                "--users", str(size), "--sessions-per-user", "3", "--client", str(c), "--barrier",
                "--times", times]
        p = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                             text=True)
        procs.append((p, times, errf))

    def fail(what):
        for p, _, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        errs = ""
        for _, _, errf in procs:
            errf.seek(0)
            errs += errf.read()
        die(f"{env['IDENTITY_STORE']} stage, {op}, {k} client(s), {size} users: {what}\n{errs}")

    def all_say(word):
        """Waits until every client has printed word, then lets them all go on."""
        sel = selectors.DefaultSelector()
        for p, _, _ in procs:
            sel.register(p.stdout, selectors.EVENT_READ, p)
        waiting, deadline = len(procs), time.monotonic() + READY_TIMEOUT
        while waiting:
            events = sel.select(timeout=max(0.0, deadline - time.monotonic()))
            if not events:
                fail(f"a client did not get to '{word}' in time")
            for key, _ in events:
                if key.fileobj.readline().strip() != word:
                    fail(f"a client stopped before '{word}'")
                sel.unregister(key.fileobj)
                waiting -= 1
        sel.close()
        for p, _, _ in procs:
            p.stdin.write("go\n")
            p.stdin.flush()

    # Every client opens before any writes (a postgres-stage open checks the
    # id sequence against max(id), which a concurrent create_user can make
    # fail), then warms up; then all are let go at once.
    all_say("open")
    all_say("ready")
    for p, _, _ in procs:
        p.stdin.close()

    lines, ms = [], []
    for p, times, errf in procs:
        code, _ = wait_exit(p.pid, a.seconds * 3 + 300)
        out = p.stdout.read()
        p.stdout.close()
        p.returncode = code
        if code != 0:
            fail(f"a client exited {code}")
        lines.append(parse_line(out.strip().splitlines()[-1]))
        with open(times) as f:
            ms.extend(float(x) for x in f)
        errf.close()
    count = sum(int(d["count"]) for d in lines)
    window = max(float(d["end"]) for d in lines) - min(float(d["start"]) for d in lines)
    return {
        "count": count,
        "notfound": sum(int(d["notfound"]) for d in lines),
        "median_ms": statistics.median(ms) if ms else float("nan"),
        "ops_s": count / window if window > 0 else float("nan"),
        "rss_kib": max(int(d["vmhwm_kib"]) for d in lines),
        "seconds": window,
    }


def floor_ms(pristine, scratch, reps):
    """Median ms of `cp` of both documents then `sync` of the two copies
    (coreutils sync with file arguments fsyncs just those files, so other
    writers on the machine are not flushed into the figure)."""
    os.makedirs(scratch, exist_ok=True)
    got = []
    names = ("users.json", "sessions.json")
    src = [os.path.join(pristine, "identity", n) for n in names]
    dst = [os.path.join(scratch, n) for n in names]
    for _ in range(reps):
        for d in dst:
            try:
                os.unlink(d)
            except FileNotFoundError:
                pass
        t0 = time.perf_counter()
        subprocess.run(["cp"] + src + [scratch], check=True)
        subprocess.run(["sync"] + dst, check=True)
        got.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--users", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ops", nargs="+", choices=["lookup", "writepair"], default=["lookup", "writepair"])
    ap.add_argument("--n", type=int, default=2000, help="ops per client per run (default 2000)")
    ap.add_argument("--seconds", type=float, default=20.0, help="cap of each client's timed part (default 20)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--floor-reps", type=int, default=5, help="floor measurements per round (median)")
    a = ap.parse_args()
    if not os.environ.get("PGHOST"):
        die("run it under tests/with-postgres.sh (PGHOST is not set)")
    if a.rounds < 1 or a.n < 1 or a.seconds <= 0 or min(a.clients) < 1 or min(a.users) < 1:
        die("--rounds, --n, --seconds, --clients and --users must be positive")
    cutover = os.path.join(a.build, "cutover")
    gen = os.path.join(a.build, "tests", "cutover-gen-legacy")
    driver = os.path.join(a.build, "tests", "cutover-bench-json-stage")
    for exe in (cutover, gen, driver):
        if not os.access(exe, os.X_OK):
            die(f"{exe} is not built (meson compile -C {a.build})")

    # No stage flag, no cutover setting and no DATABASE_URL leak in from the
    # caller's environment; each stage gets exactly what it needs.
    base = {k: v for k, v in os.environ.items()
            if not k.endswith("_STORE") and not k.startswith("CUTOVER_") and k != "DATABASE_URL"}
    work = tempfile.mkdtemp(prefix="cutover-bench-stage-")
    results = {}   # (size, clients, op, stage) -> list of round dicts
    floors = {}    # size -> list of round floors (ms)
    try:
        for size in a.users:
            sdir = os.path.join(work, f"u{size}")
            pristine, jroot, proot = (os.path.join(sdir, d) for d in ("pristine", "json", "pgroot"))
            run([gen, "--out", pristine, "--users", str(size), "--sessions-per-user", "3",
                 "--seed", str(a.seed), "--quiet"])
            tpl, db = f"bench_stage_{size}_tpl", f"bench_stage_{size}"
            psql("postgres", f'DROP DATABASE IF EXISTS "{tpl}"')
            psql("postgres", f'CREATE DATABASE "{tpl}"')
            env = dict(base, DATABASE_URL=f"dbname={tpl}", CUTOVER_JSON_ROOT=pristine)
            run([cutover, "migrate"], env=env)
            run([cutover, "backfill", "identity", "--apply", "--repair-sequences",
                 "--rejects", os.path.join(sdir, "rejects")], env=env)
            envs = {
                "json": dict(base, IDENTITY_STORE="json", CUTOVER_JSON_ROOT=jroot),
                "postgres": dict(base, IDENTITY_STORE="postgres", CUTOVER_JSON_ROOT=proot,
                                 DATABASE_URL=f"dbname={db}"),
            }
            note(f"{size} users: state and database ready")
            for r in range(a.rounds):
                order = STAGES if r % 2 == 0 else STAGES[::-1]
                for op in a.ops:
                    for k in a.clients:
                        for stage in order:
                            if stage == "json":
                                restore_dir(pristine, jroot)
                            else:
                                restore_db(db, tpl)
                                if os.path.exists(proot):
                                    shutil.rmtree(proot)
                                os.makedirs(proot)
                            got = clients_run(driver, envs[stage], a, size, op, k, sdir)
                            results.setdefault((size, k, op, stage), []).append(got)
                            note(f"  round {r + 1}/{a.rounds} {stage:8} {op:9} x{k}: {got['count']} ops in "
                                 f"{got['seconds']:.2f} s, median {got['median_ms']:.3f} ms, "
                                 f"{got['ops_s']:.1f} ops/s, peak RSS {got['rss_kib'] / 1024:.1f} MiB")
                    if op == "writepair":
                        fl = floor_ms(pristine, os.path.join(sdir, "scratch"), a.floor_reps)
                        floors.setdefault(size, []).append(fl)
                        note(f"  round {r + 1}/{a.rounds} floor (cp both documents + sync the copies): {fl:.3f} ms")
            psql("postgres", f'DROP DATABASE IF EXISTS "{db}"')
            psql("postgres", f'DROP DATABASE IF EXISTS "{tpl}"')
            shutil.rmtree(sdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(rows, key):
        return statistics.median(x[key] for x in rows)

    print(f"identity, json stage vs postgres stage: {a.rounds} round(s), up to {a.n} ops per client in at most "
          f"{a.seconds:g} s; medians over rounds (ops: ops done by all clients in a run)")
    print()
    print("| users | clients | op | json median ms | json ops/s | json ops | json peak RSS "
          "| postgres median ms | postgres ops/s | postgres ops | postgres peak RSS | floor ms | json / floor |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in a.users:
        for k in a.clients:
            for op in a.ops:
                j, p = results[(size, k, op, "json")], results[(size, k, op, "postgres")]
                cells = [f"{size:,}", str(k), op]
                for rows in (j, p):
                    cells += [f"{med(rows, 'median_ms'):.3f}", f"{med(rows, 'ops_s'):,.1f}",
                              f"{med(rows, 'count'):g}", f"{med(rows, 'rss_kib') / 1024:.1f} MiB"]
                if op == "writepair":
                    fl = statistics.median(floors[size])
                    cells += [f"{fl:.3f}", f"{med(j, 'median_ms') / fl:.1f}"]
                else:
                    cells += ["", ""]
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""test_all_domains.py — the four domains together, as an operator runs them.

Generated dirty legacy state for identity, telemetry, profile and reports on
one state root goes through `survey all` -> `backfill all` (dry run) ->
`backfill all --apply` -> `verify all`, against the real Postgres that
tests/with-postgres.sh started. Checks:
  - survey all exits 1 (there are unmappable records) and names every domain;
  - the dry run writes nothing (every target table stays empty) and predicts
    exactly what --apply then inserts and rejects, table by table;
  - --apply rejects exactly the records each generator injected (file and
    position, per domain), and keeps each one's reason;
  - verify all passes every check (exit 0, no ✗ line);
  - a second --apply inserts nothing in any table;
  - status shows all four domains.

usage: tests/with-postgres.sh python3 tests/test_all_domains.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

DOMAINS = ["identity", "telemetry", "profile", "reports"]
TABLES = [
    "identity.users", "identity.user_oauth", "identity.sessions",
    "operations.incidents", "operations.telemetry_events",
    "content.portfolio_profiles", "content.profile_specialties", "content.profile_tools",
    "content.portfolio_certifications", "content.portfolio_education",
    "operations.reports", "operations.report_actions",
]
TIMEOUT = 300  # seconds for any one command


def run(cmd, env, expect=None):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if expect is not None and p.returncode != expect:
        sys.stderr.write(f"$ {' '.join(cmd)}\nexit {p.returncode}, expected {expect}\n"
                         f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}\n")
        raise SystemExit(1)
    return p


def counts(env):
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    out = run(["psql", "-X", "-At", "-F", " ", "-c", sql], env, 0).stdout
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}


def read_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    build, source = sys.argv[1], sys.argv[2]
    cutover = os.path.join(build, "cutover")
    work = tempfile.mkdtemp(prefix="cutover-all.")
    root, rejects = os.path.join(work, "state"), os.path.join(work, "rejects")
    env = dict(os.environ, CUTOVER_JSON_ROOT=root)
    for d in DOMAINS:
        env.pop(d.upper() + "_STORE", None)

    run(["bash", os.path.join(source, "tests", "gen-state.sh"), build, "--out", root, "--users", "60",
         "--seed", "7", "--dirty", "--quiet"], env, 0)
    run([cutover, "migrate"], env, 0)

    survey = run([cutover, "survey", "all", "--json"], env, 1)
    doc = json.loads(survey.stdout)
    missing = [d for d in DOMAINS if d not in doc]
    assert not missing, f"survey all left out {missing}"

    dry = json.loads(run([cutover, "backfill", "all", "--json"], env, 1).stdout)
    written = {t: n for t, n in counts(env).items() if n}
    assert not written, f"the dry run wrote rows: {written}"

    apply = run([cutover, "backfill", "all", "--apply", "--rejects", rejects, "--repair-sequences", "--json"], env, 1)
    doc = json.loads(apply.stdout)
    assert all(d in doc for d in DOMAINS), f"backfill all ran {list(doc)}"

    # the dry run said exactly what --apply then did, domain after domain
    # (profile and reports see the users and incidents earlier domains would insert)
    for d in DOMAINS:
        said = [(t["table"], t["insert"], t["rejected"]) for t in dry[d]["tables"]]
        did = [(t["table"], t["insert"], t["rejected"]) for t in doc[d]["tables"]]
        assert said == did, f"{d}: the dry run said {said}, --apply did {did}"
    print("ok the dry run of all predicted every table's inserts and rejects")

    for d in DOMAINS:
        expected_path = os.path.join(root, "expected-rejects.ndjson" if d == "identity"
                                     else f"expected-rejects-{d}.ndjson")
        expected = {(r["file"], r["position"]) for r in read_ndjson(expected_path)}
        got = {(r["file"], r["position"]) for r in read_ndjson(os.path.join(rejects, d, "reasons.ndjson"))}
        assert got == expected, (f"{d}: rejected {sorted(got - expected)} that were not injected; "
                                 f"kept {sorted(expected - got)} that were")
        print(f"ok {d}: exactly the {len(expected)} injected records rejected")

    verify = run([cutover, "verify", "all"], env)
    if verify.returncode != 0 or "\u2717" in verify.stdout:
        sys.stderr.write(verify.stdout + verify.stderr)
        raise SystemExit(f"verify all failed (exit {verify.returncode})")
    passed = [line for line in verify.stdout.splitlines() if line.startswith("\u2713")]
    print(f"ok verify all: {len(passed)} checks, every one \u2713")

    again = json.loads(run([cutover, "backfill", "all", "--apply", "--rejects", rejects, "--json"], env, 1).stdout)
    for d in DOMAINS:
        for t in again[d]["tables"]:
            assert t["insert"] == 0, f"second --apply inserted {t['insert']} rows into {t['table']}"
    print("ok second --apply inserted nothing")

    status = json.loads(run([cutover, "status", "--json"], env, 0).stdout)
    text = json.dumps(status)
    assert all(d in text for d in DOMAINS), "status left a domain out"
    print("ok status covers all four domains")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""test_export.py — the round trip legacy -> backfill -> export, and the json
backend reading back what Postgres serves.

For generated legacy state of all four domains (tests/gen-state.sh):
  clean   backfill all --apply; then
          - `export all` (dry run) exits 0, names no difference, writes nothing;
          - `export all --apply` to the same root leaves every legacy document
            byte for byte as it was (nothing differs) and adds the event id
            counter;
          - `export all --apply` to a fresh root writes documents equal to the
            originals after normalisation (NORMALISATION below, the same as
            docs/legacy-layout.md, "Round trip"), and byte for byte equal to
            what the json backend itself writes when it replicates every record
            Postgres holds into an empty root (cutover-export-walk replica);
          - app writes in the postgres stage (cutover-export-walk mutate), then
            the dry run names what differs, what is new and what is dropped,
            writes nothing, and --apply brings the json side level: the json
            backend (stage json) serves every record Postgres serves
            (cutover-export-walk walk: gets by key, list and query pages);
  dirty   (--dirty) backfill all --apply rejects the injected records; the dry
          run names exactly those as dropped (file and position), except the
          lines of telemetry/events/backup-old.ndjson, which is not a daily
          file and is left alone; --apply keeps every replaced document byte for
          byte in the backup, lists every dropped record there, and leaves
          documents equal to the originals without the rejected records; a
          second --apply writes nothing.
  full    a list of dropped records that cannot be written (RLIMIT_FSIZE)
          stops --apply with exit 3 before the document is replaced.
With --http (under tests/with-nginx.sh) the clean round trip runs with the
state root on nginx (CUTOVER_TEST_HTTP_ROOT): upload, backfill, mutate, dry
run, --apply, walk.

usage: tests/with-postgres.sh python3 tests/test_export.py BUILD_DIR SOURCE_DIR [--http]
"""
import datetime
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request

TIMEOUT = 300  # seconds for any one command
DOMAINS = ["identity", "telemetry", "profile", "reports"]
COLLECTIONS = {  # document -> (collection, key field)
    "identity/users.json": ("users", "id"),
    "identity/sessions.json": ("sessions", "token_hash"),
    "profile/profiles.json": ("profiles", "user_id"),
    "reports/reports.json": ("reports", "id"),
    "telemetry/incidents.json": ("incidents", "id"),
}
DAY_FILE = re.compile(r"^telemetry/events/\d{4}-\d{2}-\d{2}\.ndjson$")

# ---------------------------------------------------------------------------
# NORMALISATION: what the backfill's normalisation changes, and nothing else.
#  - a document is its records, keyed by their key (records of a collection
#    document by id / token_hash / user_id, lines of a daily file by id); the
#    order of records, whitespace, key order in objects and blank lines do
#    not count;
#  - fields the layout does not define are left out (Postgres does not hold
#    them; an export over the same root keeps them, one to a fresh root
#    cannot), and so are the other top-level keys ("cutover_last_ids");
#  - a field that is null is the same as one that is absent (payloads
#    excepted: a null inside a payload is a value);
#  - timestamps (ISO-8601 with Z or an offset, any fraction, or epoch
#    milliseconds) compare as the microsecond they name; profile dates given
#    as a midnight timestamp compare as that date;
#  - emails compare trimmed and ASCII-lower-cased;
#  - report tags compare after the tag rule (a comma-separated string split;
#    each tag trimmed; empty and repeated tags dropped; order kept); a report
#    without status has the one its archived_at implies, one without
#    updated_at has its created_at;
#  - absent or null lists (oauth, specialties, tools, certifications,
#    education, actions) are empty lists, an absent or null payload is {},
#    and numbers inside a payload compare as IEEE doubles.
# ---------------------------------------------------------------------------
TS_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
                   r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ts(v):
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(round(v * 1000))
    m = TS_RE.match(v)
    assert m, f"not a timestamp: {v!r}"
    y, mo, d, h, mi, s, frac, zone = m.groups()
    t = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0),
                          tzinfo=datetime.timezone.utc)
    us = ((t - EPOCH).days * 86400 + (t - EPOCH).seconds) * 1000000 + int((frac or "0")[:6].ljust(6, "0"))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        off = int(digits[:2]) * 3600 + (int(digits[2:4]) * 60 if len(digits) > 2 else 0)
        us -= sign * off * 1000000
    return us


def date(v):
    if v is None or v == "":
        return None
    if isinstance(v, str) and len(v) == 10:
        return v
    return (EPOCH + datetime.timedelta(microseconds=ts(v))).strftime("%Y-%m-%d")


def tag_rule(v):
    if v is None:
        return []
    parts = v.split(",") if isinstance(v, str) else v
    out = []
    for p in parts:
        p = p.strip(" \t\r\n\f\v")
        if p and p not in out:
            out.append(p)
    return out


def doubles(v):
    if isinstance(v, dict):
        return {k: doubles(x) for k, x in v.items()}
    if isinstance(v, list):
        return [doubles(x) for x in v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def pick(rec, fields):
    return {f: rec[f] for f in fields if rec.get(f) is not None}


def objs(v, fields):
    return [pick(o, fields) for o in (v or [])]


def norm_user(r):
    o = pick(r, ["id", "username", "display_name", "password_hash", "role", "disabled"])
    o["email"] = r["email"].strip(" \t\r\n\f\v").lower()
    o["oauth"] = objs(r.get("oauth"), ["provider", "subject"])
    for f in ["email_verified_at", "created_at", "updated_at"]:
        o[f] = ts(r.get(f))
    return o


def norm_session(r):
    o = pick(r, ["token_hash", "user_id", "user_agent", "ip"])
    for f in ["created_at", "expires_at", "last_seen_at"]:
        o[f] = ts(r.get(f))
    return o


def norm_profile(r):
    o = pick(r, ["user_id", "headline", "bio", "location", "website", "avatar_path"])
    o["specialties"] = r.get("specialties") or []
    o["tools"] = r.get("tools") or []
    o["certifications"] = [dict(pick(c, ["id", "name", "issuer", "credential_id", "credential_url", "asset_path"]),
                                issued_on=date(c.get("issued_on")), expires_on=date(c.get("expires_on")))
                           for c in r.get("certifications") or []]
    o["education"] = objs(r.get("education"), ["id", "institution", "degree", "field", "start_year", "end_year"])
    o["updated_at"] = ts(r.get("updated_at"))
    return o


def norm_report(r):
    o = pick(r, ["id", "title", "summary", "content", "severity", "author_id", "incident_id"])
    o["tags"] = tag_rule(r.get("tags"))
    o["created_at"] = ts(r.get("created_at"))
    o["updated_at"] = ts(r.get("updated_at")) or o["created_at"]
    o["archived_at"] = ts(r.get("archived_at"))
    o["status"] = r.get("status") or ("archived" if o["archived_at"] else "active")
    o["actions"] = [dict(pick(a, ["action", "actor_id", "note"]), at=ts(a.get("at"))) for a in r.get("actions") or []]
    return o


def norm_incident(r):
    o = pick(r, ["id", "title", "state", "severity"])
    for f in ["opened_at", "resolved_at", "updated_at"]:
        o[f] = ts(r.get(f))
    return o


def norm_event(r):
    o = pick(r, ["id", "source_ip", "region", "node", "attack_type", "severity", "incident_id"])
    o["occurred_at"] = ts(r.get("occurred_at"))
    o["payload"] = doubles(r.get("payload") or {})
    return o


NORM = {"identity/users.json": norm_user, "identity/sessions.json": norm_session,
        "profile/profiles.json": norm_profile, "reports/reports.json": norm_report,
        "telemetry/incidents.json": norm_incident}


def normalise(key, records):
    """records: the parsed records of one document -> {key: normalised record}"""
    if key in COLLECTIONS:
        fn, kf = NORM[key], COLLECTIONS[key][1]
    else:
        fn, kf = norm_event, "id"
    out = {}
    for r in records:
        n = fn(r)
        assert n[kf] not in out, f"{key}: {kf} {n[kf]} twice"
        out[n[kf]] = n
    return out


def parse_doc(key, data):
    """A whole document as the library writes or reads it -> its records."""
    if key in COLLECTIONS:
        return json.loads(data)[COLLECTIONS[key][0]] if data.strip() else []
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def framed(key, data, skip):
    """A generated document, framed one element per line (as the generators
    write them), without the elements at the positions in skip."""
    out = []
    if key in COLLECTIONS:
        lines = data.splitlines()[1:]  # after '{"users": ['
        pos = 0
        for line in lines:
            if line.strip() in ("]}", ""):
                continue
            pos += 1
            if pos in skip:
                continue
            out.append(json.loads(line.rstrip().rstrip(",")))
    else:
        for n, line in enumerate(data.splitlines(), 1):
            if line.strip() and n not in skip:
                out.append(json.loads(line))
    return out


def compare(key, want, got, what):
    if want == got:
        return
    missing = sorted(set(want) - set(got), key=str)[:5]
    extra = sorted(set(got) - set(want), key=str)[:5]
    differ = [k for k in want if k in got and want[k] != got[k]][:3]
    detail = [f"{k}: {sorted(f for f in set(want[k]) | set(got[k]) if want[k].get(f) != got[k].get(f))}"
              for k in differ]
    raise SystemExit(f"{what}: {key} differs after normalisation: missing {missing}, extra {extra}, "
                     f"differing {detail}")

# ---------------------------------------------------------------------------


def run(cmd, env, expect=None, cwd=None):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    if expect is not None and p.returncode != expect:
        sys.stderr.write(f"$ {' '.join(cmd)}\nexit {p.returncode}, expected {expect}\n"
                         f"--- stdout\n{p.stdout[-6000:]}\n--- stderr\n{p.stderr[-6000:]}\n")
        raise SystemExit(1)
    return p


def tree(root):
    """Every file under a local root: relative path -> bytes (dot-dirs left out)."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def layout_keys(t):
    return sorted(k for k in t if k in COLLECTIONS or DAY_FILE.match(k))


def fresh_db(env, name):
    run(["psql", "-X", "-q", "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"], env, 0)
    e = dict(env, PGDATABASE=name)
    e["DATABASE_URL"] = re.sub(r"^postgresql:///[^?]*", f"postgresql:///{name}", env["DATABASE_URL"])
    return e


class Ctx:
    def __init__(self, build, source, work):
        self.cutover = os.path.join(build, "cutover")
        self.walker = os.path.join(build, "tests", "cutover-export-walk")
        self.gen = os.path.join(source, "tests", "gen-state.sh")
        self.build = build
        self.work = work

    def export(self, env, *args, expect=None):
        return run([self.cutover, "export", *args], env, expect, cwd=self.work)


def dry_run_report(ctx, env, expect):
    p = ctx.export(env, "all", "--json", expect=expect)
    doc = json.loads(p.stdout)
    assert all(d in doc for d in DOMAINS), f"export all ran {list(doc)}"
    return doc


def clean_round_trip(ctx, env):
    root = os.path.join(ctx.work, "clean")
    env = dict(env, CUTOVER_JSON_ROOT=root)
    run(["bash", ctx.gen, ctx.build, "--out", root, "--users", "40", "--seed", "7", "--quiet"], env, 0)
    before = tree(root)
    run([ctx.cutover, "migrate"], env, 0)
    run([ctx.cutover, "backfill", "all", "--apply", "--rejects", os.path.join(ctx.work, "rej-clean"),
         "--repair-sequences"], env, 0)

    doc = dry_run_report(ctx, env, 0)
    for d in DOMAINS:
        for x in doc[d]["documents"]:
            assert (x["differ"], x["new"], x["dropped"]) == (0, 0, 0), f"clean {d}: {x['key']} would change: {x}"
    assert tree(root) == before, "the dry run wrote to the state root"
    assert not os.path.exists(os.path.join(ctx.work, "cutover-export-backup")), "the dry run made a backup"
    print("ok clean: the dry run names no difference and writes nothing")

    ctx.export(env, "all", "--apply", "--backup", os.path.join(ctx.work, "bk-clean"), expect=0)
    after = tree(root)
    for k in layout_keys(before):
        assert after[k] == before[k], f"clean export over the same root changed {k}"
    counter = json.loads(after["telemetry/.event-ids.json"])
    print(f"ok clean: export --apply over the same root keeps every legacy document byte for byte "
          f"(and writes next_id {counter['next_id']})")

    fresh = os.path.join(ctx.work, "fresh")
    ctx.export(dict(env, CUTOVER_JSON_ROOT=fresh), "all", "--apply", "--backup",
               os.path.join(ctx.work, "bk-fresh"), expect=0)
    got = tree(fresh)
    assert layout_keys(got) == layout_keys(before), f"fresh export wrote {layout_keys(got)}"
    for k in layout_keys(before):
        compare(k, normalise(k, framed(k, before[k].decode(), set())),
                normalise(k, parse_doc(k, got[k].decode())), "fresh export")
    print(f"ok clean: export to a fresh root equals the originals after normalisation ({len(got)} documents)")

    replica = os.path.join(ctx.work, "replica")
    run([ctx.walker, "replica", replica], env, 0)
    rep = tree(replica)
    for k in sorted(set(layout_keys(rep)) | {"telemetry/.event-ids.json"}):
        assert got.get(k) == rep.get(k), f"{k}: the export is not what the json backend writes"
    print("ok clean: the fresh export is byte for byte what the json backend writes for the same records")
    out = run([ctx.walker, "walk", fresh], env, 0).stdout
    print("ok clean, fresh root: " + out.strip())

    # app writes in the postgres stage, then the export brings json level
    run([ctx.walker, "mutate"], env, 0)
    status = run([ctx.cutover, "status"], env, 0).stdout
    assert "ran in postgres since" in status and "not exported" in status, status
    snapshot = tree(root)
    doc = dry_run_report(ctx, env, 0)  # the two sessions deleted in postgres are no drop
    assert tree(root) == snapshot, "the dry run wrote to the state root"
    by_key = {x["key"]: x for d in DOMAINS for x in doc[d]["documents"]}
    users, sessions = by_key["identity/users.json"], by_key["identity/sessions.json"]
    assert [x["record"] for x in users["differing"]] == ["id 1"] and users["differing"][0]["fields"] == \
        "display_name,updated_at", users
    assert users["new"] == 1 and sessions["new"] == 1 and sessions["dropped"] == 0, (users, sessions)
    # the walker deleted two sessions: expired by the snapshot, or deleted in postgres (named)
    now_us = ts(doc["identity"]["snapshot"])
    gone = [r for r in json.loads(snapshot["identity/sessions.json"])["sessions"]
            if r["token_hash"] in set(mutated_tokens(ctx, env, snapshot))]
    want_expired = sum(1 for r in gone if ts(r["expires_at"]) <= now_us)
    assert (sessions["expired"], sessions["deleted_in_postgres"]) == (want_expired, 2 - want_expired), sessions
    assert all(x["reason"] == "deleted in postgres" for x in sessions["deleted_records"]), sessions
    assert by_key["profile/profiles.json"]["differ"] == 1 and by_key["profile/profiles.json"]["new"] == 1
    assert by_key["reports/reports.json"]["differ"] == 2 and by_key["reports/reports.json"]["new"] == 1
    assert by_key["telemetry/incidents.json"]["new"] == 1
    print("ok after postgres-stage writes: the dry run names what differs, what is new and what goes, "
          "and writes nothing")
    text = ctx.export(env, "all", "--apply", expect=0).stdout
    assert "recorded in cutover.postgres_runs" in text, text
    out = run([ctx.walker, "walk", root], env, 0).stdout
    print("ok after export --apply the json backend serves what postgres serves: " + out.strip())
    backups = os.listdir(os.path.join(ctx.work, "cutover-export-backup"))
    assert sorted(b.split("-")[0] for b in backups) == sorted(DOMAINS), backups
    again = dry_run_report(ctx, env, 0)
    for d in DOMAINS:
        for x in again[d]["documents"]:
            assert (x["differ"], x["new"], x["dropped"]) == (0, 0, 0), f"{d}: {x['key']} still differs: {x}"
    print("ok a second dry run finds nothing left to write")


def mutated_tokens(ctx, env, snapshot):
    """The token hashes of the sessions document that Postgres no longer holds."""
    held = set(run(["psql", "-X", "-At", "-c", "SELECT token_hash FROM identity.sessions"], env, 0).stdout.split())
    return [r["token_hash"] for r in json.loads(snapshot["identity/sessions.json"])["sessions"]
            if r["token_hash"] not in held]


def dirty_round_trip(ctx, env):
    env = fresh_db(env, "export_dirty")
    root = os.path.join(ctx.work, "dirty")
    env = dict(env, CUTOVER_JSON_ROOT=root)
    run(["bash", ctx.gen, ctx.build, "--out", root, "--users", "40", "--seed", "9", "--dirty", "--quiet"], env, 0)
    before = tree(root)
    run([ctx.cutover, "migrate"], env, 0)
    run([ctx.cutover, "backfill", "all", "--apply", "--rejects", os.path.join(ctx.work, "rej-dirty"),
         "--repair-sequences"], env, 1)
    rejected = {}
    for f in ["expected-rejects.ndjson"] + [f"expected-rejects-{d}.ndjson" for d in DOMAINS[1:]]:
        for line in before[f].decode().splitlines():
            r = json.loads(line)
            rejected.setdefault(r["file"], set()).add(r["position"])
    left_alone = {k for k in rejected if k.startswith("telemetry/events/") and not DAY_FILE.match(k)}

    doc = dry_run_report(ctx, env, 1)
    assert tree(root) == before, "the dry run wrote to the state root"
    named = {}
    for d in DOMAINS:
        for x in doc[d]["documents"]:
            named[x["key"]] = {r["position"] for r in x["dropped_records"]}
            assert (x["differ"], x["new"]) == (0, 0), f"dirty {d}: {x['key']}: {x}"
        for k in doc[d]["left_alone"]:
            assert k in left_alone, f"left alone {k}"
    want = {k: v for k, v in rejected.items() if k not in left_alone}
    assert {k: v for k, v in named.items() if v} == want, \
        f"the dry run would drop {named}, the backfill rejected {want}"
    print(f"ok dirty: the dry run names exactly the {sum(map(len, want.values()))} rejected records as dropped "
          f"and writes nothing")

    backup = os.path.join(ctx.work, "bk-dirty")
    ctx.export(env, "all", "--apply", "--backup", backup, expect=1)
    after, kept = tree(root), tree(backup)
    for k in want:
        assert kept[k] == before[k], f"the backup of {k} is not the document byte for byte"
        assert os.stat(os.path.join(backup, k)).st_mode & 0o777 == 0o600, f"{k} in the backup is not 0600"
    listed = {}
    for d in DOMAINS:
        for line in kept[f"dropped-{d}.ndjson"].decode().splitlines():
            r = json.loads(line)
            listed.setdefault(r["document"], set()).add(r["position"])
    assert listed == want, f"the backup lists {listed}"
    for k in left_alone:
        assert after[k] == before[k], f"{k} was touched"
    for k in layout_keys(before):
        compare(k, normalise(k, framed(k, before[k].decode("utf-8", "surrogateescape"), rejected.get(k, set()))),
                normalise(k, parse_doc(k, after[k].decode())), "dirty export")
    print("ok dirty: --apply keeps each replaced document byte for byte (0600) and lists every dropped record; "
          "the documents equal the originals without the rejected records")
    out = run([ctx.walker, "walk", root], env, 0).stdout
    print("ok dirty: " + out.strip())
    snapshot = tree(root)
    ctx.export(env, "all", "--apply", "--backup", os.path.join(ctx.work, "bk-dirty2"), expect=0)
    assert {k: v for k, v in tree(root).items()} == snapshot, "a second --apply changed documents"
    print("ok dirty: a second --apply writes nothing")


def dropped_list_unwritable(ctx, env):
    """--apply stops with exit 3, before the document is replaced, when the
    list of dropped records cannot be written (a file size limit: the
    document and its backup fit under it, the list does not)."""
    env = fresh_db(env, "export_full")
    root = os.path.join(ctx.work, "full-root")
    os.makedirs(os.path.join(root, "identity"))
    doc = '{"users":[' + ",".join('{"id":"u%d"}' % i for i in range(3000)) + ']}'
    users = os.path.join(root, "identity", "users.json")
    with open(users, "w") as f:
        f.write(doc)
    env = dict(env, CUTOVER_JSON_ROOT=root)
    run([ctx.cutover, "migrate"], env, 0)
    limit = 64 * 1024
    assert len(doc) < limit

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run([ctx.cutover, "export", "identity", "--apply", "--backup", os.path.join(ctx.work, "bk-full")],
                       env=env, capture_output=True, text=True, timeout=TIMEOUT, cwd=ctx.work, preexec_fn=limited)
    assert p.returncode == 3, f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    assert "dropped-identity.ndjson" in p.stderr and "File too large" in p.stderr, p.stderr
    assert open(users).read() == doc, "users.json was replaced although its dropped records could not be listed"
    print("ok a list of dropped records that cannot be written stops --apply (exit 3) before the document is replaced")


def put(url, data):
    req = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (200, 201, 204), r.status


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def http_round_trip(ctx, env):
    base = os.environ["CUTOVER_TEST_HTTP_ROOT"].rstrip("/") + f"/export-{os.getpid()}"
    env = fresh_db(env, "export_http")
    local = os.path.join(ctx.work, "http-source")
    run(["bash", ctx.gen, ctx.build, "--out", local, "--users", "30", "--seed", "5", "--quiet"], env, 0)
    before = tree(local)
    for k in layout_keys(before):
        put(f"{base}/{k}", before[k])
    env = dict(env, CUTOVER_JSON_ROOT=base)
    run([ctx.cutover, "migrate"], env, 0)
    run([ctx.cutover, "backfill", "all", "--apply", "--rejects", os.path.join(ctx.work, "rej-http"),
         "--repair-sequences"], env, 0)
    run([ctx.walker, "mutate"], env, 0)
    doc = dry_run_report(ctx, env, 0)
    assert sum(x["differ"] + x["new"] for d in DOMAINS for x in doc[d]["documents"]) > 0
    for k in layout_keys(before):
        assert get(f"{base}/{k}") == before[k], f"the dry run wrote {k} over HTTP"
    ctx.export(env, "all", "--apply", "--backup", os.path.join(ctx.work, "bk-http"), expect=0)
    out = run([ctx.walker, "walk", base], env, 0).stdout
    kept = tree(os.path.join(ctx.work, "bk-http"))
    assert kept["identity/users.json"] == before["identity/users.json"], "the backup is not the HTTP document"
    print("ok over HTTP (nginx): dry run writes nothing, --apply keeps the old documents; " + out.strip())


def main():
    build, source = sys.argv[1], sys.argv[2]
    http = "--http" in sys.argv[3:]
    work = tempfile.mkdtemp(prefix="cutover-export.")
    env = dict(os.environ)
    for d in DOMAINS:
        env.pop(d.upper() + "_STORE", None)
    env.pop("CUTOVER_FLAG_PREFIX", None)
    ctx = Ctx(build, source, work)
    try:
        if http:
            http_round_trip(ctx, env)
        else:
            clean_round_trip(ctx, env)
            dirty_round_trip(ctx, env)
            dropped_list_unwritable(ctx, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

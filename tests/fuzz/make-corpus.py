#!/usr/bin/env python3
"""make-corpus.py — (re)build the seed corpus of the fuzz harnesses.

usage: tests/fuzz/make-corpus.py STATE_DIR [OUT_DIR]

STATE_DIR is generated dirty legacy state:
    tests/gen-state.sh build --out STATE_DIR --users 3 --seed 7 --dirty --quiet
OUT_DIR defaults to tests/fuzz/corpus. For each harness it writes a whole
generated document, one small document per ugly case the generators inject
(named after the case in expected-rejects*.ndjson: truncated JSON, \\u0000 in
strings, ids that overflow, duplicate keys, wrong types, invalid UTF-8, ...),
one clean record, and a few framing cases written here by hand.
"""
import json
import os
import sys

state = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def read(rel):
    with open(os.path.join(state, rel), "rb") as f:
        return f.read()


def write(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def records(doc):
    """The elements of a generated {"coll": [\\n rec,\\n ...]} document, one a line."""
    lines = doc.split(b"\n")[1:]
    recs = []
    for line in lines:
        if line.startswith(b"]"):
            break
        if line.strip():
            recs.append(line[:-1] if line.endswith(b",") else line)
    return recs


def cases(rel):
    """(position, case) of every injected ugly case of one file."""
    found = []
    for name in sorted(os.listdir(state)):
        if name.startswith("expected-rejects") and name.endswith(".ndjson"):
            for line in read(name).splitlines():
                r = json.loads(line)
                if r["file"] == rel:
                    found.append((r["position"], r["case"]))
    return found


def json_cases(target, rel, coll, prefix):
    doc = read(rel)
    write(target, prefix + "-whole.json", doc)
    recs = records(doc)
    bad = {}
    for pos, case in cases(rel):
        bad.setdefault(case, pos)
    for case, pos in sorted(bad.items()):
        rec = recs[pos - 1]
        tail = b"" if case == "truncated" else b"\n]}\n"
        write(target, f"{prefix}-{case}.json", b'{"%s": [\n' % coll.encode() + rec + tail)
    clean = [i for i in range(len(recs)) if i + 1 not in {p for p, _ in cases(rel)}]
    if clean:
        write(target, prefix + "-clean.json", b'{"%s": [\n' % coll.encode() + recs[clean[0]] + b"\n]}\n")


# the domain decoders
json_cases("identity", "identity/users.json", "users", "users")
json_cases("identity", "identity/sessions.json", "sessions", "sessions")
json_cases("profile", "profile/profiles.json", "profiles", "profiles")
json_cases("reports", "reports/reports.json", "reports", "reports")
json_cases("telemetry", "telemetry/incidents.json", "incidents", "incidents")

# incidents.json gets few ugly cases from its generator: the rest by hand
incident = (b'{"id": 3, "title": "T", "state": "resolved", "severity": "high", '
            b'"opened_at": "2026-01-01T00:00:00Z", "resolved_at": 1767225600000}')
for name, rec in {
    "truncated": incident[:40],
    "nul-in-string": incident.replace(b'"T"', b'"a\\u0000b"'),
    "id-overflow": incident.replace(b'"id": 3', b'"id": 99999999999999999999'),
    "duplicate-key": incident.replace(b'"state"', b'"title": "again", "state"'),
    "wrong-type": incident.replace(b'"title": "T"', b'"title": ["T"]'),
    "invalid-utf8": incident.replace(b'"T"', b'"\xc3\x28"'),
}.items():
    write("telemetry", f"incidents-{name}.json", b'{"incidents": [\n' + rec + (b"" if name == "truncated" else b"\n]}\n"))

# the NDJSON daily files: one whole file, each ugly line alone, a clean line
days = sorted(n for n in os.listdir(os.path.join(state, "telemetry/events")) if n[:1].isdigit())
write("events", "day-whole.ndjson", read("telemetry/events/" + days[-1]))
write("events", "misnamed-file.ndjson", read("telemetry/events/backup-old.ndjson"))
seen = set()
for day in days:
    rel = "telemetry/events/" + day
    lines = read(rel).split(b"\n")
    for pos, case in cases(rel):
        if case not in seen:
            seen.add(case)
            write("events", f"line-{case}.ndjson", lines[pos - 1] + (b"" if case == "truncated" else b"\n"))
write("events", "line-clean.ndjson", read("telemetry/events/" + days[0]).split(b"\n")[0] + b"\n")
write("events", "crlf-blank-lines.ndjson",
      read("telemetry/events/" + days[0]).split(b"\n")[0] + b"\r\n\r\n   \n" +
      read("telemetry/events/" + days[0]).split(b"\n")[1] + b"\r\n")

# the framer: whole documents and hand-written framing cases
write("scan", "users-whole.json", read("identity/users.json"))
write("scan", "day-whole.ndjson", read("telemetry/events/" + days[0]))
framing = {
    "empty.json": b"",
    "bom.json": b'\xef\xbb\xbf{"users": [{"id": 1}]}',
    "null-collection.json": b'{"users": null}',
    "other-keys-first.json": b'{"version": 2, "meta": {"a": [1, {"b": "]}"}]}, "users": [{"id": 1}, {"id": 2}]}',
    "sessions-then-users.json": b'{"sessions": [{"token_hash": "x"}],\n "users": [\n{"id": 1}\n]}',
    "missing-comma.json": b'{"users": [{"id": 1} {"id": 2}\n, 3, "s", null, [1,2]]}',
    "empty-slots.json": b'{"users": [,, {"id": 1},,]}',
    "not-a-document.json": b'[{"id": 1}]\ntrailing garbage',
    "escapes.json": b'{"users": [{"s": "a\\"]}\\\\", "t": "\\u0000", "u": "\\\\u0000"}]}',
    "deep.json": b'{"users": [' + b"[" * 1200 + b"]" * 1200 + b"]}",
    "truncated-key.json": b'{"us',
    "crlf.ndjson": b'{"id": 1}\r\n\r\n{"id": 2}\r\n',
}
for name, data in framing.items():
    write("scan", name, data)

# the document layer: whole documents that do and do not load
write("json_doc", "users-whole.json", read("identity/users.json"))
recs = records(read("identity/users.json"))
clean = [r for i, r in enumerate(recs) if i + 1 not in {p for p, _ in cases("identity/users.json")}]
write("json_doc", "users-clean.json", b'{"users": [\n' + b",\n".join(clean) + b'\n], "unknown": {"kept": [1, 2.5, "x"]}}\n')
docs = {
    "empty-object.json": b"{}",
    "null-collection.json": b'{"users": null}',
    "collection-not-a-list.json": b'{"users": {"id": 1}}',
    "nul-byte.json": b'{"users": [{"id": 1, "email": "a\x00b"}]}',
    "bom.json": b'\xef\xbb\xbf{"users": [{"id": 1, "created_at": 1700000000000}]}',
    "truncated.json": b'{"users": [{"id": 1, "created_at": "2024-01-0',
    "odd-values.json": (b'{"users": [{"id": 9007199254740993, "created_at": "2024-02-29T23:59:59.999999+14:00",'
                        b' "updated_at": -62135596800000, "email_verified_at": 253402300799999, "email": 5,'
                        b' "disabled": "no", "big": 1e400, "neg": -0, "s": "\\ud83d\\ude00 \\ud800"},'
                        b' {"id": -0.5, "created_at": ""}, 7, null]}'),
}
for name, data in docs.items():
    write("json_doc", name, data)

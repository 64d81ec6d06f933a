/* co.h — core's internal toolkit, shared by core, the adapters and flags.
 *
 * Not installed and not exported (the library builds with hidden visibility;
 * only CUTOVER_API names leave it). Small things every layer needs once:
 * error setters, a growable buffer, timestamp and email normalisation, the
 * one redaction helper, the log sink, the journal and the router constructor.
 */
#ifndef CUTOVER_CO_H
#define CUTOVER_CO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cutover.h"

#if defined(__GNUC__)
#define CO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CO_PRINTF(a, b)
#endif

/* --- errors (core/error.c) --- */
/* Set code and message; returns code so callers can `return co_err(...)`. err may be NULL. */
int co_err(cutover_error *err, int code, const char *fmt, ...) CO_PRINTF(3, 4);
void co_err_detail(cutover_error *err, const char *fmt, ...) CO_PRINTF(2, 3);
void co_err_hint(cutover_error *err, const char *fmt, ...) CO_PRINTF(2, 3);
int co_err_oom(cutover_error *err);

/* --- memory and strings (core/util.c) --- */
char *co_strdup(const char *s);          /* NULL stays NULL; aborts never, returns NULL on OOM */
char *co_strndup(const char *s, size_t n);
bool co_streq(const char *a, const char *b); /* NULL == NULL */
/* *dst = a copy of src (NULL stays NULL); false when out of memory. */
bool co_dup_str(char **dst, const char *src);
/* Replace *dst with a copy of src, freeing the old value; false (and *dst
 * untouched) when out of memory. */
bool co_set_str(char **dst, const char *src);

/* FNV-1a over bytes: a 64-bit hash for in-memory key tables (not for
 * anything an attacker chooses to collide: callers compare the keys). */
uint64_t co_hash64(const void *key, size_t len);

typedef struct co_buf {
	char *data;
	size_t len, cap;
	bool failed; /* an allocation failed; contents are unreliable */
} co_buf;
void co_buf_put(co_buf *b, const char *s, size_t n);
void co_buf_puts(co_buf *b, const char *s);
void co_buf_printf(co_buf *b, const char *fmt, ...) CO_PRINTF(2, 3);
void co_buf_free(co_buf *b);

/* The largest user id: legacy JSON numbers are doubles, exact up to 2^53. */
#define CO_ID_MAX 9007199254740992LL
/* Longest key texts the wrappers accept, in bytes: far below what Postgres's
 * unique indexes can hold (about 2.7 kB a row), so a key one store takes the
 * other takes too. */
#define CO_EMAIL_MAX 320
#define CO_OAUTH_PROVIDER_MAX 64
#define CO_OAUTH_SUBJECT_MAX 512

/* Trim ASCII whitespace and lower-case ASCII letters; malloc'd. */
char *co_email_normalize(const char *email);
bool co_is_hex64(const char *s);
bool co_role_valid(const char *role);
bool co_utf8_valid(const char *s); /* NULL is valid */

/* --- timestamps (core/time.c) --- */
/* The range every store can hold and every timestamp text can round-trip:
 * 0001-01-01T00:00:00Z through 9999-12-31T23:59:59.999999Z. */
#define CO_TS_MIN (-62135596800LL * 1000000)
#define CO_TS_MAX (253402300800LL * 1000000 - 1)
/* Is t a real time (not CUTOVER_TS_NULL) within years 0001-9999? */
bool co_ts_in_range(cutover_ts t);
/* The time a write stamps on a record whose stamp is `prev`: `now`, or one
 * microsecond after prev when the clock says no later (two writes in the
 * same microsecond, or clocks of two hosts apart), so a record's stamp only
 * grows and "newer" (co_*_newer) follows the order the writes took. */
cutover_ts co_ts_advance(cutover_ts prev, cutover_ts now);

/* --- page cursors (core/cursor.c) --- */
/* The text of a (timestamp, id) position: "<ts>:<id>"; buf has CUTOVER_CURSOR_LEN bytes. */
const char *co_cursor_format(cutover_ts ts, int64_t id, char *buf);
/* Parse a cursor; NULL or "" sets *first (the first page). Anything else that
 * is not a cursor is CUTOVER_EINVALID ("not a cursor handed out by cutover"). */
int co_cursor_parse(const char *text, cutover_ts *ts, int64_t *id, bool *first, cutover_error *err);

/* --- redaction (core/redact.c): the only code that decides what a secret prints as --- */
/* A stable, non-reversible stand-in for a secret value: "[redacted:9f3a1c2e]". */
const char *co_redact_value(const char *secret, char *buf, size_t len);
/* A connection string or URL with its password replaced by "****". */
const char *co_redact_conninfo(const char *conninfo, char *buf, size_t len);
/* A URL with any user:password@ replaced by "****@". */
const char *co_redact_url(const char *url, char *buf, size_t len);

/* --- logging (core/log.c) --- */
void co_log(const char *fmt, ...) CO_PRINTF(1, 2);

/* --- files (core/util.c) --- */
/* mkdir -p with mode 0700 for new directories. An empty path is CUTOVER_ECONFIG. */
int co_mkdirs(const char *path, cutover_error *err);

/* --- records (core/identity.c) --- */
cutover_user *co_user_dup(const cutover_user *u);
cutover_session *co_session_dup(const cutover_session *s);
void co_user_clear(cutover_user *u);
/* Names of fields that differ, comma-separated, into buf; returns count. */
int co_user_diff(const cutover_user *a, const cutover_user *b, char *buf, size_t len);
int co_session_diff(const cutover_session *a, const cutover_session *b, char *buf, size_t len);
/* Replication order: is a strictly newer state of the same record than b?
 * A put (replication) skips its write when the stored copy is newer, so two
 * second writes of one record landing out of order never move it back.
 * users: updated_at (every write stamps it, co_ts_advance).
 * sessions: created_at (a later one is a new session under that token),
 * then last_seen_at (touch never moves it back; NULL is older than any).
 * expires_at is set once, at creation, so it does not order states. */
bool co_user_newer(const cutover_user *a, const cutover_user *b);
bool co_session_newer(const cutover_session *a, const cutover_session *b);
/* A list of sessions (an internal answer: the sessions of one user, for
 * `cutover reconcile`); co_session_list_free frees the items, not l. */
typedef struct co_session_list {
	cutover_session *items;
	size_t n;
} co_session_list;
void co_session_list_free(co_session_list *l);
/* Apply an update patch to a record (both backends use this so they agree);
 * updated_at becomes co_ts_advance(updated_at, now). */
int co_user_apply_patch(cutover_user *u, const cutover_user_patch *p, cutover_ts now, cutover_error *err);

/* --- exact replication (core/router.c) ---
 * Replication never moves a record back: put_user, put_session, profile's
 * replicate, put_report and put_incident write nothing when the stored copy
 * is newer by the record's co_*_newer rule. `cutover reconcile` needs the
 * opposite: the target must end up holding exactly the authoritative record,
 * whatever it holds now. While co_replicate_exact(true) is in force on the
 * calling thread, every co_*_newer rule (co_user_newer, co_session_newer,
 * co_portfolio_newer, co_report_newer, co_incident_newer) answers false, so
 * those puts overwrite; identity checks (another email, another created_at,
 * another opened_at: CUTOVER_ECONFLICT) still hold. Only the operator
 * program sets it, around its own puts (backfill/reconcile.c); it is not
 * exported from the shared library, so an app cannot. Thread-local: other
 * threads keep the ordinary rule. */
void co_replicate_exact(bool on);
bool co_replicate_exact_on(void);

/* --- journal (core/journal.c): keys whose second write failed --- */
typedef struct co_journal co_journal;
int co_journal_open(co_journal **out, const char *dir, cutover_domain d, cutover_error *err);
/* Append one entry durably (fsync). entity: "user", "session", ...; target: the store that missed the write. */
int co_journal_record(co_journal *j, const char *entity, const char *key, const char *op, const char *target, const cutover_error *cause);
const char *co_journal_path(const co_journal *j);
/* Keys not yet reconciled in <dir>/<domain>.journal: distinct (entity,
 * key) pairs, plus one per entry that cannot be read (0 when there is no
 * journal). Streams the file, keeping a 64-bit hash per key. */
int co_journal_count(const char *dir, cutover_domain d, size_t *out, cutover_error *err);

/* Reading the journal back and removing what was repaired (reconcile).
 * An entry is one line: {at, domain, entity, key, op, target, code, error}.
 * A snapshot holds each distinct (entity, key) once, however many entries
 * name it, plus one key per entry that cannot be read; not the entries'
 * text (a rewrite reads the file again), so its memory grows with the
 * distinct keys, not with the journal. */
typedef struct co_journal_key {
	const char *entity, *key; /* NULL for an entry that cannot be read */
	const char *why;          /* then: why (constant text) */
	size_t entries;           /* entries that name this key */
	size_t first;             /* 1-based number of its first entry (blank lines not counted) */
	bool to_json, to_pg;      /* the targets its entries name */
} co_journal_key;

typedef struct co_journal_snapshot {
	cutover_domain domain;
	char *path;            /* <dir>/<domain>.journal */
	co_journal_key *keys;  /* in the order of their first entries */
	size_t n_keys;
	size_t n;              /* entries */
	uint32_t *entry_key;   /* entry i names keys[entry_key[i]] */
	uint64_t end;          /* bytes read; entries appended later start here */
	uint64_t dev, ino;     /* the file read (both 0 when there was none) */
	int lock_fd;           /* the reconcile lock, held until freed; -1 when none */
	/* internal: the (entity, key) -> index table */
	uint32_t *slots;
	size_t n_slots, cap_keys, cap_entries;
} co_journal_snapshot;

/* Read every entry of <dir>/<domain>.journal, up to the size the file had
 * under a shared lock (so no half-written entry is seen), streaming it. An absent journal (or directory)
 * has no entries and nothing is created. With reconcile_lock, first take
 * <dir>/.<domain>.reconcile.lock (created 0600) without waiting, so two
 * reconciles of a domain never run at once (CUTOVER_EBUSY), then remove
 * the temp files (.<domain>.journal.XXXXXX) an interrupted rewrite left. */
int co_journal_read(const char *dir, cutover_domain d, bool reconcile_lock, co_journal_snapshot *out,
		    cutover_error *err);
/* Keep the entries of the snapshot's keys whose keep[i] is true (one per
 * key, i < n_keys), and every entry appended since it was read: under the journal's exclusive lock, write
 * them to a temp file (fsync'd, with the old file's owner and mode), lock
 * it, rename it over the journal and fsync the directory before unlocking
 * (a failed directory sync is CUTOVER_EUNAVAILABLE, the rewrite done). A process that
 * holds the old file reopens the path before its next entry
 * (co_journal_record checks under its lock), so no concurrent entry is
 * lost. When the old file's owner cannot be kept (a non-root reconcile of
 * another user's journal), nothing is rewritten: CUTOVER_EUNAVAILABLE.
 * When every keep[i] is true the file is left alone. *kept (may be NULL)
 * gets the entries the journal now holds (the snapshot's when it was left
 * alone). */
int co_journal_rewrite(co_journal_snapshot *s, const bool *keep, size_t *kept, cutover_error *err);
void co_journal_snapshot_free(co_journal_snapshot *s);
void co_journal_close(co_journal *j);

/* --- the identity stage router (core/identity_router.c) --- */
/* Takes ownership of json, pg and journal (also on failure). */
int co_identity_router(cutover_identity **out, cutover_stage stage, cutover_identity *json, cutover_identity *pg, co_journal *journal, cutover_error *err);

#endif

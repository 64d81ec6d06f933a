/* pg_runs.c — the record behind the rollback guard (see pg_runs.h).
 *
 * One row per domain in cutover.postgres_runs. A postgres-stage open upserts
 * it: last_open_at becomes now, and `since` restarts at now when the row was
 * covered by an export (exported_at at or after last_open_at), so `since`
 * is the first open no export has covered. The export stamps exported_at
 * with the start of its REPEATABLE READ transaction, which is never later
 * than its snapshot: an open that raced with the export counts as after it
 * (the guard errs on the side of refusing). Timestamps travel as
 * microseconds; the domain name is a parameter.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_runs.h"

#define US(col) "(extract(epoch from " col ") * 1000000)::int8"

/* RETURNING: whether `since` (re)started now: a first open, or the first
 * after an export. */
static const char SQL_NOTE_OPEN[] =
    "INSERT INTO cutover.postgres_runs AS r (domain, since, last_open_at) VALUES ($1, now(), now()) "
    "ON CONFLICT (domain) DO UPDATE SET "
    "since = CASE WHEN r.exported_at IS NOT NULL AND r.exported_at >= r.last_open_at THEN now() ELSE r.since END, "
    "last_open_at = greatest(now(), r.last_open_at) RETURNING since = now()";

/* The stage lock: (CO_PG_STAGE_LOCK_CLASS, domain index + 1). $1: the key's second half. */
#define LOCK_CLASS_STR "1668247920"
static const char SQL_LOCK_SHARED[] = "SELECT pg_try_advisory_lock_shared(" LOCK_CLASS_STR ", $1::int)";
static const char SQL_LOCK[] = "SELECT pg_try_advisory_lock(" LOCK_CLASS_STR ", $1::int)";
static const char SQL_UNLOCK[] = "SELECT pg_advisory_unlock(" LOCK_CLASS_STR ", $1::int)";
/* the sessions (other than this one) that hold it shared */
static const char SQL_HOLDERS[] =
    "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = " LOCK_CLASS_STR "::oid "
    "AND objid = $1::oid AND objsubid = 2 AND mode = 'ShareLock' AND granted AND pid <> pg_backend_pid()";
/* whether this session holds it exclusively */
static const char SQL_HELD[] =
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = " LOCK_CLASS_STR "::oid "
    "AND objid = $1::oid AND objsubid = 2 AND mode = 'ExclusiveLock' AND granted AND pid = pg_backend_pid()";

static const char SQL_GET[] =
    "SELECT " US("since") ", " US("last_open_at") ", " US("exported_at") ", coalesce(export_root, ''), "
    "exported_at IS NULL OR exported_at < last_open_at FROM cutover.postgres_runs WHERE domain = $1";

static const char SQL_NOTE_EXPORT[] =
    "UPDATE cutover.postgres_runs SET exported_at = greatest(coalesce(exported_at, $2::timestamptz), $2::timestamptz), "
    "export_root = $3 WHERE domain = $1";

static bool table_missing(const cutover_error *err)
{
	return strcmp(err->sqlstate, "42P01") == 0 || strcmp(err->sqlstate, "3F000") == 0;
}

static cutover_ts col_ts(const PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? CUTOVER_TS_NULL : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

static void fill(co_pg_stage_run *out, const PGresult *r)
{
	memset(out, 0, sizeof *out);
	out->since = out->last_open_at = out->exported_at = CUTOVER_TS_NULL;
	if (PQntuples(r) != 1)
		return;
	out->exists = true;
	out->since = col_ts(r, 0);
	out->last_open_at = col_ts(r, 1);
	out->exported_at = col_ts(r, 2);
	snprintf(out->export_root, sizeof out->export_root, "%s", PQgetvalue(r, 0, 3));
	out->pending = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
}

int co_pg_runs_note_open(co_pg *pg, cutover_domain d, bool *armed, cutover_error *err)
{
	const char *p[1] = {cutover_domain_name(d)};
	if (armed)
		*armed = false;
	PGresult *r = co_pg_exec(pg, "record the postgres stage", SQL_NOTE_OPEN, 1, p, err);
	if (!r) {
		if (table_missing(err))
			co_err_hint(err, "run `cutover migrate`: the postgres stage records itself in cutover.postgres_runs "
					 "(migration 0005), so that a later rollback to json is refused until `cutover "
					 "export %s --apply` has run",
				    p[0]);
		return err->code;
	}
	if (armed)
		*armed = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return CUTOVER_OK;
}

int co_pg_runs_get(co_pg *pg, cutover_domain d, co_pg_stage_run *out, cutover_error *err)
{
	const char *p[1] = {cutover_domain_name(d)};
	memset(out, 0, sizeof *out);
	PGresult *r = co_pg_exec(pg, "read cutover.postgres_runs", SQL_GET, 1, p, err);
	if (!r) {
		if (table_missing(err)) {
			cutover_error_clear(err);
			fill(out, NULL);
			return CUTOVER_OK;
		}
		return err->code;
	}
	fill(out, r);
	PQclear(r);
	return CUTOVER_OK;
}

int co_pg_runs_get_quick(const char *conninfo, int timeout_s, cutover_domain d, co_pg_stage_run *out, cutover_error *err)
{
	memset(out, 0, sizeof *out);
	out->since = out->last_open_at = out->exported_at = CUTOVER_TS_NULL;
	if (conninfo && (strchr(conninfo, '=') || strncmp(conninfo, "postgresql://", 13) == 0 ||
			 strncmp(conninfo, "postgres://", 11) == 0)) {
		char *msg = NULL;
		PQconninfoOption *o = PQconninfoParse(conninfo, &msg);
		if (!o) {
			PQfreemem(msg);
			return co_err(err, CUTOVER_ECONFIG, "the Postgres connection string cannot be parsed");
		}
		PQconninfoFree(o);
	}
	char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", timeout_s > 0 ? timeout_s : 1);
	/* keywords after dbname override what the expanded conninfo says */
	const char *keys[] = {"fallback_application_name", "dbname", "connect_timeout", NULL};
	const char *vals[] = {"cutover", conninfo ? conninfo : "", timeout, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c)
		return co_err_oom(err);
	int rc = CUTOVER_OK;
	if (PQstatus(c) != CONNECTION_OK) {
		rc = co_err(err, CUTOVER_EUNAVAILABLE, "postgres cannot be reached within %ss", timeout);
	} else {
		const char *p[1] = {cutover_domain_name(d)};
		PGresult *r = PQexecParams(c, SQL_GET, 1, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) == PGRES_TUPLES_OK) {
			fill(out, r);
		} else {
			rc = co_pg_fail(err, c, r, "read cutover.postgres_runs");
			if (table_missing(err)) {
				cutover_error_clear(err);
				rc = CUTOVER_OK;
			}
		}
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

int co_pg_runs_note_export(co_pg *pg, cutover_domain d, cutover_ts snapshot, const char *root_shown,
			   cutover_error *err)
{
	char ts[40];
	const char *p[3] = {cutover_domain_name(d), cutover_ts_format(snapshot, ts, sizeof ts), root_shown};
	PGresult *r = co_pg_exec(pg, "record the export in cutover.postgres_runs", SQL_NOTE_EXPORT, 3, p, err);
	if (!r)
		return table_missing(err) ? (cutover_error_clear(err), CUTOVER_OK) : err->code;
	PQclear(r);
	return CUTOVER_OK;
}

const char *co_pg_stage_run_describe(const co_pg_stage_run *r, cutover_domain d, char *buf, size_t len)
{
	char since[40], exported[40];
	cutover_ts_format(r->since, since, sizeof since);
	cutover_ts_format(r->exported_at, exported, sizeof exported);
	if (!r->exists)
		snprintf(buf, len, "%s has not run in the postgres stage", cutover_domain_name(d));
	else if (r->pending && r->exported_at == CUTOVER_TS_NULL)
		snprintf(buf, len, "%s ran in postgres since %s, not exported", cutover_domain_name(d), since);
	else if (r->pending)
		snprintf(buf, len, "%s ran in postgres since %s, not exported since (last export %s)",
			 cutover_domain_name(d), since, exported);
	else
		snprintf(buf, len, "%s ran in postgres; exported at %s", cutover_domain_name(d), exported);
	return buf;
}

/* --- the stage lock ------------------------------------------------------------------ */

static const char *lock_param(cutover_domain d, char buf[16])
{
	snprintf(buf, 16, "%d", (int)d + 1);
	return buf;
}

/* Runs a lock query keyed by the domain and copies the one value it returns
 * into val ("" when there is no row). */
static int lock_query(co_pg *pg, const char *what, const char *sql, cutover_domain d, char val[32], cutover_error *err)
{
	char key[16];
	const char *p[1] = {lock_param(d, key)};
	PGresult *r = co_pg_exec(pg, what, sql, 1, p, err);
	if (!r)
		return err->code;
	snprintf(val, 32, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return CUTOVER_OK;
}

static int bool_query(co_pg *pg, const char *what, const char *sql, cutover_domain d, bool *out, cutover_error *err)
{
	char v[32];
	int rc = lock_query(pg, what, sql, d, v, err);
	if (rc == CUTOVER_OK)
		*out = strcmp(v, "t") == 0;
	return rc;
}

int co_pg_stage_lock_shared(co_pg *pg, cutover_domain d, bool *got, cutover_error *err)
{
	return bool_query(pg, "take the postgres stage's lock", SQL_LOCK_SHARED, d, got, err);
}

int co_pg_stage_lock(co_pg *pg, cutover_domain d, bool *got, cutover_error *err)
{
	return bool_query(pg, "export: take the postgres stage's lock", SQL_LOCK, d, got, err);
}

void co_pg_stage_unlock(co_pg *pg, cutover_domain d)
{
	cutover_error scratch;
	bool ignored;
	bool_query(pg, "export: release the postgres stage's lock", SQL_UNLOCK, d, &ignored, &scratch);
}

static int count_query(co_pg *pg, const char *what, const char *sql, cutover_domain d, long *out, cutover_error *err)
{
	char v[32];
	int rc = lock_query(pg, what, sql, d, v, err);
	if (rc == CUTOVER_OK)
		*out = strtol(v, NULL, 10);
	return rc;
}

int co_pg_stage_holders(co_pg *pg, cutover_domain d, long *n, cutover_error *err)
{
	return count_query(pg, "count the sessions in the postgres stage", SQL_HOLDERS, d, n, err);
}

int co_pg_stage_lock_held(co_pg *pg, cutover_domain d, bool *held, cutover_error *err)
{
	long n = 0;
	int rc = count_query(pg, "export: check the postgres stage's lock", SQL_HELD, d, &n, err);
	*held = rc == CUTOVER_OK && n > 0;
	return rc;
}

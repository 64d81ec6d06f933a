/* pg_migrate.c — apply the embedded numbered migrations, each exactly once.
 *
 * The migrations are the files of adapters/postgres/migrations, embedded at
 * build time (embed_sql.py → co_migrations[]). Applied ones are recorded in
 * cutover.schema_migrations with a checksum Postgres computes over the file's
 * exact text, so a file edited after it shipped is caught (CUTOVER_ESTATE,
 * naming the file) instead of silently diverging; nothing runs until every
 * recorded checksum matches. Each pending file runs in its own transaction
 * together with its tracking row, so a failure leaves neither behind. A
 * session advisory lock serialises concurrent migrators (it is released at
 * the end, and by the server if the connection drops). A file's SQL is one
 * of our own constants and runs through PQexec as a multi-statement script;
 * it must not contain its own transaction control (or anything that cannot
 * run inside a transaction, such as CREATE INDEX CONCURRENTLY).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* "cutover" in ASCII, read as a big-endian integer. */
#define MIGRATE_LOCK_KEY "27995165641041266"

#define CHECKSUM_SQL "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')"

typedef struct recorded {
	PGresult *rows; /* version, checksum, applied_at in microseconds; NULL when no table */
} recorded;

/* Run one constant statement on c directly, ignoring the outcome: used on
 * the way out of a failure, where the first error is the one to report. */
static void quiet_exec(PGconn *c, const char *sql)
{
	if (c && PQstatus(c) == CONNECTION_OK)
		PQclear(PQexec(c, sql));
}

static void quiet_rollback(PGconn *c)
{
	if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
		quiet_exec(c, "ROLLBACK");
}

static int exec_cmd(co_pg *pg, const char *what, const char *sql, int n, const char *const *p, cutover_error *err)
{
	PGresult *r = co_pg_exec(pg, what, sql, n, p, err);

	if (!r)
		return err ? err->code : CUTOVER_EINTERNAL;
	PQclear(r);
	return CUTOVER_OK;
}

static int load_recorded(co_pg *pg, recorded *rec, cutover_error *err)
{
	PGresult *r;
	bool exists;

	rec->rows = NULL;
	r = co_pg_exec(pg, "migrate: read tracking table",
	               "SELECT to_regclass('cutover.schema_migrations') IS NOT NULL", 0, NULL, err);
	if (!r)
		return err ? err->code : CUTOVER_EINTERNAL;
	exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!exists)
		return CUTOVER_OK;
	rec->rows = co_pg_exec(pg, "migrate: read tracking table",
	                       "SELECT version, checksum, (extract(epoch from applied_at) * 1000000)::int8 "
	                       "FROM cutover.schema_migrations ORDER BY version",
	                       0, NULL, err);
	return rec->rows ? CUTOVER_OK : (err ? err->code : CUTOVER_EINTERNAL);
}

/* Row of a version in the tracking table, or -1. */
static int recorded_row(const recorded *rec, int version)
{
	int i, n = rec->rows ? PQntuples(rec->rows) : 0;

	for (i = 0; i < n; i++)
		if (atoi(PQgetvalue(rec->rows, i, 0)) == version)
			return i;
	return -1;
}

static int checksum(co_pg *pg, const co_migration *m, char out[65], cutover_error *err)
{
	const char *params[1] = { m->sql };
	PGresult *r = co_pg_exec(pg, "migrate: checksum", CHECKSUM_SQL, 1, params, err);

	if (!r)
		return err ? err->code : CUTOVER_EINTERNAL;
	snprintf(out, 65, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return CUTOVER_OK;
}

/* Classify every embedded migration against the tracking table. */
static int classify(co_pg *pg, const recorded *rec, co_mig_status *out, cutover_error *err)
{
	size_t i;

	for (i = 0; i < co_migrations_count; i++) {
		const co_migration *m = &co_migrations[i];
		char sum[65];
		int row = recorded_row(rec, m->version);
		int rc;

		out[i].version = m->version;
		out[i].name = m->name;
		out[i].state = CO_MIG_PENDING;
		out[i].applied_at[0] = '\0';
		if (row < 0)
			continue;
		rc = checksum(pg, m, sum, err);
		if (rc)
			return rc;
		out[i].state = strcmp(sum, PQgetvalue(rec->rows, row, 1)) == 0 ? CO_MIG_APPLIED : CO_MIG_CHANGED;
		if (!PQgetisnull(rec->rows, row, 2)) {
			cutover_ts at = strtoll(PQgetvalue(rec->rows, row, 2), NULL, 10);
			cutover_ts_format(at, out[i].applied_at, sizeof out[i].applied_at);
		}
	}
	return CUTOVER_OK;
}

int co_pg_migrate_status(co_pg *pg, co_mig_status *out, cutover_error *err)
{
	recorded rec;
	int rc;

	if (!out && co_migrations_count > 0)
		return co_err(err, CUTOVER_EINTERNAL, "migrate status: no room for the result");
	rc = load_recorded(pg, &rec, err);
	if (!rc)
		rc = classify(pg, &rec, out, err);
	PQclear(rec.rows);
	return rc;
}

/* 1-based line of a 1-based character position in text (UTF-8 aware). */
static int line_of(const char *text, long pos)
{
	int line = 1;
	long ch = 0;
	const unsigned char *p;

	for (p = (const unsigned char *)text; *p && ch < pos - 1; p++) {
		if ((*p & 0xC0) == 0x80)
			continue; /* continuation byte: same character */
		if (*p == '\n')
			line++;
		ch++;
	}
	return line;
}

static int apply_one(co_pg *pg, PGconn *c, const co_migration *m, FILE *log, cutover_error *err)
{
	char version[16], sum[65];
	const char *params[3];
	PGresult *r;
	ExecStatusType st;
	int rc;

	rc = checksum(pg, m, sum, err);
	if (rc)
		goto fail;
	rc = exec_cmd(pg, "migrate: begin", "BEGIN", 0, NULL, err);
	if (rc)
		goto fail;

	/* The file's own text: a constant of ours, possibly many statements. */
	r = PQexec(c, m->sql);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		const char *posf = r ? PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION) : NULL;
		long pos = posf ? atol(posf) : 0;
		rc = co_pg_fail(err, c, r, "migrate");
		PQclear(r);
		if (pos > 0)
			co_err_detail(err, "in %s, line %d", m->name, line_of(m->sql, pos));
		else
			co_err_detail(err, "in %s", m->name);
		goto fail;
	}
	PQclear(r);

	snprintf(version, sizeof version, "%d", m->version);
	params[0] = version;
	params[1] = m->name;
	params[2] = sum;
	rc = exec_cmd(pg, "migrate: record",
	              "INSERT INTO cutover.schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)",
	              3, params, err);
	if (rc)
		goto fail_named;
	rc = exec_cmd(pg, "migrate: commit", "COMMIT", 0, NULL, err);
	if (rc)
		goto fail_named;
	if (log) {
		fprintf(log, "applied %s\n", m->name);
		fflush(log);
	}
	return CUTOVER_OK;

fail_named:
	co_err_detail(err, "in %s", m->name);
fail:
	quiet_rollback(c);
	return rc;
}

/* Take the migration lock, saying so when someone else holds it. */
static int lock_migrations(co_pg *pg, FILE *log, cutover_error *err)
{
	PGresult *r = co_pg_exec(pg, "migrate: lock", "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")", 0,
	                         NULL, err);
	bool got;

	if (!r)
		return err ? err->code : CUTOVER_EINTERNAL;
	got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!got) {
		if (log) {
			fprintf(log, "waiting for another cutover migrate to finish\n");
			fflush(log);
		}
		int rc = exec_cmd(pg, "migrate: lock", "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, err);
		if (rc)
			return rc;
	}
	/* a reset would drop the lock and the migration would go on without it */
	co_pg_hold_session(pg);
	return CUTOVER_OK;
}

int co_pg_migrate(co_pg *pg, int *applied, FILE *log, cutover_error *err)
{
	cutover_error local;
	recorded rec = { NULL };
	co_mig_status *st = NULL;
	PGconn *c;
	size_t i;
	int rc, done = 0;

	if (!err) {
		memset(&local, 0, sizeof local);
		err = &local;
	}
	if (applied)
		*applied = 0;
	c = co_pg_conn(pg, err);
	if (!c)
		return err->code;
	rc = lock_migrations(pg, log, err);
	if (rc)
		return rc;

	rc = exec_cmd(pg, "migrate: create tracking table", "CREATE SCHEMA IF NOT EXISTS cutover", 0, NULL, err);
	if (!rc)
		rc = exec_cmd(pg, "migrate: create tracking table",
		              "CREATE TABLE IF NOT EXISTS cutover.schema_migrations ("
		              "version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
		              "applied_at timestamptz NOT NULL DEFAULT now())",
		              0, NULL, err);
	if (!rc)
		rc = load_recorded(pg, &rec, err);
	if (!rc) {
		st = calloc(co_migrations_count ? co_migrations_count : 1, sizeof *st);
		rc = st ? classify(pg, &rec, st, err) : co_err_oom(err);
	}
	/* Every applied file must be unchanged before anything new runs. */
	for (i = 0; !rc && i < co_migrations_count; i++) {
		if (st[i].state != CO_MIG_CHANGED)
			continue;
		rc = co_err(err, CUTOVER_ESTATE, "migrate: %s changed since it was applied", st[i].name);
		co_err_detail(err, "in %s: its checksum differs from the one recorded in cutover.schema_migrations",
		              st[i].name);
		co_err_hint(err, "restore the file as it was applied and put the change in a new numbered migration");
	}
	for (i = 0; !rc && i < co_migrations_count; i++) {
		if (st[i].state != CO_MIG_PENDING)
			continue;
		rc = apply_one(pg, c, &co_migrations[i], log, err);
		if (!rc)
			done++;
	}

	quiet_rollback(c);
	quiet_exec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")");
	PQclear(rec.rows);
	free(st);
	if (applied)
		*applied = done;
	return rc;
}

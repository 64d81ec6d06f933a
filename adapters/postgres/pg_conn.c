/* pg_conn.c — one libpq connection, its recovery, and SQLSTATE → cutover codes.
 *
 * co_pg wraps a single blocking PGconn. co_pg_connect adds connect_timeout=5
 * (unless the conninfo or PGCONNECT_TIMEOUT names one) and pins the session
 * to UTC. Nothing retries a failed statement: when the link drops mid-call
 * the call fails with CUTOVER_EUNAVAILABLE, and the next co_pg_conn resets
 * the connection once (re-pinning UTC, and running the handle's session
 * hook again: co_pg_set_session_hook), so a restarted server is picked up
 * without reopening the handle. A connection that sat idle while the server
 * went away (a restart, a terminated backend) still looks fine to libpq
 * until it is used; so before handing out an idle connection (no
 * transaction open) co_pg_conn polls its socket without waiting, and when
 * the server has closed it, resets it first: the next statement is not sent
 * down a dead connection (nothing was sent, so nothing is retried). After a
 * failed attempt (at a deferred open
 * or a reset) calls fail fast with the same error for 2 seconds without a
 * new attempt, so an unreachable server does not add connect_timeout to
 * every call of a dual stage.
 *
 * Only handles without session state reset that way. One that holds a
 * session advisory lock or temp tables (the backfill and migrate locks, the
 * staging tables, export's temp table) says so with co_pg_hold_session:
 * a reset would drop them silently and the run would go on without its
 * lock, so its connection is never reset; once lost, every call fails with
 * CUTOVER_EUNAVAILABLE ("the run stopped: run it again").
 *
 * co_pg_fail is the one place that turns a failed PGresult into a
 * cutover_error. It copies the SQLSTATE and the primary message but never
 * the DETAIL, which quotes row values (a duplicate token hash, a password
 * hash in a failing row); the constraint name goes there instead. A conninfo
 * is never printed: connection errors name the server through PQhost/PQport/
 * PQdb/PQuser, which carry no password, and a conninfo libpq cannot parse is
 * reported without libpq's message, since that may quote a password.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "pg.h"

/* After a failed connection attempt, calls fail at once for this long
 * instead of each waiting out connect_timeout on an unreachable server. */
#define RETRY_AFTER_NS 2000000000LL

struct co_pg {
	bool holds_session;   /* session state lives on it: never reset (co_pg_hold_session) */
	PGconn *conn;
	int64_t retry_at;     /* CLOCK_MONOTONIC ns before which no new attempt is made; 0: none pending */
	cutover_error failed; /* why the last attempt failed, repeated while waiting */
	/* the session hook (co_pg_set_session_hook) */
	co_pg_session_hook hook;
	void *hook_arg;
	void (*hook_release)(void *arg);
	bool hook_due;        /* it has not run (successfully) on this session yet */
	bool hook_fresh;      /* the session is new since the hook last ran */
	bool in_hook;         /* it is running: its statements get the connection as it is */
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Remember a failed attempt (err says why) and start the quiet period. */
static void note_failed_attempt(co_pg *pg, const cutover_error *err)
{
	pg->retry_at = mono_ns() + RETRY_AFTER_NS;
	if (err)
		pg->failed = *err;
	else
		co_err(&pg->failed, CUTOVER_EUNAVAILABLE, "postgres unavailable");
}

/* Copy src into dst as one line: newlines and tabs become single spaces,
 * trailing blanks go. */
static void one_line(char *dst, size_t len, const char *src)
{
	size_t o = 0;
	bool space = false;

	if (len == 0)
		return;
	for (; src && *src && o + 1 < len; src++) {
		char ch = *src;
		if (ch == '\n' || ch == '\t' || ch == '\r' || ch == ' ') {
			space = o > 0;
			continue;
		}
		if (space) {
			if (o + 2 >= len)
				break;
			dst[o++] = ' ';
			space = false;
		}
		dst[o++] = ch;
	}
	dst[o] = '\0';
}

/* Prefix err->message with "what: " (truncating the end if need be). */
void co_pg_prefix_error(cutover_error *err, const char *what)
{
	size_t cap = sizeof err->message, wl, ml;

	if (!err || !what || !*what)
		return;
	wl = strlen(what);
	if (wl + 2 >= cap)
		return;
	ml = strlen(err->message);
	if (wl + 2 + ml >= cap)
		ml = cap - wl - 3;
	memmove(err->message + wl + 2, err->message, ml);
	err->message[wl + 2 + ml] = '\0';
	memcpy(err->message, what, wl);
	memcpy(err->message + wl, ": ", 2);
}

/* Which server a connection is (or was trying to be) talking to. */
static void describe_server(PGconn *c, char *buf, size_t len)
{
	const char *host = c ? PQhost(c) : NULL;
	const char *port = c ? PQport(c) : NULL;
	const char *db = c ? PQdb(c) : NULL;
	const char *user = c ? PQuser(c) : NULL;

	snprintf(buf, len, "server: host=%s port=%s dbname=%s user=%s",
	         host && *host ? host : "(default)", port && *port ? port : "(default)",
	         db && *db ? db : "(default)", user && *user ? user : "(default)");
}

static int fail_unreachable(cutover_error *err, PGconn *c, const char *what)
{
	char msg[400], server[400];

	one_line(msg, sizeof msg, c ? PQerrorMessage(c) : "out of memory");
	if (!*msg)
		snprintf(msg, sizeof msg, "connection failed");
	describe_server(c, server, sizeof server);
	cutover_error_clear(err);
	co_err(err, CUTOVER_EUNAVAILABLE, "%s: postgres unavailable: %s", what, msg);
	co_err_detail(err, "%s", server);
	co_err_hint(err, "check that the server is running and reachable, and DATABASE_URL or the PG* variables");
	return CUTOVER_EUNAVAILABLE;
}

/* Server notices: drop NOTICE and below (IF NOT EXISTS chatter), pass
 * warnings to the log. Primary messages carry no row values. */
static void on_notice(void *arg, const PGresult *r)
{
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	if (sev && strcmp(sev, "WARNING") == 0 && msg)
		co_log("postgres: warning: %s", msg);
}

/* What every fresh or reset session needs. */
static int session_setup(PGconn *c, cutover_error *err)
{
	PGresult *r = PQexec(c, "SET TimeZone = 'UTC'");
	int rc = CUTOVER_OK;

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = co_pg_fail(err, c, r, "connect to postgres: set time zone");
	PQclear(r);
	return rc;
}

/* Does the conninfo name connect_timeout itself? A plain database name is
 * not a conninfo; anything else must parse, or we refuse it here (libpq's
 * parse errors can quote the offending value, password included). */
static int conninfo_check(const char *conninfo, bool *has_timeout, cutover_error *err)
{
	PQconninfoOption *opts, *o;
	char *msg = NULL;

	*has_timeout = false;
	if (!conninfo || !*conninfo)
		return CUTOVER_OK;
	if (!strchr(conninfo, '=') && strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strncmp(conninfo, "postgres://", 11) != 0)
		return CUTOVER_OK;
	opts = PQconninfoParse(conninfo, &msg);
	if (!opts) {
		if (!msg)
			return co_err_oom(err);
		PQfreemem(msg);
		co_err(err, CUTOVER_ECONFIG, "connect to postgres: the connection string cannot be parsed");
		co_err_hint(err, "use a postgresql://user@host:port/dbname URL or key=value pairs "
		                 "(percent-encode special characters in a URL)");
		return CUTOVER_ECONFIG;
	}
	for (o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val)
			*has_timeout = true;
	PQconninfoFree(opts);
	return CUTOVER_OK;
}

static int connect_impl(co_pg **out, const char *conninfo, bool *reachable, cutover_error *err)
{
	const char *keys[4], *vals[4];
	bool has_timeout;
	const char *env_timeout = getenv("PGCONNECT_TIMEOUT");
	co_pg *pg;
	int k = 0, rc;

	if (!out)
		return co_err(err, CUTOVER_EINTERNAL, "connect to postgres: no out parameter");
	*out = NULL;
	rc = conninfo_check(conninfo, &has_timeout, err);
	if (rc)
		return rc;

	/* Entries before dbname can be overridden by the expanded conninfo. */
	keys[k] = "fallback_application_name";
	vals[k++] = "cutover";
	if (!has_timeout && !(env_timeout && *env_timeout)) {
		keys[k] = "connect_timeout";
		vals[k++] = "5";
	}
	keys[k] = "dbname";
	vals[k++] = conninfo ? conninfo : "";
	keys[k] = NULL;
	vals[k] = NULL;

	pg = calloc(1, sizeof *pg);
	if (!pg)
		return co_err_oom(err);
	pg->conn = PQconnectdbParams(keys, vals, 1);
	if (!pg->conn) {
		free(pg);
		return co_err_oom(err);
	}
	PQsetNoticeReceiver(pg->conn, on_notice, NULL);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		rc = fail_unreachable(err, pg->conn, "connect to postgres");
		if (reachable) {
			/* deferred: keep the handle; co_pg_conn resets it on first use */
			note_failed_attempt(pg, err);
			*reachable = false;
			*out = pg;
			return CUTOVER_OK;
		}
		co_pg_close(pg);
		return rc;
	}
	if (reachable)
		*reachable = true;
	rc = session_setup(pg->conn, err);
	if (rc) {
		co_pg_close(pg);
		return rc;
	}
	*out = pg;
	return CUTOVER_OK;
}

int co_pg_connect(co_pg **out, const char *conninfo, cutover_error *err)
{
	return connect_impl(out, conninfo, NULL, err);
}

int co_pg_connect_deferred(co_pg **out, const char *conninfo, bool *reachable, cutover_error *err)
{
	return connect_impl(out, conninfo, reachable, err);
}

void co_pg_close(co_pg *pg)
{
	if (!pg)
		return;
	if (pg->conn)
		PQfinish(pg->conn);
	if (pg->hook_release)
		pg->hook_release(pg->hook_arg);
	free(pg);
}

/* Run the session hook when it is due; the connection, or NULL when the
 * hook failed (nothing else is sent on the connection then). */
static PGconn *run_hook(co_pg *pg, cutover_error *err)
{
	if (!pg->hook || !pg->hook_due)
		return pg->conn;
	cutover_error e;
	cutover_error_clear(&e);
	pg->in_hook = true;
	int rc = pg->hook(pg, pg->hook_fresh, pg->hook_arg, &e);
	pg->in_hook = false;
	if (rc != CUTOVER_OK) {
		if (err)
			*err = e;
		return NULL;
	}
	pg->hook_due = false;
	pg->hook_fresh = false;
	return pg->conn;
}

int co_pg_set_session_hook(co_pg *pg, co_pg_session_hook fn, void *arg, void (*release)(void *arg),
			   cutover_error *err)
{
	if (pg->hook_release)
		pg->hook_release(pg->hook_arg);
	pg->hook = fn;
	pg->hook_arg = arg;
	pg->hook_release = release;
	pg->hook_due = fn != NULL;
	pg->hook_fresh = true;
	cutover_error scratch;
	if (!err)
		err = &scratch;
	return co_pg_conn(pg, err) ? CUTOVER_OK : err->code;
}

/* Has the server closed an idle connection? Something to read on an idle
 * connection is a notice or the end of it: read it without waiting and see
 * whether libpq now counts the connection lost. */
static bool closed_by_server(PGconn *c)
{
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return false;
	/* a shutting-down server sends its FATAL message, then closes: the
	 * first read takes the message, a later one finds the end */
	for (int reads = 0; reads < 8; reads++) {
		struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(c))
			return true;
		PGnotify *n;
		while ((n = PQnotifies(c)) != NULL)
			PQfreemem(n);
		if (PQstatus(c) != CONNECTION_OK)
			return true;
	}
	return PQstatus(c) != CONNECTION_OK;
}

void co_pg_hold_session(co_pg *pg)
{
	if (pg)
		pg->holds_session = true;
}

/* A handle holding session state whose connection is gone: the lock or the
 * temp tables went with it, so it is not reset; the run must stop. */
static bool session_lost(co_pg *pg, cutover_error *err)
{
	if (!pg || !pg->conn || !pg->holds_session)
		return false;
	if (PQstatus(pg->conn) == CONNECTION_OK && !closed_by_server(pg->conn))
		return false;
	cutover_error_clear(err);
	co_err(err, CUTOVER_EUNAVAILABLE, "connection to postgres lost; the run stopped: run it again");
	co_err_detail(err, "the session held a lock or temp tables that a new connection would not have, so it is "
			   "not reconnected");
	co_err_hint(err, "check that the server is running, then run the same command again");
	return true;
}

PGconn *co_pg_conn(co_pg *pg, cutover_error *err)
{
	if (session_lost(pg, err))
		return NULL;
	if (!pg || !pg->conn) {
		co_err(err, CUTOVER_EINTERNAL, "postgres: no connection handle");
		return NULL;
	}
	if (pg->in_hook)
		return pg->conn;
	if (PQstatus(pg->conn) == CONNECTION_OK && !closed_by_server(pg->conn))
		return run_hook(pg, err);
	if (pg->retry_at && mono_ns() < pg->retry_at) {
		/* fail fast: the last attempt failed moments ago */
		if (err) {
			char why[sizeof err->message];
			*err = pg->failed; /* its detail (the server) and hint still hold */
			snprintf(why, sizeof why, "%s", pg->failed.message);
			snprintf(err->message, sizeof err->message, "%.380s (not retried: the last attempt failed under 2s ago)", why);
		}
		return NULL;
	}
	/* a new session: whatever the hook set up on the old one is gone */
	pg->hook_due = pg->hook != NULL;
	pg->hook_fresh = true;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		cutover_error e;
		fail_unreachable(&e, pg->conn, "reconnect to postgres");
		note_failed_attempt(pg, &e);
		if (err)
			*err = e;
		return NULL;
	}
	pg->retry_at = 0;
	if (session_setup(pg->conn, err) != CUTOVER_OK)
		return NULL;
	return run_hook(pg, err);
}

static bool sqlstate_is(const char *st, const char *prefix)
{
	return st && strncmp(st, prefix, strlen(prefix)) == 0;
}

int co_pg_fail(cutover_error *err, PGconn *c, const PGresult *r, const char *what)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *pghint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *cons = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
	const char *schema = r ? PQresultErrorField(r, PG_DIAG_SCHEMA_NAME) : NULL;
	const char *table = r ? PQresultErrorField(r, PG_DIAG_TABLE_NAME) : NULL;
	const char *column = r ? PQresultErrorField(r, PG_DIAG_COLUMN_NAME) : NULL;
	bool lost = c && PQstatus(c) != CONNECTION_OK;
	char msg[400];
	int code;

	if (!what)
		what = "postgres";
	if (primary)
		one_line(msg, sizeof msg, primary);
	else if (r && *PQresultErrorMessage(r))
		one_line(msg, sizeof msg, PQresultErrorMessage(r));
	else if (c && *PQerrorMessage(c))
		one_line(msg, sizeof msg, PQerrorMessage(c));
	else if (!r)
		snprintf(msg, sizeof msg, "out of memory");
	else
		snprintf(msg, sizeof msg, "unexpected result %s", PQresStatus(PQresultStatus(r)));

	if (sqlstate_is(st, "23505"))
		code = CUTOVER_ECONFLICT;
	else if (sqlstate_is(st, "23503") || sqlstate_is(st, "23514") || sqlstate_is(st, "23502") ||
	         sqlstate_is(st, "22"))
		code = CUTOVER_EINVALID;
	else if (sqlstate_is(st, "08") || sqlstate_is(st, "57P0") || (!st && lost))
		code = CUTOVER_EUNAVAILABLE;
	else if (sqlstate_is(st, "42P01") || sqlstate_is(st, "3F000"))
		code = CUTOVER_ESTATE;
	else
		code = CUTOVER_EINTERNAL;

	cutover_error_clear(err); /* no sqlstate, detail or hint left from before */
	/* An unavailable server is named as such whatever libpq read: a closed
	 * socket (no SQLSTATE), or the server's own FATAL on its way down
	 * (57P01 "terminating connection due to administrator command"). */
	if (code == CUTOVER_EUNAVAILABLE && (!st || lost))
		co_err(err, code, "%s: connection to postgres lost: %s", what, msg);
	else if (code == CUTOVER_EUNAVAILABLE)
		co_err(err, code, "%s: postgres unavailable: %s", what, msg);
	else
		co_err(err, code, "%s: %s", what, msg);
	if (!err)
		return code;

	if (st)
		snprintf(err->sqlstate, sizeof err->sqlstate, "%s", st);
	if (cons && table)
		co_err_detail(err, "constraint %s on %s%s%s", cons, schema ? schema : "", schema ? "." : "", table);
	else if (cons)
		co_err_detail(err, "constraint %s", cons);
	else if (column && table)
		co_err_detail(err, "column %s of %s%s%s", column, schema ? schema : "", schema ? "." : "", table);

	if (code == CUTOVER_ESTATE)
		co_err_hint(err, "the schema is missing or out of date; run: cutover migrate");
	else if (code == CUTOVER_EUNAVAILABLE)
		co_err_hint(err, "check that the server is running; the next call reconnects");
	else if (pghint && code != CUTOVER_ECONFLICT && code != CUTOVER_EINVALID)
		co_err_hint(err, "%s", pghint);
	return code;
}

PGresult *co_pg_exec(co_pg *pg, const char *what, const char *sql, int nparams, const char *const *params,
                     cutover_error *err)
{
	PGconn *c = co_pg_conn(pg, err);
	PGresult *r;
	ExecStatusType st;

	if (!c) {
		co_pg_prefix_error(err, what);
		return NULL;
	}
	r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return r;
	co_pg_fail(err, c, r, what);
	if (err && err->code == CUTOVER_EUNAVAILABLE && pg->holds_session)
		co_err_hint(err, "the session's lock or temp tables are gone with it: check that the server is "
				 "running, then run the same command again");
	PQclear(r);
	return NULL;
}

/* Say what clashed in words, from the constraint Postgres named (co_pg_fail
 * puts it in err->detail as "constraint NAME[ on TABLE]"). */
static void explain_constraint(cutover_error *err, const co_pg_constraints *cs, const char *what, int64_t id)
{
	if (!cs || strncmp(err->sqlstate, "23", 2) != 0 || strncmp(err->detail, "constraint ", 11) != 0)
		return;
	const char *name = err->detail + 11;
	size_t n = strcspn(name, " ");
	for (size_t i = 0; i < cs->n; i++) {
		const char *says = cs->items[i].says;
		if (strlen(cs->items[i].name) != n || strncmp(name, cs->items[i].name, n) != 0)
			continue;
		const char *at = strstr(says, "{id}");
		char msg[256];
		if (at)
			snprintf(msg, sizeof(msg), "%.*s%lld%s", (int)(at - says), says, (long long)id, at + 4);
		else
			snprintf(msg, sizeof(msg), "%s", says);
		snprintf(err->message, sizeof(err->message), "%s: %s", what, msg);
		return;
	}
}

PGresult *co_pg_run(co_pg *pg, const co_pg_constraints *cs, const char *what, const char *sql, int nparams,
		    const char *const *params, int64_t id, cutover_error *err)
{
	PGresult *r = co_pg_exec(pg, what, sql, nparams, params, err);
	if (!r)
		explain_constraint(err, cs, what, id);
	return r;
}

int co_pg_run_cmd(co_pg *pg, const co_pg_constraints *cs, const char *what, const char *sql, int nparams,
		  const char *const *params, int64_t id, cutover_error *err)
{
	PGresult *r = co_pg_run(pg, cs, what, sql, nparams, params, id, err);
	if (!r)
		return err->code;
	PQclear(r);
	return CUTOVER_OK;
}

bool co_pg_json_add_int(cJSON *o, const char *name, int64_t v)
{
	char text[24];
	snprintf(text, sizeof text, "%lld", (long long)v);
	return cJSON_AddRawToObject(o, name, text) != NULL;
}

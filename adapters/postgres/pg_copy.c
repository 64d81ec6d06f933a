/* pg_copy.c — COPY text encoding and the COPY FROM STDIN exchange. */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "pg_copy.h"

static void sep(co_buf *b, bool first)
{
	if (!first)
		co_buf_put(b, "\t", 1);
}

void co_copy_text(co_buf *b, bool first, const char *v)
{
	sep(b, first);
	if (!v) {
		co_buf_put(b, "\\N", 2);
		return;
	}
	const char *run = v;
	for (const char *p = v; *p; p++) {
		const char *esc = NULL;
		switch (*p) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: continue;
		}
		co_buf_put(b, run, (size_t)(p - run));
		co_buf_put(b, esc, 2);
		run = p + 1;
	}
	co_buf_puts(b, run);
}

void co_copy_int(co_buf *b, bool first, int64_t v)
{
	char n[24];
	sep(b, first);
	int len = snprintf(n, sizeof(n), "%" PRId64, v);
	co_buf_put(b, n, (size_t)len);
}

void co_copy_bool(co_buf *b, bool first, bool v)
{
	sep(b, first);
	co_buf_put(b, v ? "t" : "f", 1);
}

void co_copy_ts(co_buf *b, bool first, cutover_ts v)
{
	if (v == CUTOVER_TS_NULL) {
		co_copy_text(b, first, NULL);
		return;
	}
	char t[40];
	co_copy_text(b, first, cutover_ts_format(v, t, sizeof(t)));
}

void co_copy_end_row(co_buf *b)
{
	co_buf_put(b, "\n", 1);
}

int co_pg_copy_send(co_pg *pg, const char *what, const char *copy_sql, const char *data, size_t len, cutover_error *err)
{
	PGconn *c = co_pg_conn(pg, err);
	if (!c) {
		co_pg_prefix_error(err, what);
		return err ? err->code : CUTOVER_EUNAVAILABLE;
	}
	PGresult *r = PQexec(c, copy_sql);
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		int rc = co_pg_fail(err, c, r, what);
		PQclear(r);
		return rc;
	}
	PQclear(r);
	PQsetnonblocking(c, 1);
	/* nonblocking: libpq queues what the socket cannot take yet */
	bool ok = PQputCopyData(c, data, (int)len) == 1;
	for (int tries = 0; ok && PQputCopyEnd(c, NULL) == 0 && tries < 1000; tries++)
		co_pg_copy_pump(pg);
	if (!ok)
		PQputCopyEnd(c, "client could not queue the data");
	co_pg_copy_pump(pg);
	return CUTOVER_OK;
}

void co_pg_copy_pump(co_pg *pg)
{
	cutover_error ignore;
	PGconn *c = co_pg_conn(pg, &ignore);
	if (c && PQisnonblocking(c))
		PQflush(c);
}

int co_pg_copy_collect(co_pg *pg, const char *what, cutover_error *err)
{
	PGconn *c = co_pg_conn(pg, err);
	if (!c) {
		co_pg_prefix_error(err, what);
		return err ? err->code : CUTOVER_EUNAVAILABLE;
	}
	/* push out what is still queued, waiting for the socket as needed */
	int f;
	while ((f = PQflush(c)) == 1) {
		struct pollfd p = {.fd = PQsocket(c), .events = POLLOUT | POLLIN};
		poll(&p, 1, 1000);
		if (p.revents & POLLIN)
			PQconsumeInput(c);
	}
	PQsetnonblocking(c, 0);
	int rc = CUTOVER_OK;
	PGresult *r;
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == CUTOVER_OK)
			rc = co_pg_fail(err, c, r, what);
		PQclear(r);
	}
	if (f < 0 && rc == CUTOVER_OK)
		rc = co_pg_fail(err, c, NULL, what);
	return rc;
}

int co_pg_copy(co_pg *pg, const char *what, const char *copy_sql, const char *data, size_t len, cutover_error *err)
{
	int rc = co_pg_copy_send(pg, what, copy_sql, data, len, err);
	return rc ? rc : co_pg_copy_collect(pg, what, err);
}

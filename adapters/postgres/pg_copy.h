/* pg_copy.h — rows in COPY text format, and sending them.
 *
 * The batch loader builds each batch as COPY text (tab-separated, \N for
 * NULL, backslash escapes) in a co_buf and streams it with one COPY ... FROM
 * STDIN: values never touch SQL text, and COPY is the fastest way in.
 */
#ifndef CUTOVER_PG_COPY_H
#define CUTOVER_PG_COPY_H

#include "pg.h"

/* Field appenders: each starts a new field (a tab before all but the first
 * of a row); co_copy_end_row ends the row. */
void co_copy_text(co_buf *b, bool first, const char *v);  /* NULL -> \N */
void co_copy_int(co_buf *b, bool first, int64_t v);
void co_copy_bool(co_buf *b, bool first, bool v);
void co_copy_ts(co_buf *b, bool first, cutover_ts v);     /* CUTOVER_TS_NULL -> \N */
void co_copy_end_row(co_buf *b);

/* Run `copy_sql` (a constant "COPY t (cols) FROM STDIN") and send data. On
 * failure err is set from the server's answer (SQLSTATE, constraint). */
int co_pg_copy(co_pg *pg, const char *what, const char *copy_sql, const char *data, size_t len, cutover_error *err);

/* Asynchronous COPY: start it and queue all of data without waiting for the
 * server (the connection is nonblocking until co_pg_copy_collect). Call
 * co_pg_copy_pump now and then while doing other work so the data keeps
 * flowing; co_pg_copy_collect waits for the server's answer. Nothing else
 * may use the connection in between. */
int co_pg_copy_send(co_pg *pg, const char *what, const char *copy_sql, const char *data, size_t len, cutover_error *err);
void co_pg_copy_pump(co_pg *pg);
int co_pg_copy_collect(co_pg *pg, const char *what, cutover_error *err);

#endif

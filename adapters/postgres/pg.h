/* pg.h — the postgres adapter's internal interface (not installed).
 *
 * One connection wrapper (reconnects when the server came back, maps
 * SQLSTATEs onto cutover codes), the embedded numbered migrations and their
 * runner, the sequence health check, and the identity backend constructor.
 * Every value reaches SQL as a parameter; SQL text is constant.
 */
#ifndef CUTOVER_PG_H
#define CUTOVER_PG_H

#include <stdio.h>
#include <libpq-fe.h>
#include "co.h"

typedef struct co_pg co_pg;

/* conninfo: URL or key=value ("" or NULL = libpq defaults / PG* env).
 * Adds connect_timeout=5 unless given. Sets TimeZone=UTC for the session. */
int co_pg_connect(co_pg **out, const char *conninfo, cutover_error *err);
/* Like co_pg_connect, but an unreachable server is not an error: the handle
 * is returned with *reachable false (err says why) and reconnects on first
 * use. For stages where Postgres is not authoritative, so an app can start
 * while it is down and journal its second writes. */
int co_pg_connect_deferred(co_pg **out, const char *conninfo, bool *reachable, cutover_error *err);
void co_pg_close(co_pg *pg);
/* The live connection; tries PQreset first when the link was lost.
 * NULL (and err set, CUTOVER_EUNAVAILABLE) when the server cannot be reached.
 * For 2 seconds after a failed attempt it fails at once, without trying. */
PGconn *co_pg_conn(co_pg *pg, cutover_error *err);
/* What a handle needs on every session it uses, done again on each new one
 * (the postgres stage: its shared advisory lock and its record, flags.c).
 * fresh: the session is new since the hook last succeeded (the first run,
 * or after a reset), so what it set up on a session is gone. The hook's own
 * statements (co_pg_exec on pg) run on the connection as it is. */
typedef int (*co_pg_session_hook)(co_pg *pg, bool fresh, void *arg, cutover_error *err);
/* Install the hook (arg is released with release, may be NULL, when the
 * handle is closed or the hook replaced) and run it now. From then on
 * co_pg_conn runs it before handing out a connection on which it has not
 * yet succeeded: after a reset, or after it failed. While it fails,
 * co_pg_conn fails with its error and nothing else is sent. */
int co_pg_set_session_hook(co_pg *pg, co_pg_session_hook fn, void *arg, void (*release)(void *arg),
			   cutover_error *err);
/* Fill err from a failed result: code from the SQLSTATE class
 * (23505 conflict, 23503/23514/22xxx invalid, 08xxx/57Pxx unavailable,
 * 42P01 state "schema missing: run cutover migrate"), sqlstate, message. */
int co_pg_fail(cutover_error *err, PGconn *c, const PGresult *r, const char *what);
/* Put "what: " before err->message (the end is cut if need be). */
void co_pg_prefix_error(cutover_error *err, const char *what);
/* PQexecParams with text params; returns the result or NULL with err set
 * (result status must be COMMAND_OK or TUPLES_OK). */
PGresult *co_pg_exec(co_pg *pg, const char *what, const char *sql, int nparams, const char *const *params, cutover_error *err);
/* The handle now holds session state (a session advisory lock, temp
 * tables): from here on a connection the server closed is never reset (the
 * lock or tables would be silently gone): co_pg_conn fails with
 * CUTOVER_EUNAVAILABLE "connection to postgres lost; the run stopped: run
 * it again", on every later call. Call it once the lock or tables are
 * taken. App store handles do not, and reset silently. */
void co_pg_hold_session(co_pg *pg);

/* What a domain's constraints mean, in words, for error messages: the
 * constraint's name and the sentence; "{id}" in it (at most once) stands
 * for the id the statement was about. */
typedef struct co_pg_constraint {
	const char *name;
	const char *says;
} co_pg_constraint;
typedef struct co_pg_constraints {
	const co_pg_constraint *items;
	size_t n;
} co_pg_constraints;
/* co_pg_exec; when an integrity constraint (SQLSTATE class 23) that cs
 * knows refused the statement, err->message becomes "what: <its sentence>". */
PGresult *co_pg_run(co_pg *pg, const co_pg_constraints *cs, const char *what, const char *sql, int nparams,
		    const char *const *params, int64_t id, cutover_error *err);
/* The same for a statement whose rows are not needed; returns the code. */
int co_pg_run_cmd(co_pg *pg, const co_pg_constraints *cs, const char *what, const char *sql, int nparams,
		  const char *const *params, int64_t id, cutover_error *err);

/* --- migrations (adapters/postgres/pg_migrate.c) --- */
typedef struct co_migration {
	int version;
	const char *name;  /* file name, e.g. "0001_identity.sql" */
	const char *sql;
} co_migration;
extern const co_migration co_migrations[];
extern const size_t co_migrations_count;

typedef enum co_mig_state { CO_MIG_APPLIED, CO_MIG_PENDING, CO_MIG_CHANGED } co_mig_state;
typedef struct co_mig_status {
	int version;
	const char *name;
	co_mig_state state;
	char applied_at[40]; /* "" when pending */
} co_mig_status;

/* Apply pending migrations in order, each in its own transaction together
 * with its row in cutover.schema_migrations (version, name, checksum = hex
 * sha256 of the file computed by Postgres, applied_at). Serialised across
 * processes by pg_advisory_lock. A migration whose file changed since it was
 * applied stops the run with CUTOVER_ESTATE. Progress lines go to log. */
int co_pg_migrate(co_pg *pg, int *applied, FILE *log, cutover_error *err);
/* out has room for co_migrations_count entries. */
int co_pg_migrate_status(co_pg *pg, co_mig_status *out, cutover_error *err);

/* --- sequences (adapters/postgres/pg_sequences.c) --- */
typedef struct co_seq_health {
	const char *table;    /* "identity.users" */
	const char *sequence; /* "identity.users_id_seq" */
	const char *repair_sql; /* the setval statement (a compile-time constant) */
	int64_t max_id;       /* 0 for an empty table */
	int64_t next_value;   /* what nextval() would hand out */
	bool behind;          /* next_value <= max_id */
} co_seq_health;
/* Health of every id sequence of a domain; *n set to the count (<= cap). */
int co_pg_sequence_health(co_pg *pg, cutover_domain d, co_seq_health *out, size_t cap, size_t *n, cutover_error *err);
/* The repair statement of a table by name ("identity.users"); "" if unknown. */
const char *co_pg_repair_sql(const char *table);
/* The statement that puts a table's sequence just past its max id (empty tables too). */
const char *co_pg_setval_sql(const co_seq_health *h, char *buf, size_t len);

/* Add member name = v to a JSON object as the integer's exact decimal text
 * (a raw member): a batch handed to jsonb_to_recordset must carry ids
 * exactly, and cJSON's printer rounds some 16-digit numbers
 * (9007199254740991 came out as 9007199254740990). False when out of memory. */
struct cJSON;
bool co_pg_json_add_int(struct cJSON *o, const char *name, int64_t v);

/* --- identity backend (adapters/postgres/pg_identity.c) --- */
/* Takes ownership of pg (also on failure). */
int co_pg_identity_new(cutover_identity **out, co_pg *pg, cutover_error *err);
/* Internal, for `cutover reconcile` (not in the op table): every session of
 * user_id, ordered by token hash. s must be a postgres identity handle. */
int co_pg_identity_user_sessions(cutover_identity *s, int64_t user_id, co_session_list *out, cutover_error *err);

#endif
